// One app-wide `incidentEvents` subscription, fanned out to whoever listens.
import { createContext, useContext, useEffect, useRef, type ReactNode } from 'react';
import { useClient } from 'urql';
import { IncidentEventsSubscription, OnCallChangedSubscription, type IncidentEvent, type OnCallChange } from './queries';
import { markResync } from './connection';

type Listener = (e: IncidentEvent) => void;
const EventsContext = createContext<Set<Listener> | null>(null);

export function IncidentEventsProvider({ children }: { children: ReactNode }) {
  const client = useClient();
  const listeners = useRef(new Set<Listener>()).current;
  useEffect(() => {
    let sub: { unsubscribe: () => void } | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const start = () => {
      sub = client.subscription(IncidentEventsSubscription, {}).subscribe((result) => {
        const ev = result.data?.incidentEvents;
        if (ev) for (const l of listeners) l(ev);
        if (result.error && !result.data) {
          // The server ends a lagging subscriber's stream with one error:
          // start again, and have every page refetch what it may have missed.
          sub?.unsubscribe();
          clearTimeout(retry);
          retry = setTimeout(() => {
            start();
            markResync();
          }, 1000);
        }
      });
    };
    start();
    return () => {
      clearTimeout(retry);
      sub?.unsubscribe();
    };
  }, [client, listeners]);
  return <EventsContext.Provider value={listeners}>{children}</EventsContext.Provider>;
}

/** Call `handler` for every incident event while mounted. */
export function useIncidentEvents(handler: Listener): void {
  const listeners = useContext(EventsContext);
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    if (!listeners) return;
    const l: Listener = (e) => ref.current(e);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, [listeners]);
}

/**
 * Call `handler` at every on-call handoff (of one schedule, or of all when
 * `scheduleId` is null) while mounted. The server fires it at the handoff instant.
 */
export function useOnCallChanged(scheduleId: string | null, handler: (c: OnCallChange) => void): void {
  const client = useClient();
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    let sub: { unsubscribe: () => void } | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const start = () => {
      sub = client.subscription(OnCallChangedSubscription, { scheduleId }).subscribe((result) => {
        const c = result.data?.onCallChanged;
        if (c) ref.current(c);
        if (result.error && !result.data) {
          sub?.unsubscribe();
          clearTimeout(retry);
          retry = setTimeout(start, 1000);
        }
      });
    };
    start();
    return () => {
      clearTimeout(retry);
      sub?.unsubscribe();
    };
  }, [client, scheduleId]);
}
