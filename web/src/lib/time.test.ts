import { describe, expect, it } from 'vitest';
import { formatAge, formatDuration, formatUtc, localInputToIso, toLocalInput } from './time';

const now = Date.parse('2026-11-27T12:00:00.000Z');
const ago = (ms: number) => new Date(now - ms).toISOString();

describe('formatAge', () => {
  it('says "just now" for the last few seconds', () => {
    expect(formatAge(ago(0), now)).toBe('just now');
    expect(formatAge(ago(9_000), now)).toBe('just now');
  });
  it('counts seconds, then minutes', () => {
    expect(formatAge(ago(45_000), now)).toBe('45 s ago');
    expect(formatAge(ago(4 * 60_000), now)).toBe('4 min ago');
    expect(formatAge(ago(4 * 60_000 + 59_000), now)).toBe('4 min ago');
    expect(formatAge(ago(59 * 60_000), now)).toBe('59 min ago');
  });
  it('counts hours and minutes, then days', () => {
    expect(formatAge(ago(60 * 60_000), now)).toBe('1 h ago');
    expect(formatAge(ago(3 * 3_600_000 + 5 * 60_000), now)).toBe('3 h 5 min ago');
    expect(formatAge(ago(2 * 86_400_000 + 3_600_000), now)).toBe('2 d ago');
  });
  it('handles the future and bad input', () => {
    expect(formatAge(new Date(now + 4 * 60_000).toISOString(), now)).toBe('in 4 min');
    expect(formatAge('not a time', now)).toBe('');
  });
});

describe('formatDuration', () => {
  it('reads like a person wrote it', () => {
    expect(formatDuration(30_000)).toBe('30 s');
    expect(formatDuration(300_000)).toBe('5 min');
    expect(formatDuration(90_000)).toBe('1.5 min');
    expect(formatDuration(5_400_000)).toBe('1 h 30 min');
    expect(formatDuration(7_200_000)).toBe('2 h');
  });
});

describe('UTC and local conversion', () => {
  it('shows the exact UTC instant', () => {
    expect(formatUtc('2026-11-27T01:02:03.123Z')).toBe('2026-11-27 01:02:03.123 UTC');
  });
  it('round-trips datetime-local values through UTC', () => {
    const d = new Date(2026, 10, 27, 9, 30);
    const iso = localInputToIso(toLocalInput(d));
    expect(iso).toBe(d.toISOString());
    expect(localInputToIso('')).toBeNull();
    expect(localInputToIso('garbage')).toBeNull();
  });
});
