import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { RotationTimeline, timelineDays } from './RotationTimeline';
import { alice, bob } from '../test/mockClient';
import type { Rotation } from '../queries';

const at = (d: number, h: number) => new Date(2026, 11, d, h).toISOString();
const entry = (user: typeof alice, s: string, e: string) => ({ __typename: 'RotationEntry', user, startTime: s, endTime: e }) as Rotation;

describe('two-week rotation timeline', () => {
  it('splits shifts into local days and gives overlaps their own lane', () => {
    const rot = [entry(alice, at(1, 12), at(2, 12)), entry(bob, at(2, 0), at(2, 6))];
    const { rows, lanes } = timelineDays(rot, new Date(2026, 11, 1, 9));
    expect(rows).toHaveLength(14);
    expect(lanes).toBe(2);
    expect(rows[0].segments).toHaveLength(1);
    expect(rows[0].segments[0].left).toBeCloseTo(50);
    expect(rows[0].segments[0].width).toBeCloseTo(50);
    expect(rows[1].segments.map((s) => [s.entry.user.name, s.lane])).toEqual([
      ['Alice Ng', 0],
      ['Bob Ode', 1],
    ]);
    expect(rows[2].segments).toHaveLength(0);
  });

  it('says who is on call each day, in text', () => {
    render(<RotationTimeline rotation={[entry(alice, at(1, 0), at(3, 0))]} now={new Date(2026, 11, 1, 9).getTime()} />);
    expect(screen.getAllByText('Alice Ng', { exact: false })).toHaveLength(2);
    expect(screen.getAllByText('Nobody on call')).toHaveLength(12);
  });
});
