import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { authStatus, login, reloadTo, safeNext } from '../auth';
import { useDocumentTitle, useNow } from '../hooks';
import { isEmail, type FieldErrors } from '../lib/errors';
import { Alert, Field, aria, useFocusFirstInvalid } from '../components/ui';

function Brand() {
  return (
    <p className="brand brand-standalone">
      <svg aria-hidden="true" viewBox="0 0 24 24" width="26" height="26">
        <path fill="currentColor" d="M12 2a7 7 0 0 0-7 7v4.6L3 17v1h18v-1l-2-3.4V9a7 7 0 0 0-7-7Zm0 21a3 3 0 0 0 3-3H9a3 3 0 0 0 3 3Z" />
      </svg>
      Klaxon
    </p>
  );
}

/** A page outside the app's header and navigation (login, setup). */
export function Standalone({ children }: { children: ReactNode }) {
  return (
    <main id="main" tabIndex={-1} className="standalone">
      <div className="auth-box">
        <Brand />
        {children}
      </div>
    </main>
  );
}

export function validateLogin(v: { email: string; password: string }): FieldErrors {
  const e: FieldErrors = {};
  if (!v.email.trim()) e.email = 'Enter your email address.';
  else if (!isEmail(v.email)) e.email = 'That does not look like an email address (name@example.com).';
  if (!v.password) e.password = 'Enter your password.';
  return e;
}

/**
 * Email and password → `POST /auth/login` → back to `next`. Shown at /login and in place
 * of any page whose API call answered UNAUTHENTICATED.
 */
export function LoginPage({ next, onLoggedIn = reloadTo }: { next: string; onLoggedIn?: (to: string) => void }) {
  useDocumentTitle('Log in');
  const [v, setV] = useState({ email: '', password: '' });
  const [local, setLocal] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [waitUntil, setWaitUntil] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [setupRequired, setSetupRequired] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const password = useRef<HTMLInputElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  useNow(1000); // ticks the rate-limit countdown
  const wait = waitUntil ? Math.max(0, Math.ceil((waitUntil - Date.now()) / 1000)) : 0;

  useEffect(() => {
    let live = true;
    void authStatus().then((s) => {
      if (live && s?.setupRequired) setSetupRequired(true);
    });
    return () => {
      live = false;
    };
  }, []);

  const set = (k: 'email' | 'password') => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setLocal(({ [k]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setGeneral(null);
    const errors = validateLogin(v);
    setLocal(errors);
    if (Object.keys(errors).length) return focusInvalid();
    setBusy(true);
    const res = await login(v.email.trim(), v.password);
    setBusy(false);
    if (res.ok) {
      onLoggedIn(safeNext(next));
      return;
    }
    if (res.code === 'RATE_LIMITED' || res.status === 429) {
      const secs = res.retryAfter ?? 60;
      setWaitUntil(Date.now() + secs * 1000);
      setGeneral(null);
      return;
    }
    setGeneral(res.message);
    setV((o) => ({ ...o, password: '' }));
    password.current?.focus();
  }

  const err = (k: 'email' | 'password') => local[k];
  return (
    <Standalone>
      <h1 tabIndex={-1} id="login-h">
        Log in
      </h1>
      {setupRequired && (
        <p className="notice" role="status">
          No admin yet: open the setup link the server printed at start-up.
        </p>
      )}
      <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="login-h">
        <Field id="login-email" label="Email" error={err('email')}>
          <input
            type="email"
            {...aria('login-email', err('email'))}
            value={v.email}
            onChange={set('email')}
            autoComplete="username"
            autoFocus
          />
        </Field>
        <Field id="login-password" label="Password" error={err('password')}>
          <input
            ref={password}
            type="password"
            {...aria('login-password', err('password'))}
            value={v.password}
            onChange={set('password')}
            autoComplete="current-password"
          />
        </Field>
        <Alert
          messages={[
            general,
            wait > 0 ? `Too many login attempts. Wait ${wait} ${wait === 1 ? 'second' : 'seconds'}, then try again.` : null,
          ]}
        />
        <div className="button-row">
          <button type="submit" className="btn btn-primary" disabled={busy || wait > 0}>
            {busy ? 'Logging in…' : 'Log in'}
          </button>
        </div>
      </form>
    </Standalone>
  );
}
