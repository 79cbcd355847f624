// Time formatting: local zone for reading, exact UTC instant for hovering.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "45 s ago", "4 min ago", "3 h 5 min ago", "2 d ago"; "in 4 min" for the future. */
export function formatAge(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const diff = now - t;
  const abs = Math.abs(diff);
  let text: string;
  if (abs < 10_000) return 'just now';
  if (abs < MINUTE) text = `${Math.floor(abs / 1000)} s`;
  else if (abs < HOUR) text = `${Math.floor(abs / MINUTE)} min`;
  else if (abs < DAY) {
    const h = Math.floor(abs / HOUR);
    const m = Math.floor((abs % HOUR) / MINUTE);
    text = m ? `${h} h ${m} min` : `${h} h`;
  } else text = `${Math.floor(abs / DAY)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A duration in milliseconds for people: "30 s", "5 min", "1 h 30 min". */
export function formatDuration(ms: number): string {
  if (ms < MINUTE) return `${Math.round(ms / 1000)} s`;
  if (ms < HOUR) {
    const m = ms / MINUTE;
    return `${Number.isInteger(m) ? m : m.toFixed(1)} min`;
  }
  const h = Math.floor(ms / HOUR);
  const m = Math.round((ms % HOUR) / MINUTE);
  return m ? `${h} h ${m} min` : `${h} h`;
}

const localFmt = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'short',
});
const preciseFmt = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'medium',
});
const shortFmt = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
});

/** Local date and time, in the viewer's zone. */
export function formatLocal(iso: string, style: 'medium' | 'short' | 'precise' = 'medium'): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return (style === 'short' ? shortFmt : style === 'precise' ? preciseFmt : localFmt).format(d);
}

/** The exact instant, in UTC, for a tooltip: "2026-11-27 01:02:03.123 UTC". */
export function formatUtc(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

/** `<input type="datetime-local">` value (local wall time) → RFC 3339 UTC, or null. */
export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A Date → `<input type="datetime-local">` value in the viewer's zone. */
export function toLocalInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** An interval in words, largest units first: "30 s", "5 min", "1 h 30 min", "2 d", "1 d 6 h". */
export function formatInterval(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [size, unit] of [[86_400, 'd'], [3600, 'h'], [60, 'min'], [1, 's']] as const) {
    const n = Math.floor(rest / size);
    if (n) parts.push(`${n} ${unit}`);
    rest -= n * size;
  }
  return parts.length ? parts.join(' ') : '0 s';
}

export { MINUTE, HOUR, DAY };
