import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { IncidentPage, timeline } from './IncidentPage';
import { Wrapper, alice, bob, incident, mockClient, systemActor, userActor } from '../test/mockClient';

const full = () =>
  incident({
    title: 'Payments down',
    state: 'RESOLVED',
    escalationLevel: 1,
    triggeredAt: '2026-11-27T01:00:00.000Z',
    acknowledgedAt: '2026-11-27T01:07:00.000Z',
    resolvedAt: '2026-11-27T01:20:00.000Z',
    assignedTo: bob,
    acknowledgedBy: userActor(bob),
    resolvedBy: { __typename: 'Actor', kind: 'API_TOKEN', name: 'Deploy bot', user: null },
    escalationHistory: [
      { __typename: 'EscalationEvent', fromLevel: 0, toLevel: 1, reason: 'TIMEOUT', at: '2026-11-27T01:05:00.000Z', to: bob, actor: systemActor },
    ],
    notifications: [
      { __typename: 'Notification', id: 'n1', channel: 'log', reason: 'triggered', at: '2026-11-27T01:00:00.000Z', delivered: true, user: alice },
      { __typename: 'Notification', id: 'n2', channel: 'log', reason: 'escalated', at: '2026-11-27T01:05:00.000Z', delivered: true, user: bob },
    ],
  } as never);

describe('incident timeline', () => {
  it('lists trigger, escalation with reason, notifications, acknowledge and resolve in order', () => {
    const t = timeline(full());
    expect(t.map((x) => x.title)).toEqual([
      'Triggered',
      'Notified Alice Ng',
      'Escalated from level 0 to level 1',
      'Notified Bob Ode',
      'Acknowledged by Bob Ode',
      'Resolved by the API token Deploy bot',
    ]);
  });

  it('says who escalated: the timer for a timeout, otherwise the person', () => {
    const i = full();
    const manual = {
      ...i,
      escalationHistory: [{ ...i.escalationHistory[0], reason: 'MANUAL' as const, actor: userActor(alice) }],
    };
    render(<>{timeline(i).find((t) => t.kind === 'escalated')!.detail}</>);
    expect(screen.getByText(/Escalated by the timer\./)).toBeInTheDocument();
    render(<>{timeline(manual).find((t) => t.kind === 'escalated')!.detail}</>);
    expect(screen.getByText(/Escalated by Alice Ng\./)).toBeInTheDocument();
  });

  it('renders the page with the reason in words and buttons disabled once resolved', () => {
    const i = full();
    const m = mockClient({ query: () => ({ data: { incident: i } }) });
    render(
      <Wrapper client={m.client}>
        <IncidentPage id={i.id} />
      </Wrapper>,
    );
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Payments down');
    const tl = screen.getByRole('region', { name: 'Timeline' });
    expect(within(tl).getByText(/not acknowledged within 5 min/)).toBeInTheDocument();
    expect(within(tl).getAllByRole('listitem')).toHaveLength(6);
    for (const name of ['Acknowledge', 'Resolve', 'Escalate']) {
      expect(screen.getByRole('button', { name })).toBeDisabled();
    }
    // Times carry the exact UTC instant for hovering.
    expect(within(tl).getAllByText((_, el) => el?.tagName === 'TIME')[0]).toHaveAttribute(
      'title',
      '2026-11-27 01:00:00.000 UTC',
    );
  });
});
