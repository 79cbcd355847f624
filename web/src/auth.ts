// Who is logged in, as far as the UI can tell, and the plain-HTTP auth endpoints.
//
// The session itself is an HttpOnly cookie the UI never sees. The UI learns that it is
// missing or has ended when the API answers UNAUTHENTICATED (HTTP 401 or a GraphQL error
// with that code) or the WebSocket closes with 4403; it then shows the login page.
import { useSyncExternalStore } from 'react';
import type { CombinedError } from 'urql';

export type AuthState = 'unknown' | 'unauthenticated';

let state: AuthState = 'unknown';
const listeners = new Set<() => void>();
let waiters: (() => void)[] = [];

export function getAuth(): AuthState {
  return state;
}

function set(next: AuthState) {
  if (next === state) return;
  state = next;
  if (next !== 'unauthenticated') {
    const w = waiters;
    waiters = [];
    w.forEach((r) => r());
  }
  for (const l of listeners) l();
}

/** The server said there is no valid credential: show the login page. */
export function markUnauthenticated(): void {
  set('unauthenticated');
}

/** Back to "probably logged in" (after a successful login, or in tests). */
export function resetAuth(): void {
  set('unknown');
}

export function subscribeAuth(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useAuth(): AuthState {
  return useSyncExternalStore(subscribeAuth, getAuth, getAuth);
}

/** Resolves at once unless the UI is waiting for a login; then once someone logs in. */
export function untilAuthenticated(): Promise<void> {
  if (state !== 'unauthenticated') return Promise.resolve();
  return new Promise((r) => waiters.push(r));
}

/** Whether a urql error means "no valid credential". */
export function isUnauthenticated(error: CombinedError | undefined | null): boolean {
  if (!error) return false;
  if (error.graphQLErrors.some((e) => (e.extensions as { code?: unknown } | undefined)?.code === 'UNAUTHENTICATED')) return true;
  const status = (error.response as { status?: number } | undefined)?.status;
  return status === 401;
}

/** A path inside the UI to go back to after logging in; anything else becomes "/". */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (next.startsWith('/login') || next.startsWith('/setup')) return '/';
  return next;
}

// ---- /auth endpoints -------------------------------------------------------------------

export interface AuthUser {
  id: string;
  name: string;
  email: string;
  role: string;
}

export type AuthResult =
  | { ok: true; user: AuthUser }
  | {
      ok: false;
      status: number;
      code: string;
      message: string;
      field?: string;
      /** Seconds to wait, from Retry-After, when rate limited. */
      retryAfter?: number;
    };

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
}

async function result(res: Response): Promise<AuthResult> {
  let json: { user?: AuthUser; error?: string; code?: string; field?: string } = {};
  try {
    json = await res.json();
  } catch {
    /* no body */
  }
  if (res.ok && json.user) return { ok: true, user: json.user };
  const retry = Number(res.headers.get('retry-after'));
  return {
    ok: false,
    status: res.status,
    code: json.code ?? (res.status === 429 ? 'RATE_LIMITED' : res.status === 401 ? 'UNAUTHENTICATED' : 'ERROR'),
    message: json.error ?? `The server answered ${res.status} ${res.statusText}`.trim(),
    field: json.field,
    retryAfter: Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : undefined,
  };
}

async function guarded(fn: () => Promise<Response>): Promise<AuthResult> {
  try {
    return await result(await fn());
  } catch (e) {
    return {
      ok: false,
      status: 0,
      code: 'NETWORK',
      message: `Could not reach the Klaxon server (${(e as Error).message}). Check your connection and try again.`,
    };
  }
}

export function login(email: string, password: string): Promise<AuthResult> {
  return guarded(() => post('/auth/login', { email, password }));
}

export function setup(v: { token: string; name: string; email: string; password: string }): Promise<AuthResult> {
  return guarded(() => post('/auth/setup', v));
}

export async function logout(): Promise<void> {
  try {
    await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin' });
  } catch {
    /* the cookie stays until it expires; the login page shows anyway */
  }
}

/** `GET /auth/status`; null when the server could not be asked. */
export async function authStatus(): Promise<{ setupRequired: boolean } | null> {
  try {
    const res = await fetch('/auth/status', { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (!res.ok) return null;
    const json = (await res.json()) as { setupRequired?: unknown };
    return { setupRequired: json.setupRequired === true };
  } catch {
    return null;
  }
}

/** After logging in or out, start afresh at `to`: a new cache, socket and role. */
export function reloadTo(to: string): void {
  window.location.assign(to);
}
