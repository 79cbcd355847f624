import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { ApiTokensQuery, CreateApiTokenMutation, RevokeApiTokenMutation, type ApiToken, type Role } from '../queries';
import { roleLabel, useCan } from '../access';
import { useDocumentTitle } from '../hooks';
import { ctx } from '../lib/context';
import { errorText, splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { localInputToIso } from '../lib/time';
import { Alert, CopyButton, Field, Loading, Time, aria, useFocusFirstInvalid } from '../components/ui';

export const ROLES: Role[] = ['ADMIN', 'RESPONDER', 'VIEWER'];

type Values = { name: string; role: Role; expiresAt: string };

export function validateToken(v: Values, now = Date.now()): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Name the token after what uses it, e.g. "Grafana alerts".';
  else if (v.name.trim().length > 200) e.name = 'Keep the name to 200 characters or fewer.';
  if (v.expiresAt) {
    const t = localInputToIso(v.expiresAt);
    if (t === null) e.expiresAt = 'Enter a date and time.';
    else if (Date.parse(t) <= now) e.expiresAt = 'Pick a time in the future.';
  }
  return e;
}

/** The secret of a token just made: shown this once. */
function NewSecret({ name, token, onDismiss }: { name: string; token: string; onDismiss: () => void }) {
  return (
    <div className="panel secret-panel" role="region" aria-labelledby="secret-h" data-testid="new-token">
      <h2 id="secret-h">Token “{name}” created</h2>
      <p>
        <strong>This secret is shown only once.</strong> Copy it now and keep it somewhere safe; Klaxon stores only a hash
        of it. Send it as <code>Authorization: Bearer …</code>.
      </p>
      <div className="copy-row">
        <label htmlFor="new-token-secret" className="visually-hidden">
          Secret of token {name}
        </label>
        <input id="new-token-secret" className="mono" readOnly value={token} onFocus={(e) => e.target.select()} />
        <CopyButton text={token} label="Copy secret" />
      </div>
      <div className="button-row">
        <button type="button" className="btn" onClick={onDismiss}>
          Done, I have copied it
        </button>
      </div>
    </div>
  );
}

export function CreateTokenForm({ onCreated }: { onCreated: (name: string, token: string) => void }) {
  const [state, create] = useMutation(CreateApiTokenMutation);
  const [v, setV] = useState<Values>({ name: '', role: 'RESPONDER', expiresAt: '' });
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: keyof Values) => local[k] ?? server.fields[k];
  const set = (k: keyof Values) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setLocal(({ [k]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors = validateToken(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) return focusInvalid();
    const res = await create({
      input: { name: v.name.trim(), role: v.role, expiresAt: v.expiresAt ? localInputToIso(v.expiresAt) : null },
    });
    const made = res.data?.createApiToken;
    if (made) {
      setV({ name: '', role: 'RESPONDER', expiresAt: '' });
      onCreated(made.apiToken.name, made.token);
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="ct-h">
      <h2 id="ct-h">Create token</h2>
      <div className="field-row">
        <Field id="ct-name" label="Token name" error={err('name')}>
          <input {...aria('ct-name', err('name'))} value={v.name} onChange={set('name')} autoComplete="off" />
        </Field>
        <Field id="ct-role" label="Role" error={err('role')}>
          <select {...aria('ct-role', err('role'))} value={v.role} onChange={set('role')}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {roleLabel(r)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="ct-expires" label="Expires (optional)" error={err('expiresAt')} hint="Your time zone; empty for never.">
          <input
            type="datetime-local"
            {...aria('ct-expires', err('expiresAt'), true)}
            value={v.expiresAt}
            onChange={set('expiresAt')}
          />
        </Field>
      </div>
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'name' || k === 'role' || k === 'expiresAt')]} />
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Creating…' : 'Create token'}
        </button>
      </div>
    </form>
  );
}

function TokenRow({ t, now }: { t: ApiToken; now: number }) {
  const [confirming, setConfirming] = useState(false);
  const [state, revoke] = useMutation(RevokeApiTokenMutation);
  const [error, setError] = useState<string | null>(null);
  const expired = !!t.expiresAt && Date.parse(t.expiresAt) <= now;
  return (
    <tr data-token-id={t.id}>
      <th scope="row">{t.name}</th>
      <td>{roleLabel(t.role)}</td>
      <td>
        <Time iso={t.createdAt} style="short" />
      </td>
      <td>{t.expiresAt ? <Time iso={t.expiresAt} style="short" /> : <span className="muted">Never</span>}</td>
      <td>{t.lastUsedAt ? <Time iso={t.lastUsedAt} style="short" /> : <span className="muted">Never</span>}</td>
      <td>
        {t.revokedAt ? (
          <span className="badge state-triggered">
            Revoked <Time iso={t.revokedAt} style="short" />
          </span>
        ) : expired ? (
          <span className="badge state-acknowledged">Expired</span>
        ) : (
          <span className="badge state-resolved">Active</span>
        )}
      </td>
      <td>
        {!t.revokedAt &&
          (confirming ? (
            <div className="confirm" role="group" aria-label={`Confirm revoking ${t.name}`}>
              <span>Revoke “{t.name}”? Anything using it stops working at once.</span>
              <button
                type="button"
                className="btn btn-danger btn-small"
                disabled={state.fetching}
                autoFocus
                onClick={async () => {
                  setError(null);
                  const res = await revoke({ id: t.id });
                  if (res.error) setError(errorText(res.error));
                  else setConfirming(false);
                }}
              >
                {state.fetching ? 'Revoking…' : 'Yes, revoke'}
              </button>
              <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          ) : (
            <button type="button" className="btn btn-small" onClick={() => setConfirming(true)} aria-label={`Revoke ${t.name}`}>
              Revoke
            </button>
          ))}
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

export function TokensPage() {
  useDocumentTitle('API tokens');
  const can = useCan();
  const [{ data, fetching, error }] = useQuery({ query: ApiTokensQuery, context: ctx.tokens, pause: !can.admin });
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const now = Date.now();
  if (!can.admin) {
    return (
      <>
        <h1 tabIndex={-1}>API tokens</h1>
        <p>Only admins can see and create API tokens.</p>
      </>
    );
  }
  return (
    <>
      <h1 tabIndex={-1}>API tokens</h1>
      <p className="muted">For scripts and integrations: each token acts with its own role.</p>
      {secret && <NewSecret name={secret.name} token={secret.token} onDismiss={() => setSecret(null)} />}
      <div className="panel">
        <CreateTokenForm onCreated={(name, token) => setSecret({ name, token })} />
      </div>
      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Tokens</h2>
        {error && <Alert messages={[errorText(error)]} />}
        {!data && fetching && <Loading what="tokens" />}
        {data &&
          (data.apiTokens.length === 0 ? (
            <p className="empty">No API tokens yet.</p>
          ) : (
            <div className="table-wrap">
              <table data-testid="tokens">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Role</th>
                    <th scope="col">Created</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Status</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.apiTokens.map((t) => (
                    <TokenRow key={t.id} t={t} now={now} />
                  ))}
                </tbody>
              </table>
            </div>
          ))}
      </section>
    </>
  );
}
