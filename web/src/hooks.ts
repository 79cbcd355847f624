import { useEffect, useRef, useState } from 'react';
import { useConnection } from './connection';

/** The current time, refreshed every `everyMs`. */
export function useNow(everyMs = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** Run `fn` after the live connection comes back from a loss (not on the first connect). */
export function useOnReconnect(fn: () => void): void {
  const { reconnects } = useConnection();
  const first = useRef(reconnects);
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (reconnects !== first.current) ref.current();
  }, [reconnects]);
}

/** A trailing throttle: calls `fn` at most once per `ms`, after the last request. */
export function useThrottled(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  const call = useRef(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  });
  return call.current;
}

/** `value`, updated only after it has been still for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Klaxon` : 'Klaxon';
  }, [title]);
}

/** Call `fn` every `ms` while mounted (always the latest `fn`). */
export function useInterval(fn: () => void, ms: number): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}
