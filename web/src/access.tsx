// The caller's role, read once after login, for hiding what they may not do.
// The server still decides: a FORBIDDEN answer is shown like any other error.
import { createContext, useContext, type ReactNode } from 'react';
import { useQuery } from 'urql';
import { AccessQuery, type Access, type Role } from './queries';
import { errorText } from './lib/errors';
import { Alert, Loading } from './components/ui';

const AccessContext = createContext<Access | null>(null);

const RANK: Record<Role, number> = { VIEWER: 0, RESPONDER: 1, ADMIN: 2 };

/** Whether `role` may do what `needed` may (each role can do everything the one below it can). */
export function atLeast(role: Role | null | undefined, needed: Role): boolean {
  return !!role && RANK[role] >= RANK[needed];
}

export function AccessProvider({ children }: { children: ReactNode }) {
  // Once per login: a role change shows after the next login (the server refuses anyway).
  const [{ data, error, fetching }, reexecute] = useQuery({ query: AccessQuery, requestPolicy: 'cache-first' });
  if (!data) {
    if (fetching || !error)
      return (
        <main id="main" tabIndex={-1} className="standalone">
          <Loading what="your account" />
        </main>
      );
    return (
      <main id="main" tabIndex={-1} className="standalone">
        <h1 tabIndex={-1}>Klaxon</h1>
        <Alert messages={[errorText(error)]} />
        <button type="button" className="btn" onClick={() => reexecute({ requestPolicy: 'network-only' })}>
          Try again
        </button>
      </main>
    );
  }
  return <AccessContext.Provider value={data}>{children}</AccessContext.Provider>;
}

/** The caller: role, actor, and the user behind a session (null for an API token). */
export function useAccess(): Access | null {
  return useContext(AccessContext);
}

/** The caller's role; null outside an AccessProvider (nothing is offered then). */
export function useRole(): Role | null {
  return useContext(AccessContext)?.access.role ?? null;
}

/** `can.respond`: trigger, acknowledge, resolve, escalate, overrides. `can.admin`: everything else. */
export function useCan(): { respond: boolean; admin: boolean } {
  const role = useRole();
  return { respond: atLeast(role, 'RESPONDER'), admin: atLeast(role, 'ADMIN') };
}

/** Who is logged in, in words: the person's name, or the token's. */
export function callerName(a: Access): string {
  return a.me?.name ?? a.access.actor.name;
}

export function roleLabel(r: Role): string {
  return { ADMIN: 'Admin', RESPONDER: 'Responder', VIEWER: 'Viewer' }[r];
}
