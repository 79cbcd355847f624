import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { RotationTimeline, timelineDays } from './RotationTimeline';
import { alice, bob } from '../test/mockClient';
import type { Gap, Shift } from '../queries';

const at = (d: number, h: number) => new Date(2026, 11, d, h).toISOString();
const shift = (user: typeof alice, s: string, e: string, source = 'rotation:Primary') =>
  ({ __typename: 'Shift', user: { id: user.id, name: user.name }, start: s, end: e, source }) as Shift;
const gap = (s: string, e: string) => ({ __typename: 'Gap', start: s, end: e }) as Gap;

describe('two-week timeline of rendered shifts', () => {
  it('splits shifts and gaps into days', () => {
    const rows = timelineDays(
      [shift(alice, at(1, 12), at(2, 6)), shift(bob, at(2, 6), at(2, 12), 'override')],
      [gap(at(2, 12), at(3, 0))],
      new Date(2026, 11, 1, 9),
    );
    expect(rows).toHaveLength(14);
    expect(rows[0].segments).toHaveLength(1);
    expect(rows[0].segments[0].left).toBeCloseTo(50);
    expect(rows[0].segments[0].width).toBeCloseTo(50);
    expect(rows[1].segments.map((s) => [s.shift?.user.name ?? 'gap', Math.round(s.left), Math.round(s.width)])).toEqual([
      ['Alice Ng', 0, 25],
      ['Bob Ode', 25, 25],
      ['gap', 50, 50],
    ]);
    expect(rows[2].segments).toHaveLength(0);
  });

  it('lays days out in the schedule’s time zone', () => {
    // 2026-12-01T08:00Z is 09:00 in Berlin; Berlin's day starts at 23:00Z the day before.
    const rows = timelineDays([], [], new Date('2026-12-01T08:00:00Z'), 2, 'Europe/Berlin');
    expect(rows[0].start.toISOString()).toBe('2026-11-30T23:00:00.000Z');
    expect(rows[1].start.toISOString()).toBe('2026-12-01T23:00:00.000Z');
    const ny = timelineDays([], [], new Date('2026-12-01T08:00:00Z'), 1, 'America/New_York');
    expect(ny[0].start.toISOString()).toBe('2026-12-01T05:00:00.000Z');
  });

  it('names who is on call and marks coverage gaps as "Nobody on call"', () => {
    render(
      <RotationTimeline
        shifts={[shift(alice, at(1, 0), at(2, 12)), shift(bob, at(2, 18), at(3, 0), 'override')]}
        gaps={[gap(at(2, 12), at(2, 18))]}
        now={new Date(2026, 11, 1, 9).getTime()}
      />,
    );
    expect(screen.getAllByTestId('shift')).toHaveLength(3);
    expect(screen.getAllByText('Alice Ng', { exact: false })).toHaveLength(2);
    const gaps = screen.getAllByTestId('gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toHaveTextContent(/Nobody on call 12:00.18:00/);
    expect(gaps[0]).toHaveClass('tl2w-gap');
    expect(screen.getByText('Bob Ode', { exact: false }).closest('.tl2w-seg')).toHaveClass('is-override');
  });
});
