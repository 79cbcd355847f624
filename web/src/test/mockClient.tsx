// A stand-in urql client: answers queries and mutations from functions, and
// lets a test push subscription events by hand.
import type { ReactNode } from 'react';
import { vi } from 'vitest';
import { Provider, CombinedError, type Client, type Operation } from 'urql';
import { fromValue, makeSubject, pipe, subscribe, map, type Source } from 'wonka';
import { IncidentEventsProvider } from '../events';
import { AccessProvider } from '../access';
import type { Access, Incident, IncidentEvent, OnCallChange, Role, User } from '../queries';

type Answer = { data?: unknown; error?: CombinedError };
type Handler = (op: Operation) => Answer;

/** What `query Access` answers: a logged-in person with `role` (ADMIN unless told). */
export function accessData(role: Role = 'ADMIN', name = 'Alice Ng'): Access {
  return {
    access: {
      __typename: 'Access',
      role,
      actor: { __typename: 'Actor', kind: 'USER', name, user: { __typename: 'User', id: 'u1', name } },
    },
    me: { __typename: 'User', id: 'u1', name, email: 'alice@example.com', role },
  } as Access;
}

const opNameOf = (op: Operation) =>
  (op.query.definitions as readonly { name?: { value?: string } }[]).map((d) => d.name?.value).find(Boolean);

/**
 * `query Access` is answered with `role` (default ADMIN) unless `access` is given;
 * every other query goes to `query`.
 */
export function mockClient(
  opts: { query?: Handler; mutation?: Handler; role?: Role; access?: Handler } = {},
) {
  const events = makeSubject<IncidentEvent>();
  const onCall = makeSubject<OnCallChange>();
  const opName = (q: unknown) =>
    ((q as { definitions?: { name?: { value?: string } }[] }).definitions ?? []).map((d) => d.name?.value).find(Boolean);
  const result = (op: Operation, a: Answer) => ({
    operation: op,
    data: a.data,
    error: a.error,
    stale: false,
    hasNext: false,
  });
  const client = {
    executeQuery: vi.fn((op: Operation) =>
      fromValue(
        result(
          op,
          (opNameOf(op) === 'Access'
            ? (opts.access ?? (() => ({ data: accessData(opts.role) })))(op)
            : opts.query?.(op)) ?? { data: undefined },
        ),
      ),
    ),
    executeMutation: vi.fn((op: Operation) => fromValue(result(op, opts.mutation?.(op) ?? { data: undefined }))),
    executeSubscription: vi.fn(
      (op: Operation): Source<unknown> =>
        pipe(
          events.source,
          map((e) => result(op, { data: { incidentEvents: e } })),
        ),
    ),
    subscription: vi.fn((query: unknown) => ({
      subscribe: (fn: (r: { data?: unknown }) => void) =>
        opName(query) === 'OnCallChanged'
          ? pipe(
              onCall.source,
              map((c) => ({ data: { onCallChanged: c } })),
              subscribe(fn),
            )
          : pipe(
              events.source,
              map((e) => ({ data: { incidentEvents: e } })),
              subscribe(fn),
            ),
    })),
  };
  return {
    client: client as unknown as Client,
    raw: client,
    emit: (e: IncidentEvent) => events.next(e),
    emitOnCall: (c: OnCallChange) => onCall.next(c),
  };
}

export function Wrapper({ client, children }: { client: Client; children: ReactNode }) {
  return (
    <Provider value={client}>
      <AccessProvider>
        <IncidentEventsProvider>{children}</IncidentEventsProvider>
      </AccessProvider>
    </Provider>
  );
}

/** A BAD_USER_INPUT error the way the server sends one. */
export function badInput(message: string, field?: string): CombinedError {
  return new CombinedError({
    graphQLErrors: [{ message, extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) } }],
  });
}

export function gqlError(message: string, code: string): CombinedError {
  return new CombinedError({ graphQLErrors: [{ message, extensions: { code } }] });
}

export const alice: User = { __typename: 'User', id: 'u1', name: 'Alice Ng', email: 'alice@example.com', phone: null } as User;
export const userActor = (u: User) => ({ __typename: 'Actor', kind: 'USER', name: u.name, user: { __typename: 'User', id: u.id, name: u.name } }) as const;
export const systemActor = { __typename: 'Actor', kind: 'SYSTEM', name: 'Klaxon', user: null } as const;

/** A timeline entry the way the server sends one. */
export function entry(kind: string, at: string, message: string, actor: unknown = systemActor) {
  return { __typename: 'TimelineEntry', kind, at, message, actor } as const;
}

export const bob: User = { __typename: 'User', id: 'u2', name: 'Bob Ode', email: 'bob@example.com', phone: '+1 555 0100' } as User;

let n = 0;
export function incident(over: Partial<Incident> = {}): Incident {
  n += 1;
  return {
    __typename: 'Incident',
    id: `i${n}`,
    title: `Incident ${n}`,
    description: null,
    dedupKey: null,
    severity: 'HIGH',
    state: 'TRIGGERED',
    triggeredAt: '2026-11-27T01:00:00.000Z',
    acknowledgedAt: null,
    resolvedAt: null,
    acknowledgedBy: null,
    resolvedBy: null,
    escalationLevel: 0,
    alertCount: 1,
    nextEscalationAt: null,
    service: { __typename: 'Service', id: 's1', name: 'Payment API' },
    schedule: { __typename: 'Schedule', id: 'sc1', name: 'Payments on call' },
    assignedTo: alice,
    escalationPolicy: {
      __typename: 'EscalationPolicy',
      initialTimeoutMs: 300_000,
      repeat: 0,
      acknowledgeTimeoutMs: null,
      escalationLevels: [{ __typename: 'EscalationLevel', timeoutMs: 600_000, user: bob }],
    },
    escalationHistory: [],
    notifications: [],
    timeline: [],
    snoozedUntil: null,
    acknowledgeTimeoutAt: null,
    ...over,
  } as Incident;
}
