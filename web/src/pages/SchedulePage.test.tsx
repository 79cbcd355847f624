import { describe, expect, it } from 'vitest';
import { act, render, screen, within } from '@testing-library/react';
import { SchedulePage, cadence, restrictionText } from './SchedulePage';
import { Wrapper, alice, bob, mockClient } from '../test/mockClient';
import type { Operation } from 'urql';
import userEvent from '@testing-library/user-event';

const now = Date.now();
const iso = (h: number) => new Date(now + h * 3_600_000).toISOString();

function schedule(onCall: typeof alice | null) {
  return {
    __typename: 'Schedule',
    id: 'sc1',
    name: 'Payments on call',
    timeZone: 'Europe/Berlin',
    calendarUrl: '/schedules/sc1/calendar.ics?key=s3cret',
    service: { __typename: 'Service', id: 's1', name: 'Payment API' },
    onCall,
    rotation: [],
    escalationPolicy: { __typename: 'EscalationPolicy', initialTimeoutMs: 300_000, escalationLevels: [] },
    rotations: [
      {
        __typename: 'Rotation',
        id: 'r1',
        name: 'Primary',
        timeZone: 'Europe/Berlin',
        start: '2026-12-01T08:00:00Z',
        shiftLength: 1,
        shiftUnit: 'DAY',
        participants: [alice, bob],
        restriction: { __typename: 'RotationRestriction', weekdays: ['MON', 'TUE'], startTime: '09:00', endTime: '17:00' },
      },
    ],
    overrides: [{ __typename: 'ScheduleOverride', id: 'o1', start: iso(30), end: iso(40), user: bob, replaces: alice }],
    shifts: [
      { __typename: 'Shift', start: iso(-2), end: iso(3), source: 'rotation:Primary', user: alice },
      { __typename: 'Shift', start: iso(30), end: iso(40), source: 'override', user: bob },
    ],
    coverageGaps: [{ __typename: 'Gap', start: iso(3), end: iso(30) }],
  };
}

describe('Schedule page', () => {
  it('renders the timeline from shifts and gaps, layers, overrides and the calendar link', () => {
    const m = mockClient({
      query: (op: Operation) => (op.variables && 'from' in (op.variables as object) ? { data: { schedule: schedule(alice) } } : { data: { users: [alice, bob], services: [], schedules: [] } }),
    });
    render(
      <Wrapper client={m.client}>
        <SchedulePage id="sc1" />
      </Wrapper>,
    );
    const vars = m.raw.executeQuery.mock.calls.find((c) => c[0].variables && 'from' in c[0].variables)![0].variables as { from: string; to: string };
    expect(Date.parse(vars.to) - Date.parse(vars.from)).toBeLessThanOrEqual(366 * 86_400_000);
    expect(screen.getByTestId('schedule-zone')).toHaveTextContent('Europe/Berlin');
    expect(screen.getByTestId('on-call-now')).toHaveTextContent('Alice Ng');
    const tl = screen.getByTestId('timeline');
    expect(within(tl).getAllByTestId('shift').length).toBeGreaterThanOrEqual(2);
    expect(within(tl).getAllByTestId('gap').length).toBeGreaterThanOrEqual(1);
    expect(within(tl).getAllByText(/Nobody on call/).length).toBeGreaterThanOrEqual(1);
    expect(screen.getByTestId('rotations')).toHaveTextContent('every 1 day at 09:00 Europe/Berlin');
    expect(screen.getByTestId('rotations')).toHaveTextContent('Alice Ng → Bob Ode');
    expect(screen.getByTestId('rotations')).toHaveTextContent('Mon, Tue, 09:00–17:00');
    expect(screen.getByRole('button', { name: 'Remove rotation Primary' })).toBeInTheDocument();
    expect(screen.getByTestId('overrides')).toHaveTextContent('replacing Alice Ng');
    const feed = `${window.location.origin}/schedules/sc1/calendar.ics?key=s3cret`;
    expect(screen.getByRole('link', { name: 'Subscribe in your calendar' })).toHaveAttribute('href', feed);
    expect(screen.getByLabelText('Calendar feed address')).toHaveValue(feed);
    expect(screen.getByRole('button', { name: 'Copy calendar link' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Rotate calendar link' })).toBeInTheDocument();
  });

  it('shows a RESPONDER the override form but no rotation editing or calendar rotation', () => {
    const m = mockClient({
      role: 'RESPONDER',
      query: (op: Operation) => (op.variables && 'from' in (op.variables as object) ? { data: { schedule: schedule(alice) } } : { data: { users: [alice, bob], services: [], schedules: [] } }),
    });
    render(
      <Wrapper client={m.client}>
        <SchedulePage id="sc1" />
      </Wrapper>,
    );
    expect(screen.getByRole('form', { name: 'Add override' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Remove override by Bob Ode' })).toBeInTheDocument();
    expect(screen.queryByRole('form', { name: 'Add rotation' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Remove rotation Primary' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Rotate calendar link' })).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Copy calendar link' })).toBeInTheDocument();
  });

  it('rotates the calendar link for an ADMIN after a confirmation', async () => {
    const m = mockClient({
      query: (op: Operation) => (op.variables && 'from' in (op.variables as object) ? { data: { schedule: schedule(alice) } } : { data: { users: [alice, bob], services: [], schedules: [] } }),
      mutation: () => ({ data: { rotateCalendarUrl: { __typename: 'Schedule', id: 'sc1', calendarUrl: '/schedules/sc1/calendar.ics?key=new' } } }),
    });
    render(
      <Wrapper client={m.client}>
        <SchedulePage id="sc1" />
      </Wrapper>,
    );
    await userEvent.click(screen.getByRole('button', { name: 'Rotate calendar link' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Yes, rotate' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ scheduleId: 'sc1' });
    expect(await screen.findByText(/old one no longer works/)).toBeInTheDocument();
  });

  it('refetches at a handoff announced by onCallChanged', () => {
    let who: typeof alice | null = alice;
    const m = mockClient({
      query: (op: Operation) =>
        op.variables && 'from' in (op.variables as object) ? { data: { schedule: schedule(who) } } : { data: { users: [], services: [], schedules: [] } },
    });
    render(
      <Wrapper client={m.client}>
        <SchedulePage id="sc1" />
      </Wrapper>,
    );
    expect(screen.getByTestId('on-call-now')).toHaveTextContent('Alice Ng');
    const sub = m.raw.subscription.mock.calls.find((c) => (c as unknown[])[1] && 'scheduleId' in ((c as unknown[])[1] as object));
    expect(sub).toBeTruthy();
    who = bob;
    act(() =>
      m.emitOnCall({
        __typename: 'OnCallChange',
        at: new Date().toISOString(),
        schedule: { __typename: 'Schedule', id: 'sc1', name: 'Payments on call' },
        from: alice,
        to: bob,
      } as never),
    );
    expect(screen.getByTestId('on-call-now')).toHaveTextContent('Bob Ode');
  });

  it('describes cadences and windows', () => {
    expect(cadence({ shiftLength: 2, shiftUnit: 'WEEK', start: '2026-11-30T08:00:00Z', timeZone: 'Europe/Berlin' })).toBe(
      'every 2 weeks on Mon at 09:00 Europe/Berlin',
    );
    expect(cadence({ shiftLength: 8, shiftUnit: 'HOUR', start: '2026-11-30T08:00:00Z', timeZone: 'UTC' })).toBe('every 8 hours from 08:00 UTC');
    expect(restrictionText(null)).toBe('Around the clock');
    expect(restrictionText({ __typename: 'RotationRestriction', weekdays: [], startTime: '22:00', endTime: '06:00' } as never)).toBe('Every day, 22:00–06:00');
  });
});
