import { useRef, useState, type FormEvent } from 'react';
import { ctx } from '../lib/context';
import { useMutation, useQuery } from 'urql';
import { CreateUserMutation, UsersQuery } from '../queries';
import { useDocumentTitle } from '../hooks';
import { errorText, isEmail, splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { Alert, Field, Loading, aria, useFocusFirstInvalid } from '../components/ui';

export interface UserValues {
  name: string;
  email: string;
  phone: string;
}

export function validateUser(v: UserValues): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Enter the person’s name.';
  if (!v.email.trim()) e.email = 'Enter an email address, so they can be notified.';
  else if (!isEmail(v.email)) e.email = 'That does not look like an email address (name@example.com).';
  if (v.phone.trim() && !/^\+?[0-9 ()./-]{5,}$/.test(v.phone.trim()))
    e.phone = 'Use digits, spaces and an optional leading +, e.g. +44 20 7946 0000.';
  return e;
}

const FIELDS: (keyof UserValues)[] = ['name', 'email', 'phone'];

export function CreateUserForm({ onDone }: { onDone?: () => void }) {
  const [state, create] = useMutation(CreateUserMutation);
  const [v, setV] = useState<UserValues>({ name: '', email: '', phone: '' });
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
      input: { name: v.name.trim(), email: v.email.trim(), phone: v.phone.trim() || null },
    });
    if (res.data?.createUser) {
      setDone(`Added ${res.data.createUser.name}.`);
      setV({ name: '', email: '', phone: '' });
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

export function Users() {
  useDocumentTitle('Users');
  const [{ data, fetching, error }] = useQuery({ query: UsersQuery, context: ctx.users });
  return (
    <>
      <h1 tabIndex={-1}>Users</h1>
      <div className="panel">
        <CreateUserForm />
      </div>
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
                  </tr>
                </thead>
                <tbody>
                  {data.users.map((u) => (
                    <tr key={u.id}>
                      <td>{u.name}</td>
                      <td>
                        <a href={`mailto:${u.email}`}>{u.email}</a>
                      </td>
                      <td>{u.phone ? <a href={`tel:${u.phone}`}>{u.phone}</a> : <span className="muted">—</span>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
      </section>
    </>
  );
}
