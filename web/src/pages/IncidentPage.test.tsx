import { describe, expect, it } from 'vitest';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { IncidentPage, sortedTimeline } from './IncidentPage';
import { NOTE_MAX } from '../components/IncidentDepth';
import { Wrapper, alice, badInput, bob, entry, incident, mockClient, systemActor, userActor } from '../test/mockClient';
import type { Incident } from '../queries';

const tl = [
  entry('TRIGGERED', '2026-11-27T01:00:00.000Z', 'Triggered: HIGH on Payment API', { __typename: 'Actor', kind: 'INTEGRATION', name: 'Grafana', user: null }),
  entry('NOTIFIED', '2026-11-27T01:00:01.000Z', 'Paged Alice Ng by log'),
  entry('ESCALATED', '2026-11-27T01:05:00.000Z', 'Escalated from level 0 to level 1: not acknowledged within 5 min', systemActor),
  entry('ACKNOWLEDGED', '2026-11-27T01:07:00.000Z', 'Acknowledged', userActor(bob)),
  entry('NOTE', '2026-11-27T01:08:00.000Z', 'Rolled back the deploy.\nWatching.', userActor(bob)),
  entry('RESOLVED', '2026-11-27T01:20:00.000Z', 'Resolved', { __typename: 'Actor', kind: 'API_TOKEN', name: 'Deploy bot', user: null }),
];

const full = (over: Partial<Incident> = {}) =>
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
    timeline: tl,
    ...over,
  } as never);

const open = (over: Partial<Incident> = {}) =>
  full({ state: 'ACKNOWLEDGED', resolvedAt: null, resolvedBy: null, timeline: tl.slice(0, 4), ...over } as never);

function page(i: Incident, opts: Parameters<typeof mockClient>[0] = {}) {
  const m = mockClient({
    query: (op) => {
      const name = (op.query.definitions[0] as { name?: { value: string } }).name?.value;
      if (name === 'Pickers')
        return {
          data: { users: [alice, bob], services: [], schedules: [] },
        };
      return { data: { incident: i } };
    },
    ...opts,
  });
  render(
    <Wrapper client={m.client}>
      <IncidentPage id={i.id} />
    </Wrapper>,
  );
  return m;
}

const mutationsNamed = (m: ReturnType<typeof mockClient>, name: string) =>
  m.raw.executeMutation.mock.calls.filter(
    ([op]) => (op.query.definitions[0] as { name?: { value: string } }).name?.value === name,
  );

describe('incident timeline', () => {
  it('keeps the server order for entries at the same instant', () => {
    const a = entry('TRIGGERED', '2026-11-27T01:00:00.000Z', 'a');
    const b = entry('NOTIFIED', '2026-11-27T01:00:00.000Z', 'b');
    const c = entry('NOTE', '2026-11-26T01:00:00.000Z', 'c');
    expect(sortedTimeline([a, b, c] as never).map((e) => e.message)).toEqual(['c', 'a', 'b']);
  });

  it('shows each entry’s kind, actor, message and time (UTC on hover); buttons disabled once resolved', () => {
    page(full());
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Payments down');
    const region = screen.getByRole('region', { name: 'Timeline' });
    const items = within(region).getAllByRole('listitem');
    expect(items).toHaveLength(6);
    expect(items[0]).toHaveTextContent('Triggered');
    expect(items[0]).toHaveTextContent('the integration Grafana');
    expect(items[2]).toHaveTextContent('Escalated');
    expect(items[2]).toHaveTextContent('not acknowledged within 5 min');
    expect(items[3]).toHaveTextContent('Bob Ode');
    expect(items[4]).toHaveAttribute('data-kind', 'NOTE');
    expect(within(items[4]).getByText(/Rolled back the deploy/)).toBeInTheDocument();
    expect(items[5]).toHaveTextContent('the API token Deploy bot');
    expect(within(items[0]).getByText((_, el) => el?.tagName === 'TIME')).toHaveAttribute('title', '2026-11-27 01:00:00.000 UTC');
    for (const name of ['Acknowledge', 'Resolve', 'Escalate']) {
      expect(screen.getByRole('button', { name })).toBeDisabled();
    }
    // No snooze or reassign on a resolved incident.
    expect(screen.queryByRole('button', { name: 'Snooze…' })).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Reassign to')).not.toBeInTheDocument();
  });

  it('says when a snoozed incident and an acknowledged one return to triggered', () => {
    page(open({ snoozedUntil: '2026-11-27T02:00:00.000Z', acknowledgeTimeoutAt: '2026-11-27T03:00:00.000Z' } as never));
    expect(screen.getByTestId('snoozed-until')).toHaveTextContent(/^Snoozed until/);
    expect(screen.getByTestId('ack-timeout')).toHaveTextContent(/^Returns to triggered at/);
  });

  it('refreshes the timeline when someone else adds a note (NOTE_ADDED)', async () => {
    const i = open();
    const m = page(i);
    const region = screen.getByRole('region', { name: 'Timeline' });
    expect(within(region).getAllByRole('listitem')).toHaveLength(4);
    const note = entry('NOTE', '2026-11-27T01:09:00.000Z', 'Looking at the database.', userActor(alice));
    act(() =>
      m.emit({ __typename: 'IncidentEvent', kind: 'NOTE_ADDED', at: note.at, incident: { ...i, timeline: [...i.timeline, note] } } as never),
    );
    expect(await within(region).findByText('Looking at the database.')).toBeInTheDocument();
    // …and it reads the incident again to be exact.
    await waitFor(() =>
      expect(
        m.raw.executeQuery.mock.calls.some(
          (call) => (call as unknown[])[1] && ((call as unknown[])[1] as { requestPolicy?: string }).requestPolicy === 'network-only',
        ),
      ).toBe(true),
    );
  });
});

describe('note box', () => {
  it('sends the note, clears the box and shows the new entry', async () => {
    const i = open();
    const note = entry('NOTE', '2026-11-27T01:09:00.000Z', 'Paging the DBA.', userActor(alice));
    const m = page(i, { mutation: () => ({ data: { addNote: { ...i, timeline: [...i.timeline, note] } } }) });
    const box = screen.getByLabelText('Add a note');
    await userEvent.type(box, 'Paging the DBA.');
    expect(screen.getByTestId('note-counter')).toHaveTextContent(`15 / ${NOTE_MAX.toLocaleString('en')}`);
    await userEvent.click(screen.getByRole('button', { name: 'Add note' }));
    const calls = mutationsNamed(m, 'AddNote');
    expect(calls).toHaveLength(1);
    expect(calls[0][0].variables).toEqual({ incidentId: i.id, text: 'Paging the DBA.' });
    expect(box).toHaveValue('');
    expect(await within(screen.getByRole('region', { name: 'Timeline' })).findByText('Paging the DBA.')).toBeInTheDocument();
  });

  it('refuses an empty note without sending, and shows a server error under the field', async () => {
    const m = page(open(), { mutation: () => ({ error: badInput('text: must be at most 10000 characters', 'text') }) });
    const box = screen.getByLabelText('Add a note');
    await userEvent.click(screen.getByRole('button', { name: 'Add note' }));
    expect(mutationsNamed(m, 'AddNote')).toHaveLength(0);
    expect(box).toHaveAccessibleDescription(/Write something first\./);
    expect(box).toHaveAttribute('aria-invalid', 'true');
    await userEvent.type(box, 'x');
    await userEvent.click(screen.getByRole('button', { name: 'Add note' }));
    expect(await screen.findByText('Must be at most 10000 characters')).toBeInTheDocument();
    expect(box).toHaveAccessibleDescription(/Must be at most 10000 characters/);
    expect(box).toHaveValue('x');
  });

  it('refuses a note over 10,000 characters', async () => {
    const m = page(open());
    const box = screen.getByLabelText('Add a note');
    // Typing 10,001 characters one by one is slow; paste them.
    box.focus();
    await userEvent.paste('y'.repeat(NOTE_MAX + 1));
    await userEvent.click(screen.getByRole('button', { name: 'Add note' }));
    expect(mutationsNamed(m, 'AddNote')).toHaveLength(0);
    expect(box).toHaveAccessibleDescription(/at most 10,000 characters; this one has 10,001/);
  });
});

describe('snooze and reassign', () => {
  it('snoozes for the chosen duration', async () => {
    const i = open();
    const m = page(i, {
      mutation: () => ({ data: { snoozeIncident: { ...i, snoozedUntil: '2026-11-27T05:07:00.000Z' } } }),
    });
    await userEvent.click(screen.getByRole('button', { name: 'Snooze…' }));
    expect(screen.getByRole('button', { name: 'Snooze…' })).toHaveAttribute('aria-expanded', 'true');
    await userEvent.click(screen.getByRole('button', { name: '4 hours' }));
    const calls = mutationsNamed(m, 'SnoozeIncident');
    expect(calls).toHaveLength(1);
    expect(calls[0][0].variables).toEqual({ id: i.id, durationMs: 4 * 3_600_000 });
    expect(await screen.findByTestId('snoozed-until')).toHaveTextContent('Snoozed until');
  });

  it('15 minutes is 900000 ms', async () => {
    const i = open();
    const m = page(i);
    await userEvent.click(screen.getByRole('button', { name: 'Snooze…' }));
    await userEvent.click(screen.getByRole('button', { name: '15 minutes' }));
    expect(mutationsNamed(m, 'SnoozeIncident')[0][0].variables).toEqual({ id: i.id, durationMs: 900_000 });
  });

  it('reassigns to the chosen user', async () => {
    const i = open({ assignedTo: bob });
    const m = page(i, { mutation: () => ({ data: { reassignIncident: { ...i, assignedTo: alice } } }) });
    const select = screen.getByLabelText('Reassign to');
    // The current assignee is not offered.
    expect(within(select).queryByRole('option', { name: 'Bob Ode' })).not.toBeInTheDocument();
    await userEvent.selectOptions(select, 'u1');
    await userEvent.click(screen.getByRole('button', { name: 'Reassign' }));
    expect(mutationsNamed(m, 'ReassignIncident')[0][0].variables).toEqual({ id: i.id, userId: 'u1' });
    expect(await screen.findByText('Reassigned to Alice Ng.')).toBeInTheDocument();
  });

  it('a VIEWER gets no note box, snooze or reassign', async () => {
    page(open(), { role: 'VIEWER' });
    await screen.findByRole('heading', { level: 1, name: 'Payments down' });
    expect(screen.getByRole('region', { name: 'Timeline' })).toBeInTheDocument();
    expect(screen.queryByLabelText('Add a note')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Add note' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Snooze…' })).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Reassign to')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Acknowledge' })).not.toBeInTheDocument();
  });
});

describe('incident notifications', () => {
  it('lists who was paged, how, and whether it got through', () => {
    page(
      full({
        notifications: [
          {
            __typename: 'Notification',
            id: 'n1',
            channel: 'webhook',
            reason: 'triggered',
            at: '2026-11-27T01:00:01.000Z',
            delivered: false,
            status: 'FAILED',
            attempts: 3,
            lastError: 'connection refused',
            contactMethod: { __typename: 'ContactMethod', id: 'cm1', kind: 'WEBHOOK', name: 'Bridge' },
            user: bob,
          },
        ],
      } as never),
    );
    const row = within(screen.getByRole('region', { name: 'Notifications' })).getAllByRole('row')[1];
    expect(row).toHaveTextContent('Bob Ode');
    expect(row).toHaveTextContent('Webhook “Bridge”');
    expect(row).toHaveTextContent('Failed');
    expect(row).toHaveTextContent('connection refused');
  });
});
