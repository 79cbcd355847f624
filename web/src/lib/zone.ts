// IANA time zones with nothing but Intl: wall-clock time in a zone ⇄ instants.

export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** A few zones for the picker's datalist; any IANA name is accepted. */
export const COMMON_ZONES = [
  'UTC',
  'Europe/London',
  'Europe/Berlin',
  'Europe/Paris',
  'Europe/Helsinki',
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Los_Angeles',
  'America/Sao_Paulo',
  'Asia/Kolkata',
  'Asia/Singapore',
  'Asia/Tokyo',
  'Australia/Sydney',
  'Pacific/Auckland',
];

export function isZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const partsFmt = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = partsFmt.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    partsFmt.set(tz, f);
  }
  return f;
}

export interface Wall {
  year: number;
  month: number; // 1..12
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: string; // Mon..Sun
}

/** The wall-clock reading in `tz` at instant `t`. */
export function wallAt(t: number, tz: string): Wall {
  const p: Record<string, string> = {};
  for (const x of fmt(tz).formatToParts(new Date(t))) p[x.type] = x.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour) % 24,
    minute: Number(p.minute),
    second: Number(p.second),
    weekday: p.weekday,
  };
}

/** Offset of `tz` from UTC at instant `t`, in ms. */
function offsetAt(t: number, tz: string): number {
  const w = wallAt(t, tz);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000;
}

/** The instant a wall-clock time names in `tz` (month 1..12; day/hour may overflow). */
export function zonedToUtc(tz: string, year: number, month: number, day: number, hour = 0, minute = 0): number {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const o1 = offsetAt(guess - offsetAt(guess, tz), tz);
  const t = guess - o1;
  const o2 = offsetAt(t, tz);
  return o2 === o1 ? t : guess - o2;
}

/** `<input type="datetime-local">` value read as wall time in `tz` → RFC 3339 UTC, or null. */
export function zonedInputToIso(value: string, tz: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
  if (!m || !isZone(tz)) return null;
  return new Date(zonedToUtc(tz, +m[1], +m[2], +m[3], +m[4], +m[5])).toISOString();
}

/** An instant → `<input type="datetime-local">` value as wall time in `tz`. */
export function toZonedInput(t: number, tz: string): string {
  const w = wallAt(t, tz);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${p(w.month)}-${p(w.day)}T${p(w.hour)}:${p(w.minute)}`;
}

/** "09:00" in `tz`. */
export function clockIn(iso: string, tz: string): string {
  const w = wallAt(Date.parse(iso), tz);
  return `${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
}
