import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  PickersQuery,
  RemoveOverrideMutation,
  RemoveRotationMutation,
  RotateCalendarUrlMutation,
  ScheduleQuery,
  type RotationLayer,
} from '../queries';
import { useOnCallChanged } from '../events';
import { useDocumentTitle, useInterval, useNow, useOnReconnect } from '../hooks';
import { ctx } from '../lib/context';
import { errorText } from '../lib/errors';
import { DAY, HOUR, formatDuration } from '../lib/time';
import { browserZone, clockIn, wallAt } from '../lib/zone';
import { Link } from '../router';
import { Alert, CopyButton, Loading, Time, UserName } from '../components/ui';
import { useCan } from '../access';
import { RotationTimeline } from '../components/RotationTimeline';
import { AddOverrideForm, AddRotationForm } from './ScheduleEditors';
import { levelTarget } from './Board';
import { PolicyExtras } from '../components/PolicyExtras';
import { EditPolicyForm } from './EditPolicyForm';
import { absoluteUrl } from '../lib/url';
import { IntegrationsSection } from './ScheduleIntegrations';
import { HeartbeatsSection } from './ScheduleHeartbeats';

const UNIT: Record<RotationLayer['shiftUnit'], [string, string]> = {
  HOUR: ['hour', 'hours'],
  DAY: ['day', 'days'],
  WEEK: ['week', 'weeks'],
};
const DAY_NAME: Record<string, string> = { MON: 'Mon', TUE: 'Tue', WED: 'Wed', THU: 'Thu', FRI: 'Fri', SAT: 'Sat', SUN: 'Sun' };

/** "every 1 day at 09:00 Europe/Berlin", "every 2 weeks on Mon at 09:00 UTC", "every 8 hours from …". */
export function cadence(r: Pick<RotationLayer, 'shiftLength' | 'shiftUnit' | 'start' | 'timeZone'>): string {
  const [one, many] = UNIT[r.shiftUnit];
  const every = `every ${r.shiftLength} ${r.shiftLength === 1 ? one : many}`;
  const at = clockIn(r.start, r.timeZone);
  if (r.shiftUnit === 'HOUR') return `${every} from ${at} ${r.timeZone}`;
  if (r.shiftUnit === 'WEEK') return `${every} on ${wallAt(Date.parse(r.start), r.timeZone).weekday} at ${at} ${r.timeZone}`;
  return `${every} at ${at} ${r.timeZone}`;
}

export function restrictionText(r: RotationLayer['restriction']): string {
  if (!r) return 'Around the clock';
  const days = r.weekdays.length === 0 || r.weekdays.length === 7 ? 'Every day' : r.weekdays.map((d) => DAY_NAME[d] ?? d).join(', ');
  return `${days}, ${r.startTime}–${r.endTime}`;
}


/** The calendar feed's secret address, with Copy and (for admins) Rotate. */
function CalendarLink({ scheduleId, url }: { scheduleId: string; url: string }) {
  const can = useCan();
  const [state, rotate] = useMutation(RotateCalendarUrlMutation);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState('');
  const full = absoluteUrl(url);
  return (
    <section aria-labelledby="cal-h" className="panel">
      <h2 id="cal-h">Calendar feed</h2>
      <p className="hint" id="cal-hint">
        Subscribe to this address in a calendar app to see the next 60 days of shifts. It carries a secret of its own:
        anyone with it can read the schedule.
      </p>
      <div className="copy-row">
        <label htmlFor="cal-url" className="visually-hidden">
          Calendar feed address
        </label>
        <input
          id="cal-url"
          className="mono"
          readOnly
          value={full}
          aria-describedby="cal-hint"
          data-testid="calendar-url"
          onFocus={(e) => e.target.select()}
        />
        <CopyButton text={full} label="Copy calendar link" />
      </div>
      {can.admin && (
        <div className="button-row">
          {confirming ? (
            <div className="confirm" role="group" aria-label="Confirm rotating the calendar link">
              <span>Give the feed a new address? Calendars subscribed to the old one stop updating.</span>
              <button
                type="button"
                className="btn btn-danger btn-small"
                autoFocus
                disabled={state.fetching}
                onClick={async () => {
                  setError(null);
                  setDone('');
                  const res = await rotate({ scheduleId });
                  if (res.error) setError(errorText(res.error));
                  else {
                    setConfirming(false);
                    setDone('The calendar link was rotated; the old one no longer works.');
                  }
                }}
              >
                {state.fetching ? 'Rotating…' : 'Yes, rotate'}
              </button>
              <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          ) : (
            <button type="button" className="btn" onClick={() => setConfirming(true)}>
              Rotate calendar link
            </button>
          )}
        </div>
      )}
      <Alert messages={[error]} />
      <p role="status" className="ok-text">
        {done}
      </p>
    </section>
  );
}

export function SchedulePage({ id }: { id: string }) {
  const can = useCan();
  const now = useNow(60_000);
  // The query window moves once an hour: from a day back (today's first hours in any zone) for 16 days.
  const hour = Math.floor(now / HOUR) * HOUR;
  const variables = useMemo(
    () => ({ id, from: new Date(hour - DAY).toISOString(), to: new Date(hour + 15 * DAY).toISOString() }),
    [id, hour],
  );
  const [{ data, fetching, error }, reexecute] = useQuery({ query: ScheduleQuery, variables, context: ctx.schedule });
  const [{ data: pickers }] = useQuery({ query: PickersQuery, context: ctx.pickers });
  const [removeRotationState, removeRotation] = useMutation(RemoveRotationMutation);
  const [removeOverrideState, removeOverride] = useMutation(RemoveOverrideMutation);
  const [actionError, setActionError] = useState<string | null>(null);
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  useOnReconnect(refetch);
  useInterval(refetch, 60_000);
  useOnCallChanged(id, refetch);
  const s = data?.schedule;
  useDocumentTitle(s ? s.name : 'Schedule');

  if (!s) {
    return (
      <>
        <p className="crumbs">
          <Link to="/schedules">← Schedules</Link>
        </p>
        <h1 tabIndex={-1}>Schedule</h1>
        {fetching ? (
          <Loading what="the schedule" />
        ) : error ? (
          <Alert messages={[errorText(error)]} />
        ) : (
          <p>No schedule with id {id}.</p>
        )}
      </>
    );
  }

  const shift = s.shifts.find((x) => Date.parse(x.start) <= now && now < Date.parse(x.end));
  const horizon = now + 14 * DAY;
  const upcoming = s.shifts.filter((r) => Date.parse(r.end) > now && Date.parse(r.start) < horizon);
  const levels = s.escalationPolicy.escalationLevels;
  const users = pickers?.users ?? [];
  const zone = s.timeZone;
  const viewer = browserZone();

  const remove = async (what: 'rotation' | 'override', rid: string) => {
    setActionError(null);
    const res = what === 'rotation' ? await removeRotation({ id: rid }) : await removeOverride({ id: rid });
    if (res.error) setActionError(errorText(res.error));
    refetch();
  };

  return (
    <>
      <p className="crumbs">
        <Link to="/schedules">← Schedules</Link>
      </p>
      <div className="page-head">
        <h1 tabIndex={-1}>{s.name}</h1>
        {can.respond && (
          <Link className="btn" to={`/incidents?trigger=1&schedule=${encodeURIComponent(s.id)}`}>
            Trigger incident
          </Link>
        )}
      </div>
      <p className="muted">
        Service: {s.service.name} · Time zone: <span data-testid="schedule-zone">{zone}</span>
        {zone !== viewer && ` (yours: ${viewer})`} ·{' '}
        <a href={absoluteUrl(s.calendarUrl)} title="An iCalendar feed of the next 60 days of shifts">
          Subscribe in your calendar
        </a>
      </p>
      {error && <Alert messages={[errorText(error)]} />}

      <section aria-labelledby="now-h" className="panel now-panel">
        <h2 id="now-h">On call now</h2>
        <p className="now-who" data-testid="on-call-now" aria-live="polite">
          {s.onCall ? (
            <>
              <strong>{s.onCall.name}</strong>
              <span className="muted">
                {' '}
                {s.onCall.email}
                {s.onCall.phone ? ` · ${s.onCall.phone}` : ''}
              </span>
              {shift && (
                <span className="muted">
                  {' '}
                  · until <Time iso={shift.end} />
                </span>
              )}
            </>
          ) : (
            <span className="warn-text">
              Nobody. Incidents go straight to escalation level 1
              {levels[0] ? ` (${levelTarget(levels[0])})` : ', and there is no level 1'}.
            </span>
          )}
        </p>
      </section>

      <section aria-labelledby="tl-h">
        <h2 id="tl-h">Next two weeks</h2>
        <RotationTimeline shifts={s.shifts} gaps={s.coverageGaps} now={now} timeZone={zone} />
        <h3>Shifts</h3>
        {upcoming.length === 0 ? (
          <p className="empty">Nobody is on call in the next two weeks.</p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">On call</th>
                  <th scope="col">From</th>
                  <th scope="col">Until</th>
                  <th scope="col">Decided by</th>
                </tr>
              </thead>
              <tbody>
                {upcoming.map((r) => (
                  <tr key={`${r.start}-${r.user.id}`} aria-current={r === shift ? 'true' : undefined}>
                    <td>
                      {r.user.name}
                      {r === shift && <span className="badge state-acknowledged"> now</span>}
                    </td>
                    <td>
                      <Time iso={r.start} style="short" />
                    </td>
                    <td>
                      <Time iso={r.end} style="short" />
                    </td>
                    <td>{r.source === 'entry' ? 'explicit entry' : r.source.replace(/^rotation:/, 'rotation ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <Alert messages={[actionError]} />

      <section aria-labelledby="layers-h">
        <h2 id="layers-h">Rotation layers</h2>
        {s.rotations.length === 0 ? (
          <p className="empty">No rotation layers{s.rotation.length ? '; only explicit entries' : ''}.</p>
        ) : (
          <ol className="layers" data-testid="rotations">
            {s.rotations.map((r, n) => (
              <li key={r.id} className="layer">
                <div>
                  <p>
                    <strong>{r.name}</strong> <span className="muted">(layer {n + 1})</span> · {cadence(r)}
                  </p>
                  <p>Takes turns: {r.participants.map((u) => u.name).join(' → ')}</p>
                  <p className="muted">{restrictionText(r.restriction)}</p>
                </div>
                {can.admin && (
                  <button
                    type="button"
                    className="btn"
                    disabled={removeRotationState.fetching}
                    onClick={() => remove('rotation', r.id)}
                    aria-label={`Remove rotation ${r.name}`}
                  >
                    Remove
                  </button>
                )}
              </li>
            ))}
          </ol>
        )}
        {can.admin && (
          <div className="panel">
            <AddRotationForm scheduleId={s.id} users={users} onDone={refetch} />
          </div>
        )}
      </section>

      <section aria-labelledby="ov-h">
        <h2 id="ov-h">Overrides</h2>
        {s.overrides.length === 0 ? (
          <p className="empty">No overrides.</p>
        ) : (
          <ul className="layers" data-testid="overrides">
            {s.overrides.map((o) => (
              <li key={o.id} className="layer">
                <p>
                  <strong>{o.user.name}</strong> from <Time iso={o.start} style="short" /> until{' '}
                  <Time iso={o.end} style="short" />
                  {o.replaces ? `, replacing ${o.replaces.name}` : ', replacing whoever is on call'}
                </p>
                {can.respond && (
                  <button
                    type="button"
                    className="btn"
                    disabled={removeOverrideState.fetching}
                    onClick={() => remove('override', o.id)}
                    aria-label={`Remove override by ${o.user.name}`}
                  >
                    Remove
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
        {can.respond && (
          <div className="panel">
            <AddOverrideForm scheduleId={s.id} users={users} onDone={refetch} />
          </div>
        )}
      </section>

      <CalendarLink scheduleId={s.id} url={s.calendarUrl} />

      <IntegrationsSection scheduleId={s.id} />

      <HeartbeatsSection scheduleId={s.id} />

      <section aria-labelledby="esc-h">
        <h2 id="esc-h">Escalation policy</h2>
        <ol className="levels" start={0}>
          <li>Level 0: whoever is on call; escalates after {formatDuration(s.escalationPolicy.initialTimeoutMs)}</li>
          {levels.map((l, n) => (
            <li key={n}>
              Level {n + 1}:{' '}
              {l.schedule ? (
                <>
                  whoever is on call for <Link to={`/schedules/${encodeURIComponent(l.schedule.id)}`}>{l.schedule.name}</Link>{' '}
                  (now <UserName user={l.user} />)
                </>
              ) : (
                <UserName user={l.user} />
              )}
              {n + 1 < levels.length ? `; escalates after ${formatDuration(l.timeoutMs)}` : ' (last level)'}
            </li>
          ))}
        </ol>
        <PolicyExtras policy={s.escalationPolicy} />
        {can.admin && (
          <div className="panel">
            <EditPolicyForm scheduleId={s.id} policy={s.escalationPolicy} onDone={refetch} />
          </div>
        )}
      </section>
    </>
  );
}
