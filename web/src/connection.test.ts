import { describe, expect, it } from 'vitest';
import { backoffMs } from './connection';

describe('reconnect backoff', () => {
  it('grows exponentially with jitter and is capped at 30 s', () => {
    expect(backoffMs(0, () => 0)).toBe(250);
    expect(backoffMs(0, () => 1)).toBe(500);
    expect(backoffMs(3, () => 1)).toBe(4000);
    expect(backoffMs(20, () => 1)).toBe(30_000);
    expect(backoffMs(20, () => 0)).toBe(15_000);
  });
});
