import type { Gap, Shift } from '../queries';
import { formatUtc } from '../lib/time';
import { browserZone, wallAt, zonedToUtc } from '../lib/zone';

export interface Segment {
  /** A shift, or null for a coverage gap. */
  shift: Shift | null;
  start: number;
  end: number;
  /** 0..100, share of the day. */
  left: number;
  width: number;
}
export interface DayRow {
  start: Date;
  end: Date;
  segments: Segment[];
}

/**
 * Midnights in `tz` from `from`'s day for `days` days, each with the rendered shifts and
 * coverage gaps that fall in it (the server's shifts never overlap).
 */
export function timelineDays(
  shifts: readonly Shift[],
  gaps: readonly Gap[],
  from: Date,
  days = 14,
  tz = browserZone(),
): DayRow[] {
  const items = [
    ...shifts.map((s) => ({ shift: s as Shift | null, s: Date.parse(s.start), e: Date.parse(s.end) })),
    ...gaps.map((g) => ({ shift: null, s: Date.parse(g.start), e: Date.parse(g.end) })),
  ].sort((a, b) => a.s - b.s);
  const w = wallAt(from.getTime(), tz);
  const rows: DayRow[] = [];
  for (let d = 0; d < days; d++) {
    const start = zonedToUtc(tz, w.year, w.month, w.day + d);
    const end = zonedToUtc(tz, w.year, w.month, w.day + d + 1);
    const len = end - start;
    const segments: Segment[] = [];
    for (const it of items) {
      const s = Math.max(it.s, start);
      const e = Math.min(it.e, end);
      if (e <= s) continue;
      segments.push({ shift: it.shift, start: s, end: e, left: ((s - start) / len) * 100, width: ((e - s) / len) * 100 });
    }
    rows.push({ start: new Date(start), end: new Date(end), segments });
  }
  return rows;
}

const PALETTE = 6;
function colour(userId: string): number {
  let h = 0;
  for (const c of userId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % PALETTE;
}

function sourceText(source: string): string {
  if (source === 'override') return 'override';
  if (source === 'entry') return 'explicit entry';
  return source.replace(/^rotation:/, 'rotation ');
}

/** Who is on call over the coming two weeks, one row per day in the schedule's zone. */
export function RotationTimeline({
  shifts,
  gaps,
  now,
  timeZone,
}: {
  shifts: readonly Shift[];
  gaps: readonly Gap[];
  now: number;
  timeZone?: string;
}) {
  const tz = timeZone || browserZone();
  const rows = timelineDays(shifts, gaps, new Date(now), 14, tz);
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: tz });
  const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: tz });
  const span = (s: number, e: number, rowEnd: number) => `${hm.format(s)}–${e === rowEnd ? '24:00' : hm.format(e)}`;
  return (
    <div className="tl2w" style={{ ['--lanes' as string]: 1 }} data-testid="timeline">
      <div className="tl2w-ruler" aria-hidden="true">
        <span />
        <span className="tl2w-hours">
          {[0, 6, 12, 18].map((h) => (
            <span key={h} style={{ left: `${(h / 24) * 100}%` }}>
              {String(h).padStart(2, '0')}:00
            </span>
          ))}
        </span>
      </div>
      <ol className="tl2w-days">
        {rows.map((row) => {
          const rs = row.start.getTime();
          const re = row.end.getTime();
          const today = rs <= now && now < re;
          return (
            <li key={row.start.toISOString()} className={`tl2w-day${today ? ' is-today' : ''}`}>
              <span className="tl2w-label">
                {dayFmt.format(row.start)}
                {today && <span className="visually-hidden"> (today)</span>}
              </span>
              <span className="tl2w-track">
                {row.segments.length === 0 && <span className="visually-hidden">No data</span>}
                {row.segments.map((seg, n) => {
                  const style = { left: `${seg.left}%`, width: `${seg.width}%`, top: 0 };
                  const when = span(seg.start, seg.end, re);
                  if (!seg.shift)
                    return (
                      <span
                        key={n}
                        className="tl2w-seg tl2w-gap"
                        style={style}
                        data-testid="gap"
                        title={`Nobody on call: ${full.format(seg.start)} – ${full.format(seg.end)}`}
                      >
                        <span className="visually-hidden">Nobody on call {when}</span>
                        <span aria-hidden="true">{seg.width > 12 ? 'Nobody on call' : ''}</span>
                      </span>
                    );
                  const sh = seg.shift;
                  return (
                    <span
                      key={n}
                      className={`tl2w-seg c${colour(sh.user.id)}${sh.source === 'override' ? ' is-override' : ''}`}
                      style={style}
                      data-testid="shift"
                      title={`${sh.user.name} (${sourceText(sh.source)}): ${full.format(Date.parse(sh.start))} – ${full.format(
                        Date.parse(sh.end),
                      )}\n${formatUtc(sh.start)} – ${formatUtc(sh.end)}`}
                    >
                      {sh.user.name} <span className="visually-hidden">{when}</span>
                    </span>
                  );
                })}
                {today && (
                  <span className="tl2w-now" aria-hidden="true" style={{ left: `${((now - rs) / (re - rs)) * 100}%` }} />
                )}
              </span>
            </li>
          );
        })}
      </ol>
      <p className="hint">
        Days and hours in {tz}. Hatched: nobody on call (incidents go straight to escalation level 1). Dashed edge: an
        override. The line marks now.
      </p>
    </div>
  );
}
