import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQuery } from 'urql';
import { IncidentQuery, type Incident } from '../queries';
import { useIncidentEvents } from '../events';
import { useDocumentTitle, useNow, useOnReconnect } from '../hooks';
import { label, newer } from '../lib/incident';
import { errorText } from '../lib/errors';
import { formatDuration } from '../lib/time';
import { Link } from '../router';
import { Age, Alert, Loading, SeverityBadge, StateBadge, Time, UserName } from '../components/ui';
import { IncidentActions } from '../components/IncidentActions';
import { useCan } from '../access';
import type { Actor } from '../queries';
import { levelTarget, levelText } from './Board';

export interface TimelineItem {
  key: string;
  at: string;
  kind: 'triggered' | 'escalated' | 'notified' | 'acknowledged' | 'resolved';
  title: string;
  detail?: ReactNode;
}

const RANK: Record<TimelineItem['kind'], number> = {
  triggered: 0,
  escalated: 1,
  notified: 2,
  acknowledged: 3,
  resolved: 4,
};

function levelTimeout(i: Incident, level: number): number | undefined {
  return level === 0 ? i.escalationPolicy.initialTimeoutMs : i.escalationPolicy.escalationLevels[level - 1]?.timeoutMs;
}

/** Everything that happened to an incident, oldest first. */
export function timeline(i: Incident): TimelineItem[] {
  const items: TimelineItem[] = [
    {
      key: 'triggered',
      at: i.triggeredAt,
      kind: 'triggered',
      title: 'Triggered',
      detail: `${label(i.severity)} severity on ${i.service.name}, schedule ${i.schedule.name}${
        i.alertCount > 1 ? `; ${i.alertCount} alerts so far` : ''
      }`,
    },
  ];
  i.escalationHistory.forEach((e, n) => {
    const why =
      e.reason === 'TIMEOUT'
        ? (() => {
            const t = levelTimeout(i, e.fromLevel);
            return t !== undefined ? `not acknowledged within ${formatDuration(t)}` : 'timed out';
          })()
        : e.reason === 'MANUAL'
          ? 'escalated by hand'
          : 'nobody was on call';
    items.push({
      key: `esc-${n}`,
      at: e.at,
      kind: 'escalated',
      title: `Escalated from level ${e.fromLevel} to level ${e.toLevel}`,
      detail: (
        <>
          Escalated by {escalatedBy(e)}. Reason: {why}. Now with <UserName user={e.to} empty="nobody" />.
        </>
      ),
    });
  });
  for (const n of i.notifications) {
    items.push({
      key: `n-${n.id}`,
      at: n.at,
      kind: 'notified',
      title: `Notified ${n.user.name}`,
      detail: `By ${n.channel}, ${n.reason === 'triggered' ? 'on trigger' : n.reason === 'escalated' ? 'on escalation' : n.reason}; ${
        n.delivered ? 'delivered' : 'sending…'
      }`,
    });
  }
  if (i.acknowledgedAt)
    items.push({
      key: 'ack',
      at: i.acknowledgedAt,
      kind: 'acknowledged',
      title: i.acknowledgedBy ? `Acknowledged by ${actorName(i.acknowledgedBy)}` : 'Acknowledged',
    });
  if (i.resolvedAt)
    items.push({
      key: 'res',
      at: i.resolvedAt,
      kind: 'resolved',
      title: i.resolvedBy ? `Resolved by ${actorName(i.resolvedBy)}` : 'Resolved',
    });
  return items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || RANK[a.kind] - RANK[b.kind]);
}

/** "Alice Nguyen", "the API token Deploy bot", "the integration Grafana", "Klaxon". */
export function actorName(a: Actor): string {
  switch (a.kind) {
    case 'USER':
      return a.user?.name ?? a.name;
    case 'API_TOKEN':
      return `the API token ${a.name}`;
    case 'INTEGRATION':
      return `the integration ${a.name}`;
    default:
      return a.name || 'Klaxon';
  }
}

/** Who escalated: "the timer" for an automatic timeout, otherwise the actor. */
export function escalatedBy(e: { actor: Actor; reason: Incident['escalationHistory'][number]['reason'] }): string {
  if (e.actor.kind === 'SYSTEM' && e.reason === 'TIMEOUT') return 'the timer';
  return actorName(e.actor);
}

export function IncidentPage({ id }: { id: string }) {
  const can = useCan();
  const [{ data, fetching, error }, reexecute] = useQuery({ query: IncidentQuery, variables: { id } });
  const [live, setLive] = useState<Incident | null>(null);
  const now = useNow(15_000);
  useIncidentEvents((ev) => {
    if (ev.incident.id === id) setLive(ev.incident);
  });
  useOnReconnect(() => reexecute({ requestPolicy: 'network-only' }));

  const fetched = data?.incident ?? null;
  const incident = useMemo(
    () => (fetched && live && live.id === fetched.id ? newer(fetched, live) : fetched),
    [fetched, live],
  );
  useDocumentTitle(incident ? incident.title : 'Incident');

  // Notifications are delivered asynchronously: look again shortly while any is pending.
  const pending = incident?.notifications.some((n) => !n.delivered);
  const polls = useRef(0);
  useEffect(() => {
    if (!pending || polls.current >= 10) return;
    const t = setTimeout(() => {
      polls.current += 1;
      reexecute({ requestPolicy: 'network-only' });
    }, 1500);
    return () => clearTimeout(t);
  }, [pending, incident, reexecute]);

  if (!incident) {
    return (
      <>
        <p className="crumbs">
          <Link to="/incidents">← Incidents</Link>
        </p>
        <h1 tabIndex={-1}>Incident</h1>
        {fetching ? (
          <Loading what="the incident" />
        ) : error ? (
          <Alert messages={[errorText(error)]} />
        ) : (
          <p>No incident with id {id}. It may have been deleted, or the link is wrong.</p>
        )}
      </>
    );
  }

  const i = incident;
  const levels = i.escalationPolicy.escalationLevels;
  const open = i.state !== 'RESOLVED';
  return (
    <>
      <p className="crumbs">
        <Link to="/incidents">← Incidents</Link>
      </p>
      <div className="page-head">
        <h1 tabIndex={-1}>{i.title}</h1>
        <div className="badges">
          <SeverityBadge severity={i.severity} />
          <StateBadge state={i.state} />
        </div>
      </div>
      {error && <Alert messages={[errorText(error)]} />}

      {can.respond && (
        <section aria-label="Actions" className="panel">
          <IncidentActions incident={i} />
        </section>
      )}

      <div className="two-col">
        <section aria-labelledby="details-h">
          <h2 id="details-h">Details</h2>
          {i.description && <p className="description">{i.description}</p>}
          <dl className="details">
            <dt>Service</dt>
            <dd>{i.service.name}</dd>
            <dt>Schedule</dt>
            <dd>
              <Link to={`/schedules/${encodeURIComponent(i.schedule.id)}`}>{i.schedule.name}</Link>
            </dd>
            <dt>Assigned to</dt>
            <dd>
              <UserName user={i.assignedTo} empty="Nobody to page" />
            </dd>
            <dt>Escalation</dt>
            <dd>
              {levelText(i)}
              {i.nextEscalationAt && (
                <>
                  ; next level <Age iso={i.nextEscalationAt} now={now} />
                </>
              )}
            </dd>
            <dt>Triggered</dt>
            <dd>
              <Time iso={i.triggeredAt} /> (<Age iso={i.triggeredAt} now={now} />)
            </dd>
            {i.acknowledgedAt && (
              <>
                <dt>Acknowledged</dt>
                <dd>
                  <Time iso={i.acknowledgedAt} />
                  {i.acknowledgedBy && <> by {actorName(i.acknowledgedBy)}</>}
                </dd>
              </>
            )}
            {i.resolvedAt && (
              <>
                <dt>Resolved</dt>
                <dd>
                  <Time iso={i.resolvedAt} />
                  {i.resolvedBy && <> by {actorName(i.resolvedBy)}</>}
                </dd>
              </>
            )}
            <dt>Alerts</dt>
            <dd>{i.alertCount}</dd>
            {i.dedupKey && (
              <>
                <dt>Dedup key</dt>
                <dd>
                  <code>{i.dedupKey}</code>
                </dd>
              </>
            )}
          </dl>

          <h3>Escalation policy</h3>
          <ol className="levels" start={0}>
            <li aria-current={open && i.escalationLevel === 0 ? 'step' : undefined}>
              Level 0: whoever is on call; escalates after {formatDuration(i.escalationPolicy.initialTimeoutMs)}
            </li>
            {levels.map((l, n) => (
              <li key={n} aria-current={open && i.escalationLevel === n + 1 ? 'step' : undefined}>
                Level {n + 1}: {levelTarget(l)}
                {n + 1 < levels.length ? `; escalates after ${formatDuration(l.timeoutMs)}` : ' (last level)'}
              </li>
            ))}
          </ol>
        </section>

        <section aria-labelledby="timeline-h">
          <h2 id="timeline-h">Timeline</h2>
          <ol className="timeline">
            {timeline(i).map((t) => (
              <li key={t.key} className={`tl tl-${t.kind}`}>
                <p className="tl-title">
                  <strong>{t.title}</strong> <Time iso={t.at} style="precise" />
                </p>
                {t.detail && <p className="tl-detail">{t.detail}</p>}
              </li>
            ))}
          </ol>
        </section>
      </div>
    </>
  );
}
