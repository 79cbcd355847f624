// The analytics page: how the on-call went over a window. Loaded lazily (see App.tsx),
// together with Chart.js, so the board's first load never carries either.
import { useMemo, useState, type ReactNode } from 'react';
import { useQuery } from 'urql';
import { AnalyticsQuery, PickersQuery, type Analytics } from '../queries';
import { ctx } from '../lib/context';
import { errorText } from '../lib/errors';
import { formatDuration } from '../lib/time';
import { csvUrl, dateInput, msText, viewerZone, windowFor, type Range } from '../lib/analytics';
import { useDocumentTitle } from '../hooks';
import { navigate, useLocation } from '../router';
import { Alert, Field, Loading } from '../components/ui';
import { IncidentsPerDayChart, OnCallHoursChart, PagesPerResponderChart, TimesPerDayChart } from '../components/AnalyticsCharts';

const RANGES: { value: Range; label: string }[] = [
  { value: '7', label: 'Last 7 days' },
  { value: '30', label: 'Last 30 days' },
  { value: '90', label: 'Last 90 days' },
  { value: 'custom', label: 'Custom…' },
];

const dur = (ms: number | null | undefined) => msText(ms, formatDuration);

export function AnalyticsPage() {
  useDocumentTitle('Analytics');
  const { path, search } = useLocation();
  const range = (['7', '30', '90', 'custom'].includes(search.get('range') ?? '') ? search.get('range') : '30') as Range;
  const serviceId = search.get('service') ?? '';
  const today = dateInput(new Date());
  const fromDay = search.get('from') ?? dateInput(new Date(Date.now() - 29 * 86_400_000));
  const toDay = search.get('to') ?? today;
  const [tables, setTables] = useState(false);
  const zone = useMemo(viewerZone, []);

  const setParams = (patch: Record<string, string>) => {
    const next = new URLSearchParams(window.location.search);
    for (const [k, v] of Object.entries(patch)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    const qs = next.toString();
    navigate(path + (qs ? `?${qs}` : ''), { replace: true });
  };

  const win = windowFor(range, fromDay, toDay);
  const ok = 'from' in win;
  const [{ data: pickers }] = useQuery({ query: PickersQuery, context: ctx.pickers });
  const [{ data, fetching, error }] = useQuery({
    query: AnalyticsQuery,
    variables: ok ? { from: win.from, to: win.to, serviceId: serviceId || null, timeZone: zone } : { from: '', to: '' },
    pause: !ok,
    context: ctx.incidents,
  });
  const a = data?.analytics;

  return (
    <>
      <div className="page-head">
        <h1 tabIndex={-1}>Analytics</h1>
        {ok && (
          <a className="btn" href={csvUrl(win.from, win.to, serviceId)} download data-testid="csv-link">
            Download CSV
          </a>
        )}
      </div>
      <form className="filters" aria-label="Analytics filters" onSubmit={(e) => e.preventDefault()}>
        <Field id="an-range" label="Window">
          <select id="an-range" value={range} onChange={(e) => setParams({ range: e.target.value })}>
            {RANGES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </Field>
        {range === 'custom' && (
          <>
            <Field id="an-from" label="From (first day)">
              <input id="an-from" type="date" value={fromDay} max={toDay} onChange={(e) => setParams({ from: e.target.value })} />
            </Field>
            <Field id="an-to" label="To (last day)">
              <input id="an-to" type="date" value={toDay} min={fromDay} onChange={(e) => setParams({ to: e.target.value })} />
            </Field>
          </>
        )}
        <Field id="an-service" label="Service">
          <select id="an-service" value={serviceId} onChange={(e) => setParams({ service: e.target.value })}>
            <option value="">All services</option>
            {(pickers?.services ?? []).map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <button type="button" className="btn" aria-pressed={tables} onClick={() => setTables((t) => !t)}>
          {tables ? 'Show charts' : 'Show data as tables'}
        </button>
      </form>
      <p className="muted">
        Incidents triggered in the window; days in your time zone ({zone}).
      </p>
      {!ok && <Alert messages={[win.error]} />}
      {error && <Alert messages={[errorText(error)]} />}
      {!a && ok && fetching && <Loading what="analytics" />}
      {a && <Report a={a} tables={tables} />}
    </>
  );
}

function Stat({ label, value, detail, testId }: { label: string; value: ReactNode; detail?: ReactNode; testId: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <dt>{label}</dt>
      <dd>
        <span className="stat-value">{value}</span>
        {detail && <span className="stat-detail">{detail}</span>}
      </dd>
    </div>
  );
}

function ChartFigure({
  id,
  title,
  tables,
  empty,
  chart,
  table,
}: {
  id: string;
  title: string;
  tables: boolean;
  empty: boolean;
  chart: ReactNode;
  table: ReactNode;
}) {
  return (
    <figure className="chart-figure" aria-labelledby={`${id}-cap`}>
      <figcaption id={`${id}-cap`}>{title}</figcaption>
      {empty ? (
        <p className="empty">Nothing in this window.</p>
      ) : tables ? (
        <div className="table-wrap">{table}</div>
      ) : (
        <div className="chart-container" data-testid={`chart-${id}`}>
          {chart}
        </div>
      )}
    </figure>
  );
}

function Report({ a, tables }: { a: Analytics; tables: boolean }) {
  const total = a.daily.reduce((n, d) => n + d.incidentCount, 0);
  const busiest = a.daily.reduce<Analytics['daily'][number] | null>((b, d) => (!b || d.incidentCount > b.incidentCount ? d : b), null);
  const byPages = [...a.byResponder].sort((x, y) => y.pagesReceived - x.pagesReceived);
  const byLoad = [...a.onCallLoad].sort((x, y) => y.onCallMs - x.onCallMs);
  const h = (ms: number) => `${Math.round((ms / 3_600_000) * 10) / 10} h`;
  return (
    <>
      <dl className="stats" aria-label="Headline numbers">
        <Stat testId="stat-incidents" label="Incidents" value={a.incidentCount} />
        <Stat testId="stat-acknowledged" label="Acknowledged" value={a.acknowledgedCount} />
        <Stat testId="stat-resolved" label="Resolved" value={a.resolvedCount} />
        <Stat testId="stat-escalated" label="Escalated" value={a.escalatedCount} />
        <Stat
          testId="stat-mtta"
          label="MTTA"
          value={dur(a.mttaMs)}
          detail={`p50 ${dur(a.mttaP50Ms)} · p90 ${dur(a.mttaP90Ms)}`}
        />
        <Stat
          testId="stat-mttr"
          label="MTTR"
          value={dur(a.mttrMs)}
          detail={`p50 ${dur(a.mttrP50Ms)} · p90 ${dur(a.mttrP90Ms)}`}
        />
      </dl>

      <div className="charts">
        <ChartFigure
          id="daily"
          title="Incidents per day, by severity"
          tables={tables}
          empty={a.daily.length === 0}
          chart={
            <IncidentsPerDayChart
              daily={a.daily}
              label={`Bar chart: ${total} incidents over ${a.daily.length} days${
                busiest && busiest.incidentCount ? `; busiest ${busiest.date} with ${busiest.incidentCount}` : ''
              }.`}
            />
          }
          table={
            <table>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Incidents</th>
                  <th scope="col">High</th>
                  <th scope="col">Medium</th>
                  <th scope="col">Low</th>
                </tr>
              </thead>
              <tbody>
                {a.daily.map((d) => (
                  <tr key={d.date}>
                    <th scope="row">{d.date}</th>
                    <td>{d.incidentCount}</td>
                    <td>{d.highCount}</td>
                    <td>{d.mediumCount}</td>
                    <td>{d.lowCount}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        />
        <ChartFigure
          id="times"
          title="MTTA and MTTR per day"
          tables={tables}
          empty={a.daily.length === 0}
          chart={<TimesPerDayChart daily={a.daily} label={`Line chart of daily MTTA and MTTR; overall MTTA ${dur(a.mttaMs)}, MTTR ${dur(a.mttrMs)}.`} />}
          table={
            <table>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">MTTA</th>
                  <th scope="col">MTTR</th>
                </tr>
              </thead>
              <tbody>
                {a.daily.map((d) => (
                  <tr key={d.date}>
                    <th scope="row">{d.date}</th>
                    <td>{dur(d.mttaMs)}</td>
                    <td>{dur(d.mttrMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        />
        <ChartFigure
          id="pages"
          title="Pages per responder"
          tables={tables}
          empty={byPages.length === 0}
          chart={
            <PagesPerResponderChart
              rows={byPages}
              label={`Bar chart: ${byPages.map((r) => `${r.user.name} ${r.pagesReceived} pages`).join(', ')}.`}
            />
          }
          table={
            <table>
              <thead>
                <tr>
                  <th scope="col">Responder</th>
                  <th scope="col">Pages</th>
                  <th scope="col">Incidents</th>
                  <th scope="col">Acknowledged</th>
                  <th scope="col">MTTA</th>
                  <th scope="col">MTTR</th>
                </tr>
              </thead>
              <tbody>
                {byPages.map((r) => (
                  <tr key={r.user.id}>
                    <th scope="row">{r.user.name}</th>
                    <td>{r.pagesReceived}</td>
                    <td>{r.incidentCount}</td>
                    <td>{r.acknowledgedCount}</td>
                    <td>{dur(r.mttaMs)}</td>
                    <td>{dur(r.mttrMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        />
        <ChartFigure
          id="oncall"
          title="On-call hours per person"
          tables={tables}
          empty={byLoad.length === 0}
          chart={
            <OnCallHoursChart rows={byLoad} label={`Bar chart: ${byLoad.map((r) => `${r.user.name} ${h(r.onCallMs)}`).join(', ')}.`} />
          }
          table={
            <table>
              <thead>
                <tr>
                  <th scope="col">Person</th>
                  <th scope="col">On call</th>
                  <th scope="col">Pages</th>
                  <th scope="col">Night pages</th>
                </tr>
              </thead>
              <tbody>
                {byLoad.map((r) => (
                  <tr key={r.user.id}>
                    <th scope="row">{r.user.name}</th>
                    <td>{h(r.onCallMs)}</td>
                    <td>{r.pages}</td>
                    <td>{r.nightPages}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        />
      </div>

      <section aria-labelledby="by-service-h">
        <h2 id="by-service-h">By service</h2>
        {a.byService.length === 0 ? (
          <p className="empty">No incidents in this window.</p>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Service</th>
                  <th scope="col">Incidents</th>
                  <th scope="col">Acknowledged</th>
                  <th scope="col">Resolved</th>
                  <th scope="col">MTTA</th>
                  <th scope="col">MTTR</th>
                </tr>
              </thead>
              <tbody>
                {a.byService.map((s) => (
                  <tr key={s.service.id}>
                    <th scope="row">{s.service.name}</th>
                    <td>{s.incidentCount}</td>
                    <td>{s.acknowledgedCount}</td>
                    <td>{s.resolvedCount}</td>
                    <td>{dur(s.mttaMs)}</td>
                    <td>{dur(s.mttrMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

export default AnalyticsPage;
