import { useRef, useState, type FormEvent } from 'react';
import { reloadTo, setup } from '../auth';
import { useDocumentTitle } from '../hooks';
import { isEmail, type FieldErrors } from '../lib/errors';
import { Link } from '../router';
import { Alert, Field, aria, useFocusFirstInvalid } from '../components/ui';
import { Standalone } from './Login';

export const MIN_PASSWORD = 12;

export function passwordError(p: string): string | undefined {
  if (!p) return 'Choose a password.';
  if ([...p].length < MIN_PASSWORD) return `Use at least ${MIN_PASSWORD} characters.`;
  return undefined;
}

type Values = { name: string; email: string; password: string };
const FIELDS: (keyof Values)[] = ['name', 'email', 'password'];

export function validateSetup(v: Values): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Enter your name.';
  if (!v.email.trim()) e.email = 'Enter your email address; you log in with it.';
  else if (!isEmail(v.email)) e.email = 'That does not look like an email address (name@example.com).';
  const p = passwordError(v.password);
  if (p) e.password = p;
  return e;
}

/** `/setup?token=…`: the first admin, from the one-time link the server printed. */
export function SetupPage({ token, onDone = reloadTo }: { token: string; onDone?: (to: string) => void }) {
  useDocumentTitle('Set up Klaxon');
  const [v, setV] = useState<Values>({ name: '', email: '', password: '' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const set = (k: keyof Values) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setErrors(({ [k]: _drop, ...rest }) => rest);
  };

  if (!token) {
    return (
      <Standalone>
        <h1 tabIndex={-1}>Set up Klaxon</h1>
        <p>
          This page needs the one-time setup link the server printed at start-up (<code>/setup?token=…</code>). Already
          set up? <Link to="/login">Log in</Link>.
        </p>
      </Standalone>
    );
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setGeneral(null);
    const local = validateSetup(v);
    setErrors(local);
    if (Object.keys(local).length) return focusInvalid();
    setBusy(true);
    const res = await setup({ token, name: v.name.trim(), email: v.email.trim(), password: v.password });
    setBusy(false);
    if (res.ok) return onDone('/');
    if (res.field && (FIELDS as string[]).includes(res.field)) {
      setErrors({ [res.field]: res.message });
      focusInvalid();
    } else if (res.status === 401 || res.code === 'UNAUTHENTICATED') {
      setGeneral(`${res.message} The setup link works once; if an admin already exists, log in instead.`);
    } else {
      setGeneral(res.message);
    }
  }

  return (
    <Standalone>
      <h1 tabIndex={-1}>Set up Klaxon</h1>
      <p>Create the first admin. You will be logged in as them.</p>
      <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="setup-h">
        <h2 id="setup-h" className="visually-hidden">
          First admin
        </h2>
        <Field id="setup-name" label="Name" error={errors.name}>
          <input {...aria('setup-name', errors.name)} value={v.name} onChange={set('name')} autoComplete="name" />
        </Field>
        <Field id="setup-email" label="Email" error={errors.email}>
          <input
            type="email"
            {...aria('setup-email', errors.email)}
            value={v.email}
            onChange={set('email')}
            autoComplete="username"
          />
        </Field>
        <Field id="setup-password" label="Password" error={errors.password} hint={`At least ${MIN_PASSWORD} characters.`}>
          <input
            type="password"
            {...aria('setup-password', errors.password, true)}
            value={v.password}
            onChange={set('password')}
            autoComplete="new-password"
          />
        </Field>
        <Alert messages={[general]} />
        <div className="button-row">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create admin and log in'}
          </button>
        </div>
      </form>
    </Standalone>
  );
}
