import { describe, expect, it } from 'vitest';
import { act, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Operation } from 'urql';
import { HeartbeatsSection, intervalMs, validateHeartbeat } from './ScheduleHeartbeats';
import { Wrapper, badInput, mockClient } from '../test/mockClient';
import type { Heartbeat, Role } from '../queries';
import { formatInterval } from '../lib/time';

const URL_ = 'https://klaxon.example.com/heartbeats/0123456789abcdef0123456789abcdef';

function hb(over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    __typename: 'Heartbeat',
    id: 'hb1',
    name: 'Nightly backup',
    intervalMs: 600_000,
    url: URL_,
    lastBeatAt: null,
    state: 'INACTIVE',
    nextDeadlineAt: null,
    createdAt: '2026-11-30T10:00:00.000Z',
    incident: null,
    ...over,
  } as Heartbeat;
}

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;

function section(list: Heartbeat[], opts: { role?: Role; mutation?: NonNullable<Parameters<typeof mockClient>[0]>['mutation'] } = {}) {
  const m = mockClient({
    role: opts.role,
    query: (op) => (opName(op) === 'ScheduleHeartbeats' ? { data: { schedule: { __typename: 'Schedule', id: 'sc1', heartbeats: list } } } : (undefined as never)),
    mutation: opts.mutation,
  });
  render(
    <Wrapper client={m.client}>
      <HeartbeatsSection scheduleId="sc1" />
    </Wrapper>,
  );
  return m;
}

describe('Heartbeats section', () => {
  it("reads the list again at once when one of this schedule's outages opens or closes, and not for other incidents", () => {
    const m = section([hb({ state: 'HEALTHY' })]);
    const reads = () => m.raw.executeQuery.mock.calls.filter(([op]) => opName(op) === 'ScheduleHeartbeats').length;
    const before = reads();
    const event = (dedupKey: string | null, scheduleId: string, kind = 'TRIGGERED') =>
      ({
        __typename: 'IncidentEvent',
        kind,
        at: new Date().toISOString(),
        incident: { __typename: 'Incident', id: 'i1', title: 'Heartbeat Nightly backup missed', dedupKey, schedule: { __typename: 'Schedule', id: scheduleId, name: 'x' } },
      }) as never;
    act(() => m.emit(event('checkout-latency', 'sc1')));
    act(() => m.emit(event('heartbeat:hb9', 'sc2')));
    // Working the outage (acknowledging it) does not change the heartbeat.
    act(() => m.emit(event('heartbeat:hb1', 'sc1', 'ACKNOWLEDGED')));
    expect(reads()).toBe(before);
    act(() => m.emit(event('heartbeat:hb1', 'sc1')));
    expect(reads()).toBe(before + 1);
    act(() => m.emit(event('heartbeat:hb1', 'sc1', 'RESOLVED')));
    expect(reads()).toBe(before + 2);
  });

  it('lists each heartbeat with interval in words, a state in text, last beat, deadline and the outage link', () => {
    section([
      hb(),
      hb({ id: 'hb2', name: 'Queue worker', intervalMs: 2 * 86_400_000, state: 'HEALTHY', lastBeatAt: new Date(Date.now() - 60_000).toISOString(), nextDeadlineAt: new Date(Date.now() + 3_600_000).toISOString() }),
      hb({ id: 'hb3', name: 'Mailer', intervalMs: 90_000, state: 'UNHEALTHY', lastBeatAt: '2026-11-30T10:00:00.000Z', incident: { __typename: 'Incident', id: 'i9', title: 'Heartbeat Mailer missed' } as never }),
    ]);
    const [a, b, c] = within(screen.getByTestId('heartbeats')).getAllByRole('listitem');
    expect(a).toHaveTextContent('Inactive');
    expect(a).toHaveTextContent('10 min');
    expect(a).toHaveTextContent('Last beatnever');
    expect(b).toHaveTextContent('Healthy');
    expect(b).toHaveTextContent('2 d');
    expect(b).toHaveTextContent('1 min ago');
    expect(b).toHaveTextContent('Pages if silent until');
    expect(c).toHaveTextContent('Unhealthy');
    expect(c).toHaveTextContent('1 min 30 s');
    expect(within(c).getByRole('link', { name: 'Heartbeat Mailer missed' })).toHaveAttribute('href', '/incidents/i9');
    expect(within(a).getByLabelText('Check-in URL')).toHaveValue(URL_);
    expect(screen.getByRole('button', { name: 'Copy check-in URL of Nightly backup' })).toBeInTheDocument();
    expect(within(a).getByLabelText('Cron example for Nightly backup')).toHaveTextContent(`curl -fsS -X POST ${URL_}`);
  });

  it('offers a VIEWER the URL but no create or delete', () => {
    section([hb()], { role: 'VIEWER' });
    expect(screen.getByLabelText('Check-in URL')).toHaveValue(URL_);
    expect(screen.queryByRole('form', { name: 'Add heartbeat' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Delete/ })).not.toBeInTheDocument();
  });

  it('checks the interval is a number from 1 second to 30 days', () => {
    expect(intervalMs('10', 'min')).toBe(600_000);
    expect(intervalMs('1.5', 'h')).toBe(5_400_000);
    expect(intervalMs('ten', 's')).toBeNull();
    const v = (amount: string, unit: 's' | 'min' | 'h' | 'd') => validateHeartbeat({ name: 'x', amount, unit }).intervalMs;
    expect(v('1', 's')).toBeUndefined();
    expect(v('30', 'd')).toBeUndefined();
    expect(v('0.5', 's')).toMatch(/between 1 second and 30 days/);
    expect(v('31', 'd')).toMatch(/between 1 second and 30 days/);
    expect(v('', 'min')).toMatch(/as a number/);
    expect(formatInterval(86_400_000 + 6 * 3_600_000)).toBe('1 d 6 h');
  });

  it('refuses an interval out of range before sending, then creates with intervalMs', async () => {
    const m = section([], { mutation: () => ({ data: { createHeartbeat: hb() } }) });
    await userEvent.type(screen.getByLabelText('Heartbeat name'), 'Nightly backup');
    const amount = screen.getByLabelText('Page when silent for');
    await userEvent.clear(amount);
    await userEvent.type(amount, '31');
    await userEvent.selectOptions(screen.getByLabelText('Unit'), 'd');
    await userEvent.click(screen.getByRole('button', { name: 'Add heartbeat' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(amount).toHaveAccessibleDescription(/between 1 second and 30 days/);
    expect(amount).toHaveAttribute('aria-invalid', 'true');

    await userEvent.clear(amount);
    await userEvent.type(amount, '2');
    await userEvent.selectOptions(screen.getByLabelText('Unit'), 'h');
    await userEvent.click(screen.getByRole('button', { name: 'Add heartbeat' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { scheduleId: 'sc1', name: 'Nightly backup', intervalMs: 7_200_000 },
    });
    expect(await screen.findByText(/inactive until its first beat/)).toBeInTheDocument();
  });

  it('shows the server\'s intervalMs error under the interval field', async () => {
    section([], { mutation: () => ({ error: badInput('intervalMs: must be at least 1000', 'intervalMs') }) });
    await userEvent.type(screen.getByLabelText('Heartbeat name'), 'x');
    await userEvent.click(screen.getByRole('button', { name: 'Add heartbeat' }));
    expect(await screen.findByText('Must be at least 1000')).toBeInTheDocument();
    expect(screen.getByLabelText('Page when silent for')).toHaveAttribute('aria-invalid', 'true');
  });

  it('deletes after a confirmation', async () => {
    const m = section([hb()], { mutation: () => ({ data: { deleteHeartbeat: 'hb1' } }) });
    await userEvent.click(screen.getByRole('button', { name: 'Delete Nightly backup' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ id: 'hb1' });
  });
});
