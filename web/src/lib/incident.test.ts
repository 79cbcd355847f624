import { describe, expect, it } from 'vitest';
import { boardOrder, canAcknowledge, canEscalate, canResolve, mergeIncidents, pruneSeen } from './incident';
import { incident } from '../test/mockClient';

describe('legal moves', () => {
  it('follows the lifecycle rules', () => {
    const t = incident({ state: 'TRIGGERED' });
    const a = incident({ state: 'ACKNOWLEDGED' });
    const r = incident({ state: 'RESOLVED' });
    expect([canAcknowledge(t), canResolve(t), canEscalate(t)]).toEqual([true, true, true]);
    expect([canAcknowledge(a), canResolve(a), canEscalate(a)]).toEqual([false, true, true]);
    expect([canAcknowledge(r), canResolve(r), canEscalate(r)]).toEqual([false, false, false]);
    expect(canEscalate(incident({ escalationLevel: 1 }))).toBe(false);
  });
});

describe('board order', () => {
  it('puts the most severe first, then the newest', () => {
    const oldHigh = incident({ severity: 'HIGH', triggeredAt: '2026-11-27T01:00:00Z' });
    const newHigh = incident({ severity: 'HIGH', triggeredAt: '2026-11-27T02:00:00Z' });
    const newLow = incident({ severity: 'LOW', triggeredAt: '2026-11-27T03:00:00Z' });
    const med = incident({ severity: 'MEDIUM', triggeredAt: '2026-11-27T00:00:00Z' });
    expect([newLow, med, oldHigh, newHigh].sort(boardOrder).map((i) => i.id)).toEqual([
      newHigh.id,
      oldHigh.id,
      med.id,
      newLow.id,
    ]);
  });
});

describe('merging query results with events', () => {
  const base = incident({ triggeredAt: '2026-11-27T01:00:00Z' });
  const acked = { ...base, state: 'ACKNOWLEDGED' as const, acknowledgedAt: '2026-11-27T01:05:00Z' };

  it('takes the newer copy whichever arrives first', () => {
    expect(mergeIncidents([base], new Map([[base.id, acked]]))[0].state).toBe('ACKNOWLEDGED');
    expect(mergeIncidents([acked], new Map([[base.id, base]]))[0].state).toBe('ACKNOWLEDGED');
  });
  it('adds incidents only the events know about, unless told not to', () => {
    const other = incident();
    expect(mergeIncidents([base], new Map([[other.id, other]]))).toHaveLength(2);
    expect(mergeIncidents([base], new Map([[other.id, other]]), false)).toHaveLength(1);
  });
  it('forgets event copies once the query has caught up', () => {
    const other = incident();
    const seen = new Map([
      [base.id, acked],
      [other.id, other],
    ]);
    expect([...pruneSeen(seen, [acked, other], () => true).keys()]).toEqual([]);
    expect([...pruneSeen(seen, [base], () => true).keys()]).toEqual([base.id, other.id]);
    expect([...pruneSeen(seen, [base], () => false).keys()]).toEqual([base.id]);
  });
});
