import { Fragment, useRef, useState, type FormEvent } from 'react';
import { ctx } from '../lib/context';
import { useMutation, useQuery } from 'urql';
import { CreateUserMutation, UpdateUserMutation, UsersQuery, type Role, type UserRow } from '../queries';
import { roleLabel, useCan } from '../access';
import { ROLES } from './Tokens';
import { MIN_PASSWORD, passwordError } from './Setup';
import { useDocumentTitle } from '../hooks';
import { errorText, isEmail, splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { Alert, Field, Loading, aria, useFocusFirstInvalid } from '../components/ui';
import { Link } from '../router';

export interface UserValues {
  name: string;
  email: string;
  phone: string;
  role: Role;
  /** Optional: without one the person cannot log in (until an admin sets one). */
  password: string;
}

const EMPTY: UserValues = { name: '', email: '', phone: '', role: 'RESPONDER', password: '' };

export function validateUser(v: Pick<UserValues, 'name' | 'email' | 'phone'> & { password?: string }): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Enter the person’s name.';
  if (!v.email.trim()) e.email = 'Enter an email address, so they can be notified.';
  else if (!isEmail(v.email)) e.email = 'That does not look like an email address (name@example.com).';
  if (v.phone.trim() && !/^\+?[0-9 ()./-]{5,}$/.test(v.phone.trim()))
    e.phone = 'Use digits, spaces and an optional leading +, e.g. +44 20 7946 0000.';
  if (v.password) {
    const p = passwordError(v.password);
    if (p) e.password = p;
  }
  return e;
}

const FIELDS: (keyof UserValues)[] = ['name', 'email', 'phone', 'role', 'password'];

export function CreateUserForm({ onDone }: { onDone?: () => void }) {
  const [state, create] = useMutation(CreateUserMutation);
  const [v, setV] = useState<UserValues>(EMPTY);
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: keyof UserValues) => local[k] ?? server.fields[k];
  const set = (k: keyof UserValues) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setLocal(({ [k]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    const errors = validateUser(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) return focusInvalid();
    const res = await create({
      input: {
        name: v.name.trim(),
        email: v.email.trim(),
        phone: v.phone.trim() || null,
        role: v.role,
        ...(v.password ? { password: v.password } : {}),
      },
    });
    if (res.data?.createUser) {
      setDone(`Added ${res.data.createUser.name}.`);
      setV(EMPTY);
      onDone?.();
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="cu-h">
      <h2 id="cu-h">Add user</h2>
      <div className="field-row">
        <Field id="cu-name" label="Name" error={err('name')}>
          <input {...aria('cu-name', err('name'))} value={v.name} onChange={set('name')} autoComplete="off" />
        </Field>
        <Field id="cu-email" label="Email" error={err('email')}>
          <input
            type="email"
            {...aria('cu-email', err('email'))}
            value={v.email}
            onChange={set('email')}
            autoComplete="off"
          />
        </Field>
        <Field id="cu-phone" label="Phone (optional)" error={err('phone')}>
          <input type="tel" {...aria('cu-phone', err('phone'))} value={v.phone} onChange={set('phone')} autoComplete="off" />
        </Field>
        <Field id="cu-role" label="Role" error={err('role')}>
          <select {...aria('cu-role', err('role'))} value={v.role} onChange={set('role')}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {roleLabel(r)}
              </option>
            ))}
          </select>
        </Field>
        <Field
          id="cu-password"
          label="Password (optional)"
          error={err('password')}
          hint={`At least ${MIN_PASSWORD} characters; without one they cannot log in yet.`}
        >
          <input
            type="password"
            {...aria('cu-password', err('password'), true)}
            value={v.password}
            onChange={set('password')}
            autoComplete="new-password"
          />
        </Field>
      </div>
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => (FIELDS as string[]).includes(k))]} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Create user'}
        </button>
      </div>
    </form>
  );
}

/** An admin's inline editor for one user's role and password. */
export function EditUserForm({ user, onClose }: { user: UserRow; onClose: () => void }) {
  const [state, update] = useMutation(UpdateUserMutation);
  const [role, setRole] = useState<Role>(user.role);
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string[]>([]);
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const id = `eu-${user.id}`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setGeneral([]);
    const local: FieldErrors = {};
    const p = password ? passwordError(password) : undefined;
    if (p) local.password = p;
    setErrors(local);
    if (p) return focusInvalid();
    if (role === user.role && !password) return onClose();
    const res = await update({
      id: user.id,
      input: { ...(role !== user.role ? { role } : {}), ...(password ? { password } : {}) },
    });
    if (res.data?.updateUser) return onClose();
    const split = splitErrors(res.error);
    setErrors(split.fields);
    setGeneral([...split.general, ...unclaimed(split.fields, (k) => k === 'role' || k === 'password')]);
    focusInvalid();
  }

  return (
    <form ref={form} className="form edit-user" onSubmit={submit} noValidate aria-label={`Edit ${user.name}`}>
      <div className="field-row">
        <Field id={`${id}-role`} label={`Role of ${user.name}`} error={errors.role}>
          <select {...aria(`${id}-role`, errors.role)} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {roleLabel(r)}
              </option>
            ))}
          </select>
        </Field>
        <Field
          id={`${id}-password`}
          label={user.hasPassword ? 'New password (optional)' : 'Set a password (optional)'}
          error={errors.password}
          hint={`At least ${MIN_PASSWORD} characters.`}
        >
          <input
            type="password"
            {...aria(`${id}-password`, errors.password, true)}
            value={password}
            onChange={(e) => {
              setPassword(e.target.value);
              setErrors({});
            }}
            autoComplete="new-password"
          />
        </Field>
      </div>
      <Alert messages={general} />
      <div className="button-row">
        <button type="submit" className="btn btn-primary btn-small" disabled={state.fetching}>
          {state.fetching ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="btn btn-small" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function Users() {
  useDocumentTitle('Users');
  const [{ data, fetching, error }] = useQuery({ query: UsersQuery, context: ctx.users });
  const can = useCan();
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <>
      <h1 tabIndex={-1}>Users</h1>
      {can.admin && (
        <div className="panel">
          <CreateUserForm />
        </div>
      )}
      <section aria-labelledby="users-h">
        <h2 id="users-h">Everyone</h2>
        {error && <Alert messages={[errorText(error)]} />}
        {!data && fetching && <Loading what="users" />}
        {data &&
          (data.users.length === 0 ? (
            <p className="empty">No users yet.</p>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Email</th>
                    <th scope="col">Phone</th>
                    <th scope="col">Role</th>
                    <th scope="col">Can log in</th>
                    {can.admin && (
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {data.users.map((u) => (
                    <Fragment key={u.id}>
                      <tr>
                        <td>
                          <Link to={`/users/${encodeURIComponent(u.id)}`}>{u.name}</Link>
                        </td>
                        <td>
                          <a href={`mailto:${u.email}`}>{u.email}</a>
                        </td>
                        <td>{u.phone ? <a href={`tel:${u.phone}`}>{u.phone}</a> : <span className="muted">—</span>}</td>
                        <td data-testid="user-role">{roleLabel(u.role)}</td>
                        <td>{u.hasPassword ? 'Yes' : <span className="muted">No password</span>}</td>
                        {can.admin && (
                          <td>
                            <button
                              type="button"
                              className="btn btn-small"
                              aria-expanded={editing === u.id}
                              aria-label={`Edit ${u.name}`}
                              onClick={() => setEditing(editing === u.id ? null : u.id)}
                            >
                              Edit
                            </button>
                          </td>
                        )}
                      </tr>
                      {can.admin && editing === u.id && (
                        <tr>
                          <td colSpan={6}>
                            <EditUserForm user={u} onClose={() => setEditing(null)} />
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
      </section>
    </>
  );
}
