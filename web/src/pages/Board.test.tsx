import { describe, expect, it } from 'vitest';
import { act, render, screen, within } from '@testing-library/react';
import { Board } from './Board';
import { getConnection, setConnection } from '../connection';
import { Wrapper, alice, incident, mockClient } from '../test/mockClient';
import type { Incident } from '../queries';

function boardData(open: Incident[], resolved = 0) {
  return {
    triggered: { __typename: 'IncidentConnection', totalCount: open.filter((i) => i.state === 'TRIGGERED').length, nodes: open.filter((i) => i.state === 'TRIGGERED') },
    acknowledged: { __typename: 'IncidentConnection', totalCount: open.filter((i) => i.state === 'ACKNOWLEDGED').length, nodes: open.filter((i) => i.state === 'ACKNOWLEDGED') },
    resolved: { __typename: 'IncidentConnection', totalCount: resolved },
    schedules: [
      {
        __typename: 'Schedule',
        id: 'sc1',
        name: 'Payments on call',
        service: { __typename: 'Service', id: 's1', name: 'Payment API' },
        onCall: alice,
        rotation: [{ __typename: 'RotationEntry', startTime: '2020-01-01T00:00:00Z', endTime: '2099-01-01T00:00:00Z', user: alice }],
        escalationPolicy: { __typename: 'EscalationPolicy', initialTimeoutMs: 300000, escalationLevels: [] },
      },
      {
        __typename: 'Schedule',
        id: 'sc2',
        name: 'Search on call',
        service: { __typename: 'Service', id: 's2', name: 'Search' },
        onCall: null,
        rotation: [],
        escalationPolicy: { __typename: 'EscalationPolicy', initialTimeoutMs: 300000, escalationLevels: [] },
      },
    ],
  };
}

const titles = () => within(screen.getByTestId('open-incidents')).getAllByRole('heading', { level: 3 }).map((h) => h.textContent);

describe('Board', () => {
  it('shows open incidents most severe and newest first, counts and who is on call', () => {
    const low = incident({ title: 'Disk 80%', severity: 'LOW', triggeredAt: new Date().toISOString() });
    const high = incident({ title: 'Payments down', severity: 'HIGH', triggeredAt: new Date(Date.now() - 240_000).toISOString() });
    const acked = incident({ title: 'Slow search', severity: 'MEDIUM', state: 'ACKNOWLEDGED', acknowledgedAt: new Date().toISOString() });
    const m = mockClient({ query: () => ({ data: boardData([low, high, acked], 7) }) });
    render(
      <Wrapper client={m.client}>
        <Board />
      </Wrapper>,
    );
    expect(titles()).toEqual(['Payments down', 'Slow search', 'Disk 80%']);
    expect(screen.getByTestId('count-TRIGGERED')).toHaveTextContent('2');
    expect(screen.getByTestId('count-ACKNOWLEDGED')).toHaveTextContent('1');
    expect(screen.getByTestId('count-RESOLVED')).toHaveTextContent('7');
    expect(screen.getByText('4 min ago')).toBeInTheDocument();
    const card = screen.getByRole('article', { name: 'Payments down' });
    expect(within(card).getByText('Payment API')).toBeInTheDocument();
    expect(within(card).getByText('Alice Ng')).toBeInTheDocument();
    expect(within(card).getByText('Level 0 of 1 (on call)')).toBeInTheDocument();
    const oncall = screen.getByRole('region', { name: 'On call now' });
    expect(within(oncall).getByText('Alice Ng')).toBeInTheDocument();
    expect(within(oncall).getByText('Nobody on call')).toBeInTheDocument();
  });

  it('adds, updates and removes incidents from subscription events without refetching', () => {
    const first = incident({ title: 'Payments down', severity: 'MEDIUM' });
    const m = mockClient({ query: () => ({ data: boardData([first]) }) });
    render(
      <Wrapper client={m.client}>
        <Board />
      </Wrapper>,
    );
    const queries = m.raw.executeQuery.mock.calls.length;
    const fresh = incident({ title: 'Database on fire', severity: 'HIGH', triggeredAt: new Date().toISOString() });
    act(() => m.emit({ __typename: 'IncidentEvent', kind: 'TRIGGERED', at: fresh.triggeredAt, incident: fresh } as never));
    expect(titles()).toEqual(['Database on fire', 'Payments down']);
    expect(screen.getByTestId('count-TRIGGERED')).toHaveTextContent('2');

    const acked = { ...fresh, state: 'ACKNOWLEDGED' as const, acknowledgedAt: new Date(Date.now() + 1000).toISOString() };
    act(() => m.emit({ __typename: 'IncidentEvent', kind: 'ACKNOWLEDGED', at: acked.acknowledgedAt, incident: acked } as never));
    const card = screen.getByRole('article', { name: 'Database on fire' });
    expect(within(card).getByText('Acknowledged')).toBeInTheDocument();
    expect(within(card).getByRole('button', { name: 'Acknowledge' })).toBeDisabled();
    expect(screen.getByTestId('count-ACKNOWLEDGED')).toHaveTextContent('1');

    const resolved = { ...first, state: 'RESOLVED' as const, resolvedAt: new Date(Date.now() + 2000).toISOString() };
    act(() => m.emit({ __typename: 'IncidentEvent', kind: 'RESOLVED', at: resolved.resolvedAt, incident: resolved } as never));
    expect(titles()).toEqual(['Database on fire']);
    expect(screen.getByTestId('count-RESOLVED')).toHaveTextContent('1');
    // All of that came from events: no query was sent yet (a refetch follows later, throttled).
    expect(m.raw.executeQuery.mock.calls.length).toBe(queries);
  });

  it('refetches from the network after the live connection comes back', () => {
    const m = mockClient({ query: () => ({ data: boardData([]) }) });
    render(
      <Wrapper client={m.client}>
        <Board />
      </Wrapper>,
    );
    const before = m.raw.executeQuery.mock.calls.length;
    act(() => setConnection({ state: 'connected', reconnects: getConnection().reconnects + 1 }));
    const calls = m.raw.executeQuery.mock.calls.slice(before);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.some((c) => (c as unknown[])[1] && ((c as unknown[])[1] as { requestPolicy?: string }).requestPolicy === 'network-only')).toBe(true);
  });
});
