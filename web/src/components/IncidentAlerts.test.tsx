import { describe, expect, it } from 'vitest';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import { AlertsSection } from './IncidentAlerts';
import { IncidentPage } from '../pages/IncidentPage';
import { Wrapper, incident, mockClient } from '../test/mockClient';
import type { Alert } from '../queries';
import { safeHref } from '../lib/url';

const kv = (key: string, value: string) => ({ __typename: 'KeyValue', key, value }) as const;

function alert(over: Partial<Alert> = {}): Alert {
  return {
    __typename: 'Alert',
    kind: 'ALERTMANAGER',
    status: 'FIRING',
    summary: 'Disk full on db-1',
    source: 'db-1',
    severity: 'critical',
    fingerprint: 'abc123',
    integration: { __typename: 'Integration', id: 'int1', name: 'Prometheus' },
    labels: [kv('alertname', 'DiskFull'), kv('instance', 'db-1:9100')],
    annotations: [kv('description', 'Only 2% left on /var')],
    fields: [kv('custom_details.db.host', 'db-1.internal')],
    links: [
      { __typename: 'AlertLink', href: 'https://grafana.example.com/d/abc', text: 'Dashboard' },
      { __typename: 'AlertLink', href: 'javascript:alert(1)', text: 'Click me' },
      { __typename: 'AlertLink', href: 'http://prom.example.com/graph?g0.expr=up', text: null },
    ],
    startsAt: '2026-11-30T10:00:00.000Z',
    endsAt: null,
    receivedAt: '2026-11-30T10:00:05.000Z',
    ...over,
  } as Alert;
}

describe('Alerts section', () => {
  it('shows each alert: status, summary, source, severity, labels as chips, annotations and fields, times', () => {
    render(<AlertsSection alerts={[alert(), alert({ status: 'RESOLVED', summary: 'CPU high', endsAt: '2026-11-30T11:00:00.000Z', links: [] })]} />);
    expect(screen.getByRole('heading', { level: 2, name: /Alerts/ })).toBeInTheDocument();
    const [firing, resolved] = screen.getAllByRole('article');
    expect(firing).toHaveAttribute('data-status', 'FIRING');
    expect(within(firing).getByRole('heading', { name: 'Disk full on db-1' })).toBeInTheDocument();
    expect(firing).toHaveTextContent('Status: Firing');
    expect(firing).toHaveTextContent('Severity: critical');
    expect(firing).toHaveTextContent('Sourcedb-1');
    expect(firing).toHaveTextContent('Alertmanager (Prometheus)');
    const chips = within(within(firing).getByRole('list', { name: 'Labels' })).getAllByRole('listitem');
    expect(chips.map((c) => c.textContent)).toEqual(['alertname=DiskFull', 'instance=db-1:9100']);
    expect(within(firing).getByText('description').tagName).toBe('DT');
    expect(within(firing).getByText('Only 2% left on /var').tagName).toBe('DD');
    expect(within(firing).getByText('custom_details.db.host')).toBeInTheDocument();
    expect(within(firing).getByText('Started').nextSibling?.textContent).not.toBe('');
    expect(within(firing).getByText('Received')).toBeInTheDocument();
    expect(resolved).toHaveTextContent('Status: Resolved');
    expect(within(resolved).getByText('Ended')).toBeInTheDocument();
  });

  it('renders only http(s) links as anchors, with rel noreferrer noopener; never javascript:', () => {
    render(<AlertsSection alerts={[alert()]} />);
    const links = screen.getAllByRole('link');
    expect(links.map((a) => a.getAttribute('href'))).toEqual([
      'https://grafana.example.com/d/abc',
      'http://prom.example.com/graph?g0.expr=up',
    ]);
    for (const a of links) expect(a).toHaveAttribute('rel', 'noreferrer noopener');
    expect(screen.queryByRole('link', { name: 'Click me' })).not.toBeInTheDocument();
    expect(screen.getByTestId('unsafe-link')).toHaveTextContent('Click me javascript:alert(1) (not a web link)');
    expect(document.querySelector('a[href^="javascript"]')).toBeNull();
  });

  it('tells safe hrefs from unsafe ones', () => {
    expect(safeHref('https://a.example/x')).toBe('https://a.example/x');
    expect(safeHref(' JavaScript:alert(1)')).toBeNull();
    expect(safeHref('data:text/html,<b>x</b>')).toBeNull();
    expect(safeHref('/relative/path')).toBeNull();
    expect(safeHref('java\nscript:alert(1)')).toBeNull();
  });

  it('is hidden when there are no alerts', () => {
    const { container } = render(<AlertsSection alerts={[]} />);
    expect(container).toBeEmptyDOMElement();
  });

  it('appears on the incident page only when the incident has alerts', () => {
    const withAlerts = incident({ title: 'Disk full' });
    const m = mockClient({ query: () => ({ data: { incident: { ...withAlerts, alerts: [alert()] } } }) });
    const { unmount } = render(
      <Wrapper client={m.client}>
        <IncidentPage id={withAlerts.id} />
      </Wrapper>,
    );
    expect(screen.getByTestId('incident-alerts')).toHaveTextContent('Disk full on db-1');
    unmount();
    const none = incident({ title: 'By hand' });
    const m2 = mockClient({ query: () => ({ data: { incident: { ...none, alerts: [] } } }) });
    render(
      <Wrapper client={m2.client}>
        <IncidentPage id={none.id} />
      </Wrapper>,
    );
    expect(screen.getByRole('heading', { level: 1, name: 'By hand' })).toBeInTheDocument();
    expect(screen.queryByTestId('incident-alerts')).not.toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: /^Alerts/ })).not.toBeInTheDocument();
  });

  it('reads the alerts again when an event shows a new alert folded in', async () => {
    const i = incident({ title: 'Disk full', alertCount: 1 } as never);
    let alerts = [alert()];
    const m = mockClient({ query: () => ({ data: { incident: { ...i, alertCount: alerts.length, alerts } } }) });
    render(
      <Wrapper client={m.client}>
        <IncidentPage id={i.id} />
      </Wrapper>,
    );
    expect(screen.getAllByRole('article')).toHaveLength(1);
    const incidentQueries = () => m.raw.executeQuery.mock.calls.filter(([op]) => 'id' in ((op.variables as object) ?? {})).length;
    const before = incidentQueries();
    // The same count: nothing to read again.
    act(() => m.emit({ __typename: 'IncidentEvent', kind: 'ACKNOWLEDGED', at: new Date().toISOString(), incident: { ...i, state: 'ACKNOWLEDGED', alertCount: 1 } } as never));
    expect(incidentQueries()).toBe(before);
    alerts = [alert(), alert({ summary: 'Disk full on db-2' })];
    act(() => m.emit({ __typename: 'IncidentEvent', kind: 'TRIGGERED', at: new Date().toISOString(), incident: { ...i, alertCount: 2 } } as never));
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Disk full on db-2' })).toBeInTheDocument());
    expect(incidentQueries()).toBeGreaterThan(before);
  });
});
