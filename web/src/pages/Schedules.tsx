import { ctx } from '../lib/context';
import { useQuery } from 'urql';
import { SchedulesQuery } from '../queries';
import { useDocumentTitle, useInterval, useNow, useOnReconnect } from '../hooks';
import { errorText } from '../lib/errors';
import { formatDuration } from '../lib/time';
import { Link, navigate, useLocation } from '../router';
import { Alert, Loading, Time, UserName } from '../components/ui';
import { ScheduleForm } from './ScheduleForm';
import { currentShift } from './Board';
import { useCan } from '../access';

export function Schedules() {
  useDocumentTitle('Schedules');
  const { search } = useLocation();
  const creating = search.get('create') === '1';
  const [{ data, fetching, error }, reexecute] = useQuery({ query: SchedulesQuery, context: ctx.schedules });
  const now = useNow(30_000);
  const can = useCan();
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  useOnReconnect(refetch);
  useInterval(refetch, 60_000);

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1}>Schedules</h1>
        {can.admin && (
          <button
            type="button"
            className="btn btn-primary"
            aria-expanded={creating}
            aria-controls="create-schedule"
            onClick={() => navigate(creating ? '/schedules' : '/schedules?create=1', { replace: true })}
          >
            Create schedule
          </button>
        )}
      </div>
      {creating && can.admin && (
        <div id="create-schedule" className="panel">
          <ScheduleForm
            defaultServiceId={search.get('service') || ''}
            onDone={(s) => navigate(`/schedules/${encodeURIComponent(s.id)}`)}
            onCancel={() => navigate('/schedules', { replace: true })}
          />
        </div>
      )}
      {error && <Alert messages={[errorText(error)]} />}
      {!data && fetching && <Loading what="schedules" />}
      {data &&
        (data.schedules.length === 0 ? (
          <p className="empty">No schedules yet.</p>
        ) : (
          <ul className="rows">
            {data.schedules.map((s) => {
              const shift = currentShift(s, now);
              return (
                <li key={s.id} className="row">
                  <Link className="row-title" to={`/schedules/${encodeURIComponent(s.id)}`}>
                    {s.name}
                  </Link>
                  <span className="row-meta">{s.service.name}</span>
                  <span className="row-meta">
                    On call now:{' '}
                    <strong>
                      <UserName user={s.onCall} />
                    </strong>
                    {shift && (
                      <>
                        {' '}
                        until <Time iso={shift.endTime} style="short" />
                      </>
                    )}
                  </span>
                  <span className="row-meta">
                    {s.escalationPolicy.escalationLevels.length} escalation{' '}
                    {s.escalationPolicy.escalationLevels.length === 1 ? 'level' : 'levels'}, first after{' '}
                    {formatDuration(s.escalationPolicy.initialTimeoutMs)}
                  </span>
                </li>
              );
            })}
          </ul>
        ))}
    </>
  );
}
