import { useEffect, useMemo, useRef, useState } from 'react';
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
import type { Actor, TimelineEntry } from '../queries';
import { NoteBox, ReassignControl, SnoozeMenu } from '../components/IncidentDepth';
import { levelTarget, levelText } from './Board';
import { PolicyExtras } from '../components/PolicyExtras';
import { AlertsSection } from '../components/IncidentAlerts';
import { NotificationsSection } from '../components/IncidentNotifications';

/** The kind of a timeline entry as a short label: "Note", "Delivery failed". */
export function kindLabel(k: TimelineEntry['kind']): string {
  return label(k);
}

/** Which dot colour an entry gets. */
const TL_CLASS: Partial<Record<TimelineEntry['kind'], string>> = {
  TRIGGERED: 'triggered',
  RETRIGGERED: 'triggered',
  ESCALATED: 'escalated',
  DELIVERY_FAILED: 'escalated',
  ACKNOWLEDGED: 'acknowledged',
  SNOOZED: 'acknowledged',
  RESOLVED: 'resolved',
  NOTIFIED: 'notified',
  REASSIGNED: 'notified',
  NOTE: 'note',
};

/** The server's timeline, oldest first (stable for equal times). */
export function sortedTimeline(entries: readonly TimelineEntry[]): TimelineEntry[] {
  return entries
    .map((e, n) => [e, n] as const)
    .sort(([a, na], [b, nb]) => Date.parse(a.at) - Date.parse(b.at) || na - nb)
    .map(([e]) => e);
}

export function Timeline({ entries }: { entries: readonly TimelineEntry[] }) {
  if (entries.length === 0) return <p className="empty">Nothing recorded yet.</p>;
  return (
    <ol className="timeline" data-testid="incident-timeline">
      {sortedTimeline(entries).map((t, n) => (
        <li key={`${t.at}-${t.kind}-${n}`} className={`tl tl-${TL_CLASS[t.kind] ?? 'other'}`} data-kind={t.kind}>
          <p className="tl-title">
            <span className={`badge tl-kind kind-${t.kind.toLowerCase()}`}>{kindLabel(t.kind)}</span>{' '}
            <strong className="tl-actor">{actorName(t.actor)}</strong> <Time iso={t.at} style="precise" />
          </p>
          <p className={`tl-detail${t.kind === 'NOTE' ? ' tl-note' : ''}`}>{t.message}</p>
        </li>
      ))}
    </ol>
  );
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
    if (ev.incident.id !== id) return;
    setLive(ev.incident);
    // Someone else's note (or a snooze, reassignment, return to triggered): read it all again.
    // Alerts are not in events: a new alert folded in (alertCount) or a resolution reads them again.
    if (
      ev.kind === 'NOTE_ADDED' ||
      ev.kind === 'REASSIGNED' ||
      ev.kind === 'SNOOZED' ||
      ev.kind === 'RETRIGGERED' ||
      ev.kind === 'RESOLVED' ||
      ev.incident.alertCount !== data?.incident?.alertCount
    )
      reexecute({ requestPolicy: 'network-only' });
  });
  useOnReconnect(() => reexecute({ requestPolicy: 'network-only' }));

  const fetched = data?.incident ?? null;
  const incident = useMemo(
    () => (fetched && live && live.id === fetched.id ? newer(fetched, live) : fetched),
    [fetched, live],
  );
  useDocumentTitle(incident ? incident.title : 'Incident');

  // Notifications are delivered asynchronously: look again shortly while any is pending.
  const pending = incident?.notifications.some((n) => n.status === 'PENDING');
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

      {i.pagingHeld && open && (
        <p className="notice" data-testid="paging-held">
          Paging held: {i.service.name} is in maintenance. Nobody is paged and nothing escalates until it ends.
        </p>
      )}

      {(i.snoozedUntil || i.acknowledgeTimeoutAt) && open && (
        <p className="notice" data-testid="incident-timers">
          {i.snoozedUntil && (
            <span data-testid="snoozed-until">
              Snoozed until <Time iso={i.snoozedUntil} /> (<Age iso={i.snoozedUntil} now={now} />).{' '}
            </span>
          )}
          {i.acknowledgeTimeoutAt && (!i.snoozedUntil || i.acknowledgeTimeoutAt !== i.snoozedUntil) && (
            <span data-testid="ack-timeout">
              Returns to triggered at <Time iso={i.acknowledgeTimeoutAt} /> (<Age iso={i.acknowledgeTimeoutAt} now={now} />).
            </span>
          )}
        </p>
      )}

      {can.respond && (
        <section aria-label="Actions" className="panel">
          <div className="action-bar">
            <IncidentActions incident={i} />
            <SnoozeMenu incident={i} onChanged={setLive} />
          </div>
          <ReassignControl incident={i} onChanged={setLive} />
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
              {i.escalationPolicy.repeat > 0 && `, policy repeats ${i.escalationPolicy.repeat}×`}
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
          <PolicyExtras policy={i.escalationPolicy} />
        </section>

        <section aria-labelledby="timeline-h">
          <h2 id="timeline-h">Timeline</h2>
          <Timeline entries={i.timeline} />
          <NoteBox incidentId={i.id} onAdded={setLive} />
        </section>
      </div>

      <NotificationsSection notifications={i.notifications} />

      <AlertsSection alerts={fetched?.alerts} />
    </>
  );
}
