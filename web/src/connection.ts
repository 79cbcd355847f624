// The live connection's state, as a tiny external store for useSyncExternalStore.
import { useSyncExternalStore } from 'react';

export type LinkState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface ConnectionSnapshot {
  state: LinkState;
  /** When the next reconnect attempt starts (ms since epoch), while waiting. */
  retryAt: number | null;
  /** Failed attempts since the last good connection. */
  attempts: number;
  /** Goes up by one every time the socket comes back after a loss, or the event
   * stream had to be restarted (e.g. the server dropped a lagging subscriber):
   * either way pages refetch so that nothing missed stays missing. */
  reconnects: number;
}

let snapshot: ConnectionSnapshot = { state: 'connecting', retryAt: null, attempts: 0, reconnects: 0 };

/** Tell pages to refetch: events may have been missed. */
export function markResync(): void {
  setConnection({ reconnects: snapshot.reconnects + 1 });
}
const listeners = new Set<() => void>();

export function setConnection(patch: Partial<ConnectionSnapshot>): void {
  snapshot = { ...snapshot, ...patch };
  for (const l of listeners) l();
}

export function getConnection(): ConnectionSnapshot {
  return snapshot;
}

export function subscribeConnection(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useConnection(): ConnectionSnapshot {
  return useSyncExternalStore(subscribeConnection, getConnection, getConnection);
}

/** Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 30 s. */
export function backoffMs(retries: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 500 * 2 ** Math.min(retries, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
