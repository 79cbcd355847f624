import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ScheduleForm, validateSchedule, initialScheduleValues } from './ScheduleForm';
import { Wrapper, alice, badInput, bob, mockClient } from '../test/mockClient';
import type { Operation } from 'urql';

const pickers = {
  users: [alice, bob],
  services: [{ __typename: 'Service', id: 's1', name: 'Payment API' }],
  schedules: [{ __typename: 'Schedule', id: 'sc2', name: 'Database on call', service: { __typename: 'Service', id: 's1', name: 'Payment API' } }],
};

function setup(mutation?: (op: Operation) => { data?: unknown; error?: ReturnType<typeof badInput> }) {
  const m = mockClient({ query: () => ({ data: pickers }), mutation });
  const onDone = vi.fn();
  render(
    <Wrapper client={m.client}>
      <ScheduleForm onDone={onDone} />
    </Wrapper>,
  );
  return { m, onDone };
}

const set = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });
const submit = () => userEvent.click(screen.getByRole('button', { name: 'Create schedule' }));

describe('Create schedule form', () => {
  it('starts with one rotation entry and asks for name, service and person', async () => {
    const { m } = setup();
    expect(screen.getAllByTestId('rotation-entry')).toHaveLength(1);
    await submit();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Schedule name')).toHaveAccessibleDescription(/Give the schedule a name/);
    expect(screen.getByLabelText('Service')).toHaveAccessibleDescription(/Choose the service/);
    expect(screen.getByLabelText('On call (entry 1)')).toHaveAccessibleDescription('Choose who is on call.');
  });

  it('requires each shift to end after it starts', async () => {
    const { m } = setup();
    set('Schedule name', 'Payments on call');
    set('Service', 's1');
    set('On call (entry 1)', 'u1');
    set('Start (entry 1)', '2026-12-02T09:00');
    set('End (entry 1)', '2026-12-01T09:00');
    await submit();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('End (entry 1)')).toHaveAccessibleDescription('The end must be after the start.');
    set('End (entry 1)', '2026-12-02T09:00');
    await submit();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
  });

  it('sends rotation entries in UTC and escalation timeouts in milliseconds', async () => {
    const sched = { __typename: 'Schedule', id: 'sc9', name: 'Payments on call' };
    const { m, onDone } = setup(() => ({ data: { createSchedule: sched } }));
    set('Schedule name', ' Payments on call ');
    set('Service', 's1');
    set('On call (entry 1)', 'u1');
    set('Start (entry 1)', '2026-12-01T09:00');
    set('End (entry 1)', '2026-12-08T09:00');
    await userEvent.click(screen.getByRole('button', { name: 'Add rotation entry' }));
    expect(screen.getAllByTestId('rotation-entry')).toHaveLength(2);
    // The next entry starts where the previous one ended, same length.
    expect(screen.getByLabelText('Start (entry 2)')).toHaveValue('2026-12-08T09:00');
    expect(screen.getByLabelText('End (entry 2)')).toHaveValue('2026-12-15T09:00');
    set('On call (entry 2)', 'u2');
    set('Escalate after (minutes, level 0)', '2.5');
    await userEvent.click(screen.getByRole('button', { name: 'Add escalation level' }));
    set('Level 1 pages', 'u2');
    set('Level 1 escalates after (minutes)', '15');
    await submit();
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: {
        name: 'Payments on call',
        serviceId: 's1',
        rotation: [
          { userId: 'u1', startTime: new Date('2026-12-01T09:00').toISOString(), endTime: new Date('2026-12-08T09:00').toISOString() },
          { userId: 'u2', startTime: new Date('2026-12-08T09:00').toISOString(), endTime: new Date('2026-12-15T09:00').toISOString() },
        ],
        escalationPolicy: {
          initialTimeoutMs: 150_000,
          escalationLevels: [{ userId: 'u2', timeoutMs: 900_000 }],
          repeat: 0,
          acknowledgeTimeoutMs: null,
        },
      },
    });
    expect(onDone).toHaveBeenCalledWith(sched);
  });

  it('shows a server error for rotation[0].endTime beside that entry', async () => {
    setup(() => ({ error: badInput('endTime must be after startTime', 'rotation[0].endTime') }));
    set('Schedule name', 'Payments on call');
    set('Service', 's1');
    set('On call (entry 1)', 'u1');
    await submit();
    const end = screen.getByLabelText('End (entry 1)');
    expect(await screen.findByText('endTime must be after startTime')).toBeInTheDocument();
    expect(end).toHaveAttribute('aria-invalid', 'true');
    expect(end).toHaveAccessibleDescription('endTime must be after startTime');
  });

  it('checks escalation levels', () => {
    const v = initialScheduleValues('s1');
    v.name = 'x';
    v.rotation[0].userId = 'u1';
    v.initialTimeoutMin = '0';
    v.levels = [{ key: 1, userId: '', timeoutMin: 'abc' }];
    const e = validateSchedule(v);
    expect(e['escalationPolicy.initialTimeoutMs']).toMatch(/more than 0/);
    expect(e['escalationPolicy.escalationLevels[0].userId']).toBeTruthy();
    expect(e['escalationPolicy.escalationLevels[0].timeoutMs']).toBeTruthy();
  });

  it('sends a time zone, rotation layers and a schedule escalation target', async () => {
    const { m } = setup(() => ({ data: { createSchedule: { __typename: 'Schedule', id: 'sc9', name: 'x' } } }));
    set('Schedule name', 'Payments on call');
    set('Service', 's1');
    set('Time zone (optional)', 'America/New_York');
    await userEvent.click(screen.getByRole('button', { name: 'Remove rotation entry 1' }));
    await userEvent.click(screen.getByRole('button', { name: 'Add rotation layer' }));
    expect(screen.getByLabelText('Time zone (layer 1)')).toHaveValue('America/New_York');
    set('Rotation name (layer 1)', 'Primary');
    set('First handoff (layer 1)', '2026-12-01T09:00');
    set('Unit (layer 1)', 'DAY');
    // Participants are required before anything is sent.
    await submit();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Participant to add (layer 1)')).toHaveAccessibleDescription('Add at least one participant.');
    set('Participant to add (layer 1)', 'u2');
    await userEvent.click(screen.getByRole('button', { name: 'Add participant (layer 1)' }));
    await userEvent.click(screen.getByRole('button', { name: 'Add escalation level' }));
    set('Level 1 target', 'schedule');
    set('Level 1 pages whoever is on call for', 'sc2');
    await submit();
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    const input = m.raw.executeMutation.mock.calls[0][0].variables!.input;
    expect(input.timeZone).toBe('America/New_York');
    expect(input.rotation).toEqual([]);
    expect(input.rotations).toEqual([
      {
        name: 'Primary',
        timeZone: 'America/New_York',
        start: '2026-12-01T14:00:00.000Z',
        shiftLength: 1,
        shiftUnit: 'DAY',
        participants: ['u2'],
        restriction: null,
      },
    ]);
    expect(input.escalationPolicy.escalationLevels).toEqual([{ scheduleId: 'sc2', timeoutMs: 600_000 }]);
  });

  it('shows a server error for rotations[0].shiftLength beside that layer', async () => {
    setup(() => ({ error: badInput('shiftLength: must be between 1 and 8760 (got 9000)', 'rotations[0].shiftLength') }));
    set('Schedule name', 'Payments on call');
    set('Service', 's1');
    set('On call (entry 1)', 'u1');
    await userEvent.click(screen.getByRole('button', { name: 'Add rotation layer' }));
    set('Rotation name (layer 1)', 'Primary');
    set('Participant to add (layer 1)', 'u1');
    await userEvent.click(screen.getByRole('button', { name: 'Add participant (layer 1)' }));
    await submit();
    const len = screen.getByLabelText('Shift length (layer 1)');
    await screen.findByText('Must be between 1 and 8760 (got 9000)');
    expect(len).toHaveAttribute('aria-invalid', 'true');
    // Focus moves after the render that shows the error (a timeout in the form).
    await waitFor(() => expect(len).toHaveFocus());
  });
});

describe('repeat and acknowledge timeout', () => {
  const fillBasics = () => {
    set('Schedule name', 'Payments on call');
    set('Service', 's1');
    set('On call (entry 1)', 'u1');
  };
  const REPEAT = 'Repeat the policy (times)';
  const ACK = /Return acknowledged incidents to triggered after/;

  it('sends repeat and acknowledgeTimeoutMs (minutes → ms)', async () => {
    const { m } = setup(() => ({ data: { createSchedule: { __typename: 'Schedule', id: 'sc9', name: 'x' } } }));
    fillBasics();
    set(REPEAT, '3');
    set(ACK, '30');
    await submit();
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    const policy = m.raw.executeMutation.mock.calls[0][0].variables!.input.escalationPolicy;
    expect(policy.repeat).toBe(3);
    expect(policy.acknowledgeTimeoutMs).toBe(1_800_000);
  });

  it('checks both before sending', async () => {
    const { m } = setup();
    fillBasics();
    set(REPEAT, '10');
    set(ACK, '20000');
    await submit();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText(REPEAT)).toHaveAccessibleDescription(/whole number from 0 to 9/);
    expect(screen.getByLabelText(ACK)).toHaveAccessibleDescription(/between 0.0167 \(1 s\) and 10080 \(7 days\)/);
    set(ACK, '0.001'); // 60 ms: under a second
    set(REPEAT, '1.5');
    await submit();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText(ACK)).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText(REPEAT)).toHaveAttribute('aria-invalid', 'true');
  });

  it('shows server errors for escalationPolicy.repeat and .acknowledgeTimeoutMs under their fields', async () => {
    setup(() => ({
      error: new (badInput('x').constructor as typeof import('urql').CombinedError)({
        graphQLErrors: [
          { message: 'repeat: must be between 0 and 9', extensions: { code: 'BAD_USER_INPUT', field: 'escalationPolicy.repeat' } },
          {
            message: 'acknowledgeTimeoutMs: must be between 1000 and 604800000',
            extensions: { code: 'BAD_USER_INPUT', field: 'input.escalationPolicy.acknowledgeTimeoutMs' },
          },
        ],
      }),
    }));
    fillBasics();
    set(ACK, '5');
    await submit();
    expect(await screen.findByText('Must be between 0 and 9')).toBeInTheDocument();
    expect(screen.getByLabelText(REPEAT)).toHaveAccessibleDescription(/Must be between 0 and 9/);
    expect(screen.getByLabelText(ACK)).toHaveAccessibleDescription(/Must be between 1000 and 604800000/);
  });
});
