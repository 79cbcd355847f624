import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { ChangePasswordMutation, EndOtherSessionsMutation, EndSessionMutation, SessionsQuery, type Session } from '../queries';
import { callerName, roleLabel, useAccess } from '../access';
import { useDocumentTitle } from '../hooks';
import { ctx } from '../lib/context';
import { errorText, splitErrors, type FieldErrors } from '../lib/errors';
import { Alert, Field, Loading, Time, aria, useFocusFirstInvalid } from '../components/ui';
import { MIN_PASSWORD, passwordError } from './Setup';
import { NotificationSettings } from '../components/NotificationSettings';

/** "Firefox on Linux"-ish, from a user agent string; the raw string is in the title. */
export function browserName(ua: string | null | undefined): string {
  if (!ua) return 'Unknown browser';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrome\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : /curl\//.test(ua)
            ? 'curl'
            : 'Browser';
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /Android/.test(ua)
      ? 'Android'
      : /iPhone|iPad/.test(ua)
        ? 'iOS'
        : /Mac OS X/.test(ua)
          ? 'macOS'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}

function Sessions() {
  const [{ data, fetching, error }, reexecute] = useQuery({ query: SessionsQuery, context: ctx.sessions });
  const [end, doEnd] = useMutation(EndSessionMutation);
  const [others, doOthers] = useMutation(EndOtherSessionsMutation);
  const [message, setMessage] = useState('');
  const [actionError, setActionError] = useState<string | null>(null);
  const refetch = () => reexecute({ requestPolicy: 'network-only' });

  const endOne = async (s: Session) => {
    setMessage('');
    setActionError(null);
    const res = await doEnd({ id: s.id });
    if (res.error) setActionError(errorText(res.error));
    else setMessage(`Ended the session from ${browserName(s.userAgent)}.`);
    refetch();
  };
  const endOthers = async () => {
    setMessage('');
    setActionError(null);
    const res = await doOthers({});
    if (res.error) setActionError(errorText(res.error));
    else {
      const n = res.data?.endOtherSessions ?? 0;
      setMessage(n === 0 ? 'There were no other sessions.' : `Ended ${n} other ${n === 1 ? 'session' : 'sessions'}.`);
    }
    refetch();
  };

  const sessions = data?.sessions ?? [];
  const hasOthers = sessions.some((s) => !s.current);
  return (
    <section aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      <p className="muted">Where you are logged in. Ending a session logs that browser out at once.</p>
      {error && <Alert messages={[errorText(error)]} />}
      {!data && fetching && <Loading what="sessions" />}
      {data &&
        (sessions.length === 0 ? (
          <p className="empty">No sessions.</p>
        ) : (
          <div className="table-wrap">
            <table data-testid="sessions">
              <thead>
                <tr>
                  <th scope="col">Browser</th>
                  <th scope="col">Logged in</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((s) => (
                  <tr key={s.id} aria-current={s.current ? 'true' : undefined}>
                    <td title={s.userAgent ?? undefined}>
                      {browserName(s.userAgent)}
                      {s.current && <span className="badge state-resolved"> this browser</span>}
                    </td>
                    <td>
                      <Time iso={s.createdAt} style="short" />
                    </td>
                    <td>
                      <Time iso={s.lastSeenAt} style="short" />
                    </td>
                    <td>
                      <Time iso={s.expiresAt} style="short" />
                    </td>
                    <td>
                      {!s.current && (
                        <button
                          type="button"
                          className="btn btn-small"
                          disabled={end.fetching}
                          onClick={() => endOne(s)}
                          aria-label={`End session from ${browserName(s.userAgent)}, last seen ${new Date(s.lastSeenAt).toLocaleString()}`}
                        >
                          End
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      <Alert messages={[actionError]} />
      <p role="status" className="ok-text">
        {message}
      </p>
      {hasOthers && (
        <div className="button-row">
          <button type="button" className="btn" disabled={others.fetching} onClick={endOthers}>
            End all other sessions
          </button>
        </div>
      )}
    </section>
  );
}

type PwValues = { current: string; next: string; confirm: string };

export function validatePasswordChange(v: PwValues): FieldErrors {
  const e: FieldErrors = {};
  if (!v.current) e.current = 'Enter your current password.';
  const p = passwordError(v.next);
  if (p) e.next = p;
  else if (v.next === v.current) e.next = 'Choose a password different from the current one.';
  if (!e.next && v.confirm !== v.next) e.confirm = 'The two new passwords differ.';
  return e;
}

export function ChangePasswordForm() {
  const [state, change] = useMutation(ChangePasswordMutation);
  const [v, setV] = useState<PwValues>({ current: '', next: '', confirm: '' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const set = (k: keyof PwValues) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setErrors(({ [k]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    setGeneral([]);
    const local = validatePasswordChange(v);
    setErrors(local);
    if (Object.keys(local).length) return focusInvalid();
    const res = await change({ currentPassword: v.current, newPassword: v.next });
    if (res.data?.changePassword) {
      setDone('Password changed.');
      setV({ current: '', next: '', confirm: '' });
      return;
    }
    const split = splitErrors(res.error);
    const fields: FieldErrors = {};
    for (const [k, m] of Object.entries(split.fields)) {
      if (k === 'currentPassword') fields.current = m;
      else if (k === 'newPassword') fields.next = m;
      else split.general.push(m);
    }
    setErrors(fields);
    setGeneral(res.data && !res.data.changePassword ? ['The password was not changed.'] : split.general);
    focusInvalid();
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="pw-h">
      <h2 id="pw-h">Change password</h2>
      <div className="field-row">
        <Field id="pw-current" label="Current password" error={errors.current}>
          <input
            type="password"
            {...aria('pw-current', errors.current)}
            value={v.current}
            onChange={set('current')}
            autoComplete="current-password"
          />
        </Field>
        <Field id="pw-new" label="New password" error={errors.next} hint={`At least ${MIN_PASSWORD} characters.`}>
          <input
            type="password"
            {...aria('pw-new', errors.next, true)}
            value={v.next}
            onChange={set('next')}
            autoComplete="new-password"
          />
        </Field>
        <Field id="pw-confirm" label="New password again" error={errors.confirm}>
          <input
            type="password"
            {...aria('pw-confirm', errors.confirm)}
            value={v.confirm}
            onChange={set('confirm')}
            autoComplete="new-password"
          />
        </Field>
      </div>
      <Alert messages={general} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Changing…' : 'Change password'}
        </button>
      </div>
    </form>
  );
}

export function AccountPage() {
  useDocumentTitle('Account');
  const a = useAccess();
  if (!a) return <Loading what="your account" />;
  return (
    <>
      <h1 tabIndex={-1}>Account</h1>
      <dl className="details">
        <dt>Name</dt>
        <dd data-testid="account-name">{callerName(a)}</dd>
        {a.me && (
          <>
            <dt>Email</dt>
            <dd>{a.me.email}</dd>
          </>
        )}
        <dt>Role</dt>
        <dd>{roleLabel(a.access.role)}</dd>
      </dl>
      {a.me ? (
        <>
          <NotificationSettings userId={a.me.id} />
          <Sessions />
          <div className="panel">
            <ChangePasswordForm />
          </div>
        </>
      ) : (
        <p>You are using an API token ({a.access.actor.name}), which has no sessions or password.</p>
      )}
    </>
  );
}
