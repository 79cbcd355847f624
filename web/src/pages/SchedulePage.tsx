import { useQuery } from 'urql';
import { ScheduleQuery } from '../queries';
import { useDocumentTitle, useInterval, useNow, useOnReconnect } from '../hooks';
import { errorText } from '../lib/errors';
import { DAY, formatDuration } from '../lib/time';
import { Link } from '../router';
import { Alert, Loading, Time, UserName } from '../components/ui';
import { RotationTimeline } from '../components/RotationTimeline';
import { currentShift } from './Board';

export function SchedulePage({ id }: { id: string }) {
  const [{ data, fetching, error }, reexecute] = useQuery({ query: ScheduleQuery, variables: { id } });
  const now = useNow(60_000);
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  useOnReconnect(refetch);
  useInterval(refetch, 60_000);
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

  const shift = currentShift(s, now);
  const horizon = now + 14 * DAY;
  const upcoming = [...s.rotation]
    .filter((r) => Date.parse(r.endTime) > now && Date.parse(r.startTime) < horizon)
    .sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
  const levels = s.escalationPolicy.escalationLevels;

  return (
    <>
      <p className="crumbs">
        <Link to="/schedules">← Schedules</Link>
      </p>
      <div className="page-head">
        <h1 tabIndex={-1}>{s.name}</h1>
        <Link className="btn" to={`/incidents?trigger=1&schedule=${encodeURIComponent(s.id)}`}>
          Trigger incident
        </Link>
      </div>
      <p className="muted">Service: {s.service.name}</p>
      {error && <Alert messages={[errorText(error)]} />}

      <section aria-labelledby="now-h" className="panel now-panel">
        <h2 id="now-h">On call now</h2>
        <p className="now-who" data-testid="on-call-now">
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
                  · until <Time iso={shift.endTime} />
                </span>
              )}
            </>
          ) : (
            <span className="warn-text">
              Nobody. Incidents go straight to escalation level 1
              {levels[0] ? ` (${levels[0].user.name})` : ', and there is no level 1'}.
            </span>
          )}
        </p>
      </section>

      <section aria-labelledby="tl-h">
        <h2 id="tl-h">Next two weeks</h2>
        <RotationTimeline rotation={s.rotation} now={now} />
        <h3>Shifts</h3>
        {upcoming.length === 0 ? (
          <p className="empty">No shifts in the next two weeks.</p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">On call</th>
                  <th scope="col">From</th>
                  <th scope="col">Until</th>
                </tr>
              </thead>
              <tbody>
                {upcoming.map((r, n) => (
                  <tr key={n} aria-current={r === shift ? 'true' : undefined}>
                    <td>
                      <UserName user={r.user} />
                      {r === shift && <span className="badge state-acknowledged"> now</span>}
                    </td>
                    <td>
                      <Time iso={r.startTime} style="short" />
                    </td>
                    <td>
                      <Time iso={r.endTime} style="short" />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="esc-h">
        <h2 id="esc-h">Escalation policy</h2>
        <ol className="levels" start={0}>
          <li>Level 0: whoever is on call; escalates after {formatDuration(s.escalationPolicy.initialTimeoutMs)}</li>
          {levels.map((l, n) => (
            <li key={n}>
              Level {n + 1}: <UserName user={l.user} />
              {n + 1 < levels.length ? `; escalates after ${formatDuration(l.timeoutMs)}` : ' (last level)'}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
