import { useEffect, useMemo, useState } from 'react';
import { ctx } from '../lib/context';
import { useQuery } from 'urql';
import { IncidentsQuery, PickersQuery, type IncidentLite, type IncidentState, type Severity } from '../queries';
import { useIncidentEvents } from '../events';
import { useDebounced, useDocumentTitle, useNow, useOnReconnect, useThrottled } from '../hooks';
import { SEVERITIES, STATES, label, mergeIncidents } from '../lib/incident';
import { errorText } from '../lib/errors';
import { Link, navigate, useLocation } from '../router';
import { Age, Alert, Loading, SeverityBadge, StateBadge, UserName } from '../components/ui';
import { TriggerIncidentForm } from './TriggerIncidentForm';
import { levelText } from './Board';
import { useCan } from '../access';

const PAGE = 50;

export function Incidents() {
  useDocumentTitle('Incidents');
  const { path, search } = useLocation();
  const state = (search.get('state') || '') as IncidentState | '';
  const severity = (search.get('severity') || '') as Severity | '';
  const serviceId = search.get('service') || '';
  const showTrigger = search.get('trigger') === '1';
  const [text, setText] = useState(search.get('q') || '');
  const q = useDebounced(text.trim(), 300);
  const [pages, setPages] = useState(1);
  const now = useNow(15_000);
  const can = useCan();

  const setParam = (k: string, value: string) => {
    const next = new URLSearchParams(window.location.search);
    if (value) next.set(k, value);
    else next.delete(k);
    const qs = next.toString();
    navigate(path + (qs ? `?${qs}` : ''), { replace: true });
    setPages(1);
  };

  // Keep the search box in the URL once it settles.
  useEffect(() => {
    if ((new URLSearchParams(window.location.search).get('q') || '') !== q) setParam('q', q);
  }, [q]);

  const [{ data: pickers }] = useQuery({ query: PickersQuery, context: ctx.pickers });
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: IncidentsQuery,
    variables: {
      state: state || null,
      severity: severity || null,
      serviceId: serviceId || null,
      search: q || null,
      first: PAGE * pages,
    },
    context: ctx.incidents,
  });

  const [seen, setSeen] = useState<Map<string, IncidentLite>>(() => new Map());
  const refetch = useThrottled(() => reexecute({ requestPolicy: 'network-only' }), 800);
  useIncidentEvents((ev) => {
    setSeen((m) => new Map(m).set(ev.incident.id, ev.incident));
    refetch();
  });
  useOnReconnect(() => reexecute({ requestPolicy: 'network-only' }));

  const rows = useMemo(() => (data ? mergeIncidents(data.incidents.nodes, seen, false) : []), [data, seen]);
  const filtered = !!(state || severity || serviceId || q);

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1}>Incidents</h1>
        {can.respond && (
          <button
            type="button"
            className="btn btn-primary"
            aria-expanded={showTrigger}
            aria-controls="trigger-panel"
            onClick={() => setParam('trigger', showTrigger ? '' : '1')}
          >
            Trigger incident
          </button>
        )}
      </div>

      {showTrigger && can.respond && (
        <div id="trigger-panel" className="panel">
          <TriggerIncidentForm
            defaultScheduleId={search.get('schedule') || ''}
            onDone={(i) => navigate(`/incidents/${encodeURIComponent(i.id)}`)}
            onCancel={() => setParam('trigger', '')}
          />
        </div>
      )}

      <form className="filters" role="search" aria-label="Filter incidents" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="f-q">Search</label>
          <input id="f-q" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="Title or description" />
        </div>
        <div className="field">
          <label htmlFor="f-state">State</label>
          <select id="f-state" value={state} onChange={(e) => setParam('state', e.target.value)}>
            <option value="">Any state</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {label(s)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-service">Service</label>
          <select id="f-service" value={serviceId} onChange={(e) => setParam('service', e.target.value)}>
            <option value="">Any service</option>
            {pickers?.services.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-severity">Severity</label>
          <select id="f-severity" value={severity} onChange={(e) => setParam('severity', e.target.value)}>
            <option value="">Any severity</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {label(s)}
              </option>
            ))}
          </select>
        </div>
        {filtered && (
          <button
            type="button"
            className="btn btn-link"
            onClick={() => {
              setText('');
              navigate(path + (showTrigger ? '?trigger=1' : ''), { replace: true });
            }}
          >
            Clear filters
          </button>
        )}
      </form>

      {error && <Alert messages={[errorText(error)]} />}
      {!data && fetching && <Loading what="incidents" />}
      {data && (
        <section aria-labelledby="results-h">
          <h2 id="results-h" className="results-count" aria-live="polite">
            {data.incidents.totalCount} {data.incidents.totalCount === 1 ? 'incident' : 'incidents'}
            {filtered ? ' match' : ''}
          </h2>
          {rows.length === 0 ? (
            <p className="empty">{filtered ? 'Nothing matches these filters.' : 'No incidents yet.'}</p>
          ) : (
            <ul className="rows">
              {rows.map((i) => (
                <li key={i.id} className="row" data-state={i.state}>
                  <Link className="row-title" to={`/incidents/${encodeURIComponent(i.id)}`}>
                    {i.title}
                  </Link>
                  <span className="row-badges">
                    <SeverityBadge severity={i.severity} />
                    <StateBadge state={i.state} />
                  </span>
                  <span className="row-meta">
                    {i.service.name} · <UserName user={i.assignedTo} empty="Unassigned" /> · {levelText(i)} ·{' '}
                    <Age iso={i.triggeredAt} now={now} />
                  </span>
                </li>
              ))}
            </ul>
          )}
          {data.incidents.pageInfo.hasNextPage && PAGE * pages < 500 && (
            <button type="button" className="btn" disabled={fetching} onClick={() => setPages((p) => p + 1)}>
              {fetching ? 'Loading…' : 'Show more'}
            </button>
          )}
        </section>
      )}
    </>
  );
}
