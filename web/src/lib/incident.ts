import type { IncidentLite, IncidentState, Severity } from '../queries';

const SEVERITY_RANK: Record<Severity, number> = { HIGH: 3, MEDIUM: 2, LOW: 1 };

export const SEVERITIES: Severity[] = ['HIGH', 'MEDIUM', 'LOW'];
export const STATES: IncidentState[] = ['TRIGGERED', 'ACKNOWLEDGED', 'RESOLVED'];

export const label = (s: string) => s.charAt(0) + s.slice(1).toLowerCase().replace(/_/g, ' ');

type Movable = Pick<IncidentLite, 'state' | 'escalationLevel'> & {
  escalationPolicy: { escalationLevels: readonly unknown[] };
};

export function canAcknowledge(i: Pick<IncidentLite, 'state'>): boolean {
  return i.state === 'TRIGGERED';
}
export function canResolve(i: Pick<IncidentLite, 'state'>): boolean {
  return i.state === 'TRIGGERED' || i.state === 'ACKNOWLEDGED';
}
export function hasNextLevel(i: Movable): boolean {
  return i.escalationLevel < i.escalationPolicy.escalationLevels.length;
}
/** The server says (`canEscalate`); computed from the policy when it doesn't. */
export function canEscalate(i: Movable & { canEscalate?: boolean }): boolean {
  return typeof i.canEscalate === 'boolean' ? i.canEscalate : canResolve(i) && hasNextLevel(i);
}

/** Most severe first, then newest first. */
export function boardOrder(a: IncidentLite, b: IncidentLite): number {
  return (
    SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
    Date.parse(b.triggeredAt) - Date.parse(a.triggeredAt) ||
    (a.id < b.id ? 1 : -1)
  );
}

/**
 * A monotonic "how far along" key for one incident's state, so two copies of
 * the same incident (one from a query, one from a subscription event) can be
 * merged in any order without going backwards.
 */
export function versionKey(i: IncidentLite): number[] {
  const times = [
    i.triggeredAt,
    i.acknowledgedAt,
    i.resolvedAt,
    ...i.escalationHistory.map((e) => e.at),
    ...i.notifications.map((n) => n.at),
  ]
    .filter((t): t is string => !!t)
    .map((t) => Date.parse(t));
  return [
    Math.max(...times),
    i.escalationHistory.length,
    i.notifications.length,
    i.alertCount,
    i.notifications.filter((n) => n.delivered).length,
  ];
}

/** >0 when `a` is further along than `b`, <0 when behind, 0 when the same. */
export function compareVersion(a: IncidentLite, b: IncidentLite): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return ka[i] - kb[i];
  }
  // Notes, reassignments and snoozes show only in the timeline: when both copies carry
  // one (the incident page's do; board rows don't), the longer or later one is newer.
  const ta = timelineKey(a);
  const tb = timelineKey(b);
  if (ta && tb) return ta[0] - tb[0] || ta[1] - tb[1];
  return 0;
}

function timelineKey(i: IncidentLite): [number, number] | null {
  const t = (i as { timeline?: readonly { at: string }[] }).timeline;
  if (!t) return null;
  return [t.length, t.length ? Math.max(...t.map((e) => Date.parse(e.at))) : 0];
}

/** The newer of two copies of one incident (ties go to `b`). */
export function newer<T extends IncidentLite>(a: T, b: T): T {
  return compareVersion(a, b) > 0 ? a : b;
}

/**
 * Merge query results with incidents seen in events, newest copy of each.
 * With `addNew: false` only incidents already in `base` are updated.
 */
export function mergeIncidents<T extends IncidentLite>(
  base: readonly T[],
  seen: ReadonlyMap<string, T>,
  addNew = true,
): T[] {
  const byId = new Map<string, T>();
  for (const i of base) byId.set(i.id, i);
  for (const [id, i] of seen) {
    const have = byId.get(id);
    if (have) byId.set(id, newer(have, i));
    else if (addNew) byId.set(id, i);
  }
  return [...byId.values()];
}

/** Drop event copies that the query has caught up with. */
export function pruneSeen<T extends IncidentLite>(
  seen: ReadonlyMap<string, T>,
  base: readonly T[],
  keepMissing: (i: T) => boolean,
): Map<string, T> {
  const byId = new Map(base.map((i) => [i.id, i]));
  const out = new Map<string, T>();
  for (const [id, i] of seen) {
    const have = byId.get(id);
    if (have ? compareVersion(i, have) > 0 : keepMissing(i)) out.set(id, i);
  }
  return out;
}
