import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { AddOverrideForm, AddRotationForm, validateOverride } from './ScheduleEditors';
import { validateLayer, initialLayer } from '../components/RotationLayerFields';
import { Wrapper, alice, badInput, bob, mockClient } from '../test/mockClient';
import type { Operation } from 'urql';

type Answer = { data?: unknown; error?: ReturnType<typeof badInput> };
function setup(form: 'rotation' | 'override', mutation?: (op: Operation) => Answer) {
  const m = mockClient({ mutation });
  const onDone = vi.fn();
  const Form = form === 'rotation' ? AddRotationForm : AddOverrideForm;
  render(
    <Wrapper client={m.client}>
      <Form scheduleId="sc1" users={[alice, bob]} onDone={onDone} />
    </Wrapper>,
  );
  return { m, onDone };
}
const set = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });
const addParticipant = async (id: string) => {
  set('Participant to add', id);
  await userEvent.click(screen.getByRole('button', { name: 'Add participant' }));
};

describe('Add rotation form', () => {
  it('defaults the zone to the browser’s and refuses to send without participants or with a zero shift length', async () => {
    const { m } = setup('rotation');
    expect(screen.getByLabelText('Time zone')).toHaveValue(Intl.DateTimeFormat().resolvedOptions().timeZone);
    set('Rotation name', 'Primary');
    set('Shift length', '0');
    await userEvent.click(screen.getByRole('button', { name: 'Add rotation' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Shift length')).toHaveAccessibleDescription('Enter a whole number, 1 or more.');
    expect(screen.getByLabelText('Participant to add')).toHaveAccessibleDescription('Add at least one participant.');
    await waitFor(() => expect(screen.getByLabelText('Shift length')).toHaveFocus());
  });

  it('sends the first handoff as wall time in the rotation’s zone, participants in order, and the window', async () => {
    const { m, onDone } = setup('rotation', () => ({ data: { addRotation: { __typename: 'Rotation', id: 'r1', name: 'Primary' } } }));
    set('Rotation name', ' Primary ');
    set('Time zone', 'Europe/Berlin');
    set('First handoff', '2026-12-01T09:00');
    set('Shift length', '1');
    set('Unit', 'DAY');
    await addParticipant('u2');
    await addParticipant('u1');
    expect(screen.getByTestId('participants')).toHaveTextContent(/Bob Ode.*Alice Ng/);
    await userEvent.click(screen.getByRole('button', { name: 'Up Alice Ng' }));
    expect(screen.getByTestId('participants')).toHaveTextContent(/Alice Ng.*Bob Ode/);
    await userEvent.click(screen.getByLabelText('Only on some days or hours'));
    await userEvent.click(screen.getByLabelText('Fri'));
    await userEvent.click(screen.getByLabelText('Mon'));
    set('Window start', '08:00');
    set('Window end', '18:00');
    await userEvent.click(screen.getByRole('button', { name: 'Add rotation' }));
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: {
        scheduleId: 'sc1',
        name: 'Primary',
        timeZone: 'Europe/Berlin',
        start: '2026-12-01T08:00:00.000Z',
        shiftLength: 1,
        shiftUnit: 'DAY',
        participants: ['u1', 'u2'],
        restriction: { weekdays: ['MON', 'FRI'], startTime: '08:00', endTime: '18:00' },
      },
    });
    expect(onDone).toHaveBeenCalled();
    expect(await screen.findByText('Added rotation Primary.')).toBeInTheDocument();
  });

  it('shows the server’s timeZone error under the time zone', async () => {
    setup('rotation', () => ({ error: badInput("timeZone: 'Mars/Olympus' is not an IANA time zone", 'timeZone') }));
    set('Rotation name', 'Primary');
    await addParticipant('u1');
    await userEvent.click(screen.getByRole('button', { name: 'Add rotation' }));
    const tz = screen.getByLabelText('Time zone');
    await screen.findByText("'Mars/Olympus' is not an IANA time zone");
    expect(tz).toHaveAttribute('aria-invalid', 'true');
    expect(tz).toHaveAccessibleDescription(/'Mars\/Olympus' is not an IANA time zone/);
    await waitFor(() => expect(tz).toHaveFocus());
  });

  it('validates a layer under a prefix', () => {
    const v = { ...initialLayer(), name: '', timeZone: 'Nowhere/Nothing', shiftLength: '1.5' };
    expect(Object.keys(validateLayer(v, 'rotations[0].')).sort()).toEqual([
      'rotations[0].name',
      'rotations[0].participants',
      'rotations[0].shiftLength',
      'rotations[0].timeZone',
    ]);
  });
});

describe('Add override form', () => {
  it('requires who and an end after the start', async () => {
    const { m } = setup('override');
    set('Override start', '2026-12-02T09:00');
    set('Override end', '2026-12-02T09:00');
    await userEvent.click(screen.getByRole('button', { name: 'Add override' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Who covers')).toHaveAccessibleDescription('Choose who covers.');
    expect(screen.getByLabelText('Override end')).toHaveAccessibleDescription('The end must be after the start.');
    expect(validateOverride({ userId: 'u1', start: '2026-12-02T09:00', end: '2026-12-02T10:00', replaces: 'u1' }).replaces).toBeTruthy();
  });

  it('sends UTC instants and the replaced user, and shows the server’s end error by the field', async () => {
    let n = 0;
    const { m, onDone } = setup('override', () =>
      n++ === 0
        ? { error: badInput('end: must be after start', 'end') }
        : { data: { addOverride: { __typename: 'ScheduleOverride', id: 'o1', user: { id: 'u2', name: 'Bob Ode' } } } },
    );
    set('Who covers', 'u2');
    set('Override start', '2026-12-02T09:00');
    set('Override end', '2026-12-03T09:00');
    set('Replacing (optional)', 'u1');
    await userEvent.click(screen.getByRole('button', { name: 'Add override' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: {
        scheduleId: 'sc1',
        userId: 'u2',
        start: new Date('2026-12-02T09:00').toISOString(),
        end: new Date('2026-12-03T09:00').toISOString(),
        replaces: 'u1',
      },
    });
    await screen.findByText('Must be after start');
    expect(screen.getByLabelText('Override end')).toHaveAttribute('aria-invalid', 'true');
    expect(onDone).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Add override' }));
    expect(onDone).toHaveBeenCalled();
    expect(await screen.findByText('Added override: Bob Ode.')).toBeInTheDocument();
  });
});
