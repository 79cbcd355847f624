import type { Rotation } from '../queries';
import { formatLocal, formatUtc } from '../lib/time';

export interface Segment {
  entry: Rotation;
  lane: number;
  /** 0..100, share of the day. */
  left: number;
  width: number;
}
export interface DayRow {
  start: Date;
  end: Date;
  segments: Segment[];
}

/** Local midnights from `from`'s day for `days` days, each with its shifts. */
export function timelineDays(rotation: readonly Rotation[], from: Date, days = 14): { rows: DayRow[]; lanes: number } {
  const sorted = [...rotation].sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime));
  // Interval partitioning: overlapping entries get their own lanes.
  const laneEnds: number[] = [];
  const laneOf = new Map<Rotation, number>();
  for (const r of sorted) {
    const s = Date.parse(r.startTime);
    let lane = laneEnds.findIndex((end) => end <= s);
    if (lane === -1) lane = laneEnds.push(0) - 1;
    laneEnds[lane] = Date.parse(r.endTime);
    laneOf.set(r, lane);
  }
  const rows: DayRow[] = [];
  for (let d = 0; d < days; d++) {
    const start = new Date(from.getFullYear(), from.getMonth(), from.getDate() + d);
    const end = new Date(from.getFullYear(), from.getMonth(), from.getDate() + d + 1);
    const len = end.getTime() - start.getTime();
    const segments: Segment[] = [];
    for (const r of sorted) {
      const s = Math.max(Date.parse(r.startTime), start.getTime());
      const e = Math.min(Date.parse(r.endTime), end.getTime());
      if (e <= s) continue;
      segments.push({
        entry: r,
        lane: laneOf.get(r) ?? 0,
        left: ((s - start.getTime()) / len) * 100,
        width: ((e - s) / len) * 100,
      });
    }
    rows.push({ start, end, segments });
  }
  return { rows, lanes: Math.max(1, laneEnds.length) };
}

const PALETTE = 6;
function colour(userId: string): number {
  let h = 0;
  for (const c of userId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % PALETTE;
}

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** Who is on call over the coming two weeks, one row per local day. */
export function RotationTimeline({ rotation, now }: { rotation: readonly Rotation[]; now: number }) {
  const { rows, lanes } = timelineDays(rotation, new Date(now));
  return (
    <div className="tl2w" style={{ ['--lanes' as string]: lanes }}>
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
          const today = row.start.getTime() <= now && now < row.end.getTime();
          return (
            <li key={row.start.toISOString()} className={`tl2w-day${today ? ' is-today' : ''}`}>
              <span className="tl2w-label">
                {dayFmt.format(row.start)}
                {today && <span className="visually-hidden"> (today)</span>}
              </span>
              <span className="tl2w-track">
                {row.segments.length === 0 && <span className="visually-hidden">Nobody on call</span>}
                {row.segments.map((seg, n) => {
                  const s = new Date(Math.max(Date.parse(seg.entry.startTime), row.start.getTime()));
                  const e = new Date(Math.min(Date.parse(seg.entry.endTime), row.end.getTime()));
                  const until = e.getTime() === row.end.getTime() ? '24:00' : hm.format(e);
                  return (
                    <span
                      key={n}
                      className={`tl2w-seg c${colour(seg.entry.user.id)}`}
                      style={{
                        left: `${seg.left}%`,
                        width: `${seg.width}%`,
                        top: `calc(${seg.lane} * var(--lane-h))`,
                      }}
                      title={`${seg.entry.user.name}: ${formatLocal(seg.entry.startTime)} – ${formatLocal(
                        seg.entry.endTime,
                      )}\n${formatUtc(seg.entry.startTime)} – ${formatUtc(seg.entry.endTime)}`}
                    >
                      {seg.entry.user.name} <span className="visually-hidden">{`${hm.format(s)}–${until}`}</span>
                    </span>
                  );
                })}
                {today && (
                  <span
                    className="tl2w-now"
                    aria-hidden="true"
                    style={{ left: `${((now - row.start.getTime()) / (row.end.getTime() - row.start.getTime())) * 100}%` }}
                  />
                )}
              </span>
            </li>
          );
        })}
      </ol>
      <p className="hint">Striped: nobody on call (incidents go straight to escalation level 1). The line marks now.</p>
    </div>
  );
}
