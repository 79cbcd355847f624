import { useEffect, useMemo, useRef, useState } from 'react';
import { ctx } from '../lib/context';
import { useQuery } from 'urql';
import { BoardQuery, type IncidentLite, type Policy, type Schedule } from '../queries';
import { useIncidentEvents, useOnCallChanged } from '../events';
import { useDocumentTitle, useInterval, useNow, useOnReconnect, useThrottled } from '../hooks';
import { boardOrder, label, mergeIncidents, pruneSeen } from '../lib/incident';
import { errorText } from '../lib/errors';
import { Link } from '../router';
import { Age, Alert, Loading, SeverityBadge, StateBadge, Time, UserName } from '../components/ui';
import { IncidentActions } from '../components/IncidentActions';
import { useCan } from '../access';
import { MaintenanceBadge } from '../components/Maintenance';

export function levelText(i: Pick<IncidentLite, 'escalationLevel' | 'escalationPolicy'>): string {
  const n = i.escalationPolicy.escalationLevels.length;
  return i.escalationLevel === 0 ? `Level 0 of ${n} (on call)` : `Level ${i.escalationLevel} of ${n}`;
}

/** Who an escalation level pages, in words: "Ben" or "Ben (on call for Payments)". */
export function levelTarget(l: Policy['escalationLevels'][number]): string {
  return l.schedule ? `${l.user.name} (on call for ${l.schedule.name})` : l.user.name;
}

/** The rendered shift covering `now` (any layer: rotation, override or entry), if any. */
export function currentShift(s: Pick<Schedule, 'currentShift'>, now: number) {
  const shift = s.currentShift;
  return shift && now < Date.parse(shift.end) ? { endTime: shift.end } : undefined;
}

export function Board() {
  useDocumentTitle('Board');
  const [{ data, fetching, error }, reexecute] = useQuery({ query: BoardQuery, context: ctx.board });
  const [seen, setSeen] = useState<Map<string, IncidentLite>>(() => new Map());
  const [fresh, setFresh] = useState<Set<string>>(() => new Set());
  const [announce, setAnnounce] = useState('');
  const now = useNow(15_000);
  const can = useCan();

  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  const refetchSoon = useThrottled(refetch, 1500);
  useOnReconnect(refetch);
  // On-call changes with the clock, not with events: refresh every minute.
  useInterval(refetch, 60_000);
  // …and at every handoff, the instant the server announces it.
  useOnCallChanged(null, refetch);

  const receivedAt = useRef(new Map<string, number>());
  useIncidentEvents((ev) => {
    const i = ev.incident;
    receivedAt.current.set(i.id, Date.now());
    setSeen((m) => new Map(m).set(i.id, i));
    if (ev.kind === 'TRIGGERED') setFresh((s) => new Set(s).add(i.id));
    setAnnounce(`${label(ev.kind)}: ${i.title} (${label(i.severity)})`);
    refetchSoon();
  });

  const base = useMemo(
    () => (data ? [...data.triggered.nodes, ...data.acknowledged.nodes] : []),
    [data],
  );
  useEffect(() => {
    // Once the query has caught up, forget the event copies it now includes. An open
    // incident the query lacks is kept only briefly: it may be newer than the query,
    // but after a few seconds (and a refetch) the server's answer is the truth.
    if (!data) return;
    const now = Date.now();
    setSeen((m) => {
      if (!m.size) return m;
      const kept = pruneSeen(m, base, (i) => i.state !== 'RESOLVED' && now - (receivedAt.current.get(i.id) ?? 0) < 5000);
      for (const id of receivedAt.current.keys()) if (!kept.has(id)) receivedAt.current.delete(id);
      return kept;
    });
  }, [data, base]);

  const open = useMemo(
    () => mergeIncidents(base, seen).filter((i) => i.state !== 'RESOLVED').sort(boardOrder),
    [base, seen],
  );

  if (!data) {
    return (
      <>
        <h1 tabIndex={-1}>Board</h1>
        {fetching ? <Loading what="the board" /> : <Alert messages={[errorText(error)]} />}
      </>
    );
  }

  const maintenance = new Map((data.services ?? []).map((s) => [s.id, s.maintenanceUntil] as const));
  const hidden = (c: { totalCount: number; nodes: readonly unknown[] }) => Math.max(0, c.totalCount - c.nodes.length);
  const counts = {
    TRIGGERED: open.filter((i) => i.state === 'TRIGGERED').length + hidden(data.triggered),
    ACKNOWLEDGED: open.filter((i) => i.state === 'ACKNOWLEDGED').length + hidden(data.acknowledged),
    RESOLVED:
      data.resolved.totalCount + base.filter((b) => seen.get(b.id)?.state === 'RESOLVED').length,
  };

  return (
    <>
      <h1 tabIndex={-1}>Board</h1>
      <p className="visually-hidden" aria-live="polite">
        {announce}
      </p>
      {error && <Alert messages={[errorText(error)]} />}
      <section aria-labelledby="counts-h">
        <h2 id="counts-h" className="visually-hidden">
          Counts by state
        </h2>
        <ul className="counts">
          {(['TRIGGERED', 'ACKNOWLEDGED', 'RESOLVED'] as const).map((s) => (
            <li key={s} className={`count count-${s.toLowerCase()}`}>
              <Link to={`/incidents?state=${s}`}>
                <span className="count-n" data-testid={`count-${s}`}>
                  {counts[s]}
                </span>
                <span className="count-label">{label(s)}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>

      <div className="board-grid">
        <section aria-labelledby="open-h" className="board-open">
          <h2 id="open-h">Open incidents</h2>
          {open.length === 0 ? (
            <p className="empty">No open incidents. All quiet.</p>
          ) : (
            <ul className="cards" data-testid="open-incidents">
              {open.map((i) => (
                <li key={i.id}>
                  <IncidentCard
                    incident={i}
                    now={now}
                    fresh={fresh.has(i.id)}
                    maintenanceUntil={maintenance.get(i.service.id)}
                  />
                </li>
              ))}
            </ul>
          )}
          {hidden(data.triggered) + hidden(data.acknowledged) > 0 && (
            <p className="hint">
              {hidden(data.triggered) + hidden(data.acknowledged)} more open incidents are not shown here:{' '}
              <Link to="/incidents?state=TRIGGERED">see all incidents</Link>.
            </p>
          )}
        </section>

        <section aria-labelledby="oncall-h" className="board-oncall">
          <h2 id="oncall-h">On call now</h2>
          {data.schedules.length === 0 ? (
            <p className="empty">
              No schedules yet.{can.admin && <> <Link to="/schedules?create=1">Create a schedule</Link>.</>}
            </p>
          ) : (
            <ul className="oncall-list">
              {data.schedules.map((s) => (
                <li key={s.id}>
                  <OnCallRow schedule={s} now={now} maintenanceUntil={maintenance.get(s.service.id)} />
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </>
  );
}

export function IncidentCard({
  incident: i,
  now,
  fresh,
  maintenanceUntil,
}: {
  incident: IncidentLite;
  now: number;
  fresh?: boolean;
  maintenanceUntil?: string | null;
}) {
  return (
    <article
      className={`card incident-card sev-edge-${i.severity.toLowerCase()} state-edge-${i.state.toLowerCase()}${fresh ? ' is-fresh' : ''}`}
      aria-labelledby={`inc-${i.id}`}
      data-incident-id={i.id}
      data-state={i.state}
    >
      <header className="card-head">
        <h3 id={`inc-${i.id}`}>
          <Link to={`/incidents/${encodeURIComponent(i.id)}`}>{i.title}</Link>
        </h3>
        <div className="badges">
          <SeverityBadge severity={i.severity} />
          <StateBadge state={i.state} />
        </div>
      </header>
      <dl className="meta">
        <div>
          <dt>Service</dt>
          <dd>
            {i.service.name} <MaintenanceBadge until={maintenanceUntil} now={now} />
          </dd>
        </div>
        {i.pagingHeld && (
          <div>
            <dt>Paging</dt>
            <dd>held (maintenance)</dd>
          </div>
        )}
        <div>
          <dt>Assigned to</dt>
          <dd>
            <UserName user={i.assignedTo} empty="Nobody to page" />
          </dd>
        </div>
        <div>
          <dt>Escalation</dt>
          <dd>{levelText(i)}</dd>
        </div>
        <div>
          <dt>Age</dt>
          <dd>
            <Age iso={i.triggeredAt} now={now} />
          </dd>
        </div>
        {i.nextEscalationAt && (
          <div>
            <dt>Escalates</dt>
            <dd>
              <Age iso={i.nextEscalationAt} now={now} />
            </dd>
          </div>
        )}
        {i.alertCount > 1 && (
          <div>
            <dt>Alerts</dt>
            <dd>{i.alertCount}</dd>
          </div>
        )}
      </dl>
      <IncidentActions incident={i} escalate={false} size="small" />
    </article>
  );
}

function OnCallRow({ schedule: s, now, maintenanceUntil }: { schedule: Schedule; now: number; maintenanceUntil?: string | null }) {
  const shift = currentShift(s, now);
  const first = s.escalationPolicy.escalationLevels[0];
  return (
    <div className="oncall">
      <p className="oncall-schedule">
        <Link to={`/schedules/${encodeURIComponent(s.id)}`}>{s.name}</Link>{' '}
        <span className="muted">· {s.service.name}</span> <MaintenanceBadge until={maintenanceUntil} now={now} />
      </p>
      <p className="oncall-who">
        {s.onCall ? (
          <>
            <strong>
              <UserName user={s.onCall} />
            </strong>
            {shift && (
              <span className="muted">
                {' '}
                until <Time iso={shift.endTime} style="short" />
              </span>
            )}
          </>
        ) : (
          <span className="warn-text">
            Nobody on call{first ? `; pages go to ${levelTarget(first)} (level 1)` : ''}
          </span>
        )}
      </p>
    </div>
  );
}
