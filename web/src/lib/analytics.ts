// The analytics page's window and export link, kept apart from the (lazy) page for tests.
import { DAY } from './time';

export type Range = '7' | '30' | '90' | 'custom';
export const MAX_WINDOW_DAYS = 400;

/** The viewer's IANA zone, sent as `timeZone` so days are the viewer's days. */
export function viewerZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Local midnight of `d` plus `days` days. */
function localMidnight(d: Date, days = 0): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days);
}

/** "2026-11-27" for a local date. */
export function dateInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function parseDateInput(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * `[from, to)` as RFC 3339: the last N local days including today, or the custom days
 * `fromDay`..`toDay` inclusive. Stable within a day, so the query does not re-run on every render.
 */
export function windowFor(
  range: Range,
  fromDay: string,
  toDay: string,
  now: Date = new Date(),
): { from: string; to: string } | { error: string } {
  if (range !== 'custom') {
    const n = Number(range);
    return { from: localMidnight(now, -(n - 1)).toISOString(), to: localMidnight(now, 1).toISOString() };
  }
  const f = parseDateInput(fromDay);
  const t = parseDateInput(toDay);
  if (!f || !t) return { error: 'Choose both the first and the last day.' };
  if (t < f) return { error: 'The last day must not be before the first.' };
  const to = localMidnight(t, 1);
  if ((to.getTime() - f.getTime()) / DAY > MAX_WINDOW_DAYS + 0.1)
    return { error: `Choose at most ${MAX_WINDOW_DAYS} days.` };
  return { from: f.toISOString(), to: to.toISOString() };
}

/** The CSV export for the same window and service (the session cookie goes with it). */
export function csvUrl(from: string, to: string, serviceId?: string | null): string {
  const q = new URLSearchParams({ from, to });
  if (serviceId) q.set('serviceId', serviceId);
  return `/analytics/incidents.csv?${q.toString()}`;
}

/** A duration for a headline: "4 min", "1 h 30 min"; "—" when there is nothing to average. */
export function msText(ms: number | null | undefined, format: (ms: number) => string): string {
  return ms == null ? '—' : format(ms);
}
