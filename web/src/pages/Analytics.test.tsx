import appSource from '../App.tsx?raw';
import lazySource from './lazy.tsx?raw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Wrapper, alice, bob, mockClient } from '../test/mockClient';
import { csvUrl, windowFor } from '../lib/analytics';
import type { Operation } from 'urql';

// jsdom has no canvas: stand in for the chart components, keeping their accessible name and data.
vi.mock('react-chartjs-2', () => {
  const Stub = (kind: string) => (props: { data: { labels: unknown[]; datasets: { label: string; data: unknown[] }[] }; 'aria-label'?: string }) => (
    <canvas role="img" aria-label={props['aria-label']} data-kind={kind} data-chart={JSON.stringify(props.data)} />
  );
  return { Bar: Stub('bar'), Line: Stub('line') };
});

const analytics = {
  __typename: 'Analytics',
  from: '2026-11-01T00:00:00.000Z',
  to: '2026-11-03T00:00:00.000Z',
  timeZone: 'UTC',
  incidentCount: 12,
  acknowledgedCount: 10,
  resolvedCount: 9,
  escalatedCount: 3,
  mttaMs: 240_000,
  mttrMs: 5_400_000,
  mttaP50Ms: 120_000,
  mttaP90Ms: 600_000,
  mttrP50Ms: 3_600_000,
  mttrP90Ms: null,
  byService: [{ __typename: 'ServiceAnalytics', service: { __typename: 'Service', id: 's1', name: 'Payment API' }, incidentCount: 12, acknowledgedCount: 10, resolvedCount: 9, mttaMs: 240_000, mttrMs: 5_400_000 }],
  byResponder: [
    { __typename: 'ResponderAnalytics', user: alice, incidentCount: 5, pagesReceived: 7, acknowledgedCount: 5, mttaMs: 60_000, mttrMs: null },
    { __typename: 'ResponderAnalytics', user: bob, incidentCount: 8, pagesReceived: 11, acknowledgedCount: 5, mttaMs: 300_000, mttrMs: 600_000 },
  ],
  daily: [
    { __typename: 'DailyAnalytics', date: '2026-11-01', incidentCount: 5, lowCount: 1, mediumCount: 2, highCount: 2, mttaMs: 120_000, mttrMs: 600_000 },
    { __typename: 'DailyAnalytics', date: '2026-11-02', incidentCount: 7, lowCount: 0, mediumCount: 3, highCount: 4, mttaMs: null, mttrMs: null },
  ],
  onCallLoad: [{ __typename: 'OnCallLoad', user: alice, onCallMs: 36 * 3_600_000, pages: 7, nightPages: 2 }],
};

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;

function setup() {
  const m = mockClient({
    role: 'VIEWER',
    query: (op) =>
      opName(op) === 'Pickers'
        ? { data: { users: [alice, bob], services: [{ __typename: 'Service', id: 's1', name: 'Payment API' }], schedules: [] } }
        : { data: { analytics } },
  });
  return m;
}

const analyticsCalls = (m: ReturnType<typeof mockClient>) =>
  m.raw.executeQuery.mock.calls.map(([op]) => op).filter((op) => opName(op) === 'Analytics');

afterEach(() => window.history.replaceState(null, '', '/'));

describe('analytics page', () => {
  it('is lazy: App imports it only through import()', () => {
    const app = appSource;
    const lazy = lazySource;
    expect(app).not.toMatch(/from '\.\/pages\/Analytics'/);
    expect(app).not.toMatch(/AnalyticsCharts|chart\.js/);
    expect(lazy).toMatch(/lazy\(\(\) => import\('\.\/Analytics'\)\)/);
  });

  it('loads through the lazy route and shows the headline numbers (any role)', async () => {
    window.history.replaceState(null, '', '/analytics');
    const m = setup();
    const { AnalyticsRoute } = await import('./lazy');
    render(
      <Wrapper client={m.client}>
        <AnalyticsRoute />
      </Wrapper>,
    );
    // The first import() of the page (and Chart.js) can take a while on a busy machine.
    expect(await screen.findByRole('heading', { level: 1, name: 'Analytics' }, { timeout: 10_000 })).toBeInTheDocument();
    expect(screen.getByTestId('stat-incidents')).toHaveTextContent('12');
    expect(screen.getByTestId('stat-acknowledged')).toHaveTextContent('10');
    expect(screen.getByTestId('stat-resolved')).toHaveTextContent('9');
    expect(screen.getByTestId('stat-escalated')).toHaveTextContent('3');
    expect(screen.getByTestId('stat-mtta')).toHaveTextContent('MTTA4 minp50 2 min · p90 10 min');
    expect(screen.getByTestId('stat-mttr')).toHaveTextContent('MTTR1 h 30 minp50 1 h · p90 —');
  }, 20_000);

  it('asks for the last 30 local days in the browser’s time zone, and draws the charts', async () => {
    const m = setup();
    const { AnalyticsPage } = await import('./Analytics');
    render(
      <Wrapper client={m.client}>
        <AnalyticsPage />
      </Wrapper>,
    );
    await screen.findByTestId('stat-incidents', {}, { timeout: 10_000 });
    const vars = analyticsCalls(m).at(-1)!.variables as Record<string, unknown>;
    expect(vars.timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(vars.serviceId).toBeNull();
    expect((Date.parse(vars.to as string) - Date.parse(vars.from as string)) / 86_400_000).toBeCloseTo(30, 0);
    const daily = within(screen.getByTestId('chart-daily')).getByRole('img');
    expect(daily).toHaveAccessibleName(/12 incidents over 2 days; busiest 2026-11-02 with 7/);
    const data = JSON.parse(daily.getAttribute('data-chart')!);
    expect(data.labels).toEqual(['2026-11-01', '2026-11-02']);
    expect(data.datasets.map((d: { label: string; data: number[] }) => [d.label, d.data])).toEqual([
      ['High', [2, 4]],
      ['Medium', [2, 3]],
      ['Low', [1, 0]],
    ]);
    expect(within(screen.getByTestId('chart-pages')).getByRole('img')).toHaveAccessibleName(/Bob Ode 11 pages, Alice Ng 7 pages/);
    expect(within(screen.getByTestId('chart-oncall')).getByRole('img')).toHaveAccessibleName(/Alice Ng 36 h/);
    // The same numbers as tables.
    await userEvent.click(screen.getByRole('button', { name: 'Show data as tables' }));
    expect(screen.queryByTestId('chart-daily')).not.toBeInTheDocument();
    expect(screen.getAllByRole('rowheader', { name: '2026-11-02' }).length).toBeGreaterThan(0);
  }, 20_000);

  it('the CSV link follows the filters', async () => {
    const m = setup();
    const { AnalyticsPage } = await import('./Analytics');
    render(
      <Wrapper client={m.client}>
        <AnalyticsPage />
      </Wrapper>,
    );
    await screen.findByTestId('stat-incidents', {}, { timeout: 10_000 });
    await userEvent.selectOptions(screen.getByLabelText('Service'), 's1');
    await userEvent.selectOptions(screen.getByLabelText('Window'), '7');
    const vars = analyticsCalls(m).at(-1)!.variables as { from: string; to: string; serviceId: string };
    expect(vars.serviceId).toBe('s1');
    expect((Date.parse(vars.to) - Date.parse(vars.from)) / 86_400_000).toBeCloseTo(7, 0);
    const link = screen.getByRole('link', { name: 'Download CSV' });
    const url = new URL(link.getAttribute('href')!, 'http://x');
    expect(url.pathname).toBe('/analytics/incidents.csv');
    expect(url.searchParams.get('from')).toBe(vars.from);
    expect(url.searchParams.get('to')).toBe(vars.to);
    expect(url.searchParams.get('serviceId')).toBe('s1');
  }, 20_000);
});

describe('analytics window', () => {
  const now = new Date(2026, 10, 27, 15, 30);
  it('last N days: N local days up to the end of today', () => {
    const w = windowFor('7', '', '', now) as { from: string; to: string };
    expect(w.from).toBe(new Date(2026, 10, 21).toISOString());
    expect(w.to).toBe(new Date(2026, 10, 28).toISOString());
  });
  it('custom: both days inclusive, at most 400 days, in order', () => {
    expect(windowFor('custom', '2026-11-01', '2026-11-03', now)).toEqual({
      from: new Date(2026, 10, 1).toISOString(),
      to: new Date(2026, 10, 4).toISOString(),
    });
    expect(windowFor('custom', '2026-11-03', '2026-11-01', now)).toHaveProperty('error');
    expect(windowFor('custom', '2024-01-01', '2026-11-01', now)).toHaveProperty('error');
    expect(windowFor('custom', '', '2026-11-01', now)).toHaveProperty('error');
  });
  it('CSV address', () => {
    expect(csvUrl('2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z')).toBe(
      '/analytics/incidents.csv?from=2026-11-01T00%3A00%3A00.000Z&to=2026-11-02T00%3A00%3A00.000Z',
    );
  });
});
