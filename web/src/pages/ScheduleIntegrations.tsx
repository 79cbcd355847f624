// A schedule's monitoring integrations: the list, and for admins the key, the setup
// snippets for each monitor, create, rotate key and delete. Keys are secrets: the server
// sends them (and the key-bearing urls) only to admins, and only admins are offered them here.
import { useId, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  CreateIntegrationMutation,
  DeleteIntegrationMutation,
  RotateIntegrationKeyMutation,
  ScheduleIntegrationsQuery,
  SetIntegrationSecretMutation,
  type Integration,
  type IntegrationKind,
} from '../queries';
import { useCan } from '../access';
import { useInterval, useNow, useOnReconnect } from '../hooks';
import { ctx } from '../lib/context';
import { errorText, splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { Age, Alert, CopyButton, Field, Loading, Time, aria, useFocusFirstInvalid } from '../components/ui';
import { absoluteUrl } from '../lib/url';

export const KINDS: IntegrationKind[] = ['EVENTS_API_V2', 'ALERTMANAGER', 'GRAFANA', 'GENERIC'];

export function kindLabel(k: IntegrationKind): string {
  return {
    EVENTS_API_V2: 'PagerDuty Events API v2',
    ALERTMANAGER: 'Prometheus Alertmanager',
    GRAFANA: 'Grafana',
    GENERIC: 'Generic webhook',
  }[k];
}

/** The address the server gave, made absolute against this page's origin. */
function urlOf(i: Pick<Integration, 'url'>): string | null {
  return i.url ? absoluteUrl(i.url) : null;
}

/** `copy` names it on its Copy button: "Copy Alertmanager config for Prometheus". */
export type Snippet = { title: string; copy: string; text: string };

/** Copy-ready configuration for the monitor an integration is for (needs its key and url). */
export function snippets(i: Pick<Integration, 'kind' | 'key' | 'url' | 'hasSecret'>, origin = window.location.origin): Snippet[] {
  const key = i.key ?? '<integration key>';
  const url = urlOf(i) ?? `${origin}/integrations/${key}/${i.kind.toLowerCase()}`;
  switch (i.kind) {
    case 'EVENTS_API_V2': {
      const enqueue = i.url ? absoluteUrl(i.url) : `${origin}/v2/enqueue`;
      return [
        {
          title: 'Prometheus Alertmanager (alertmanager.yml)',
          copy: 'Alertmanager config',
          text: [
            'receivers:',
            '  - name: klaxon',
            '    pagerduty_configs:',
            `      - routing_key: "${key}"`,
            `        url: "${enqueue}"`,
            '        send_resolved: true',
          ].join('\n'),
        },
        {
          title: 'Test it with curl (opens an incident)',
          copy: 'curl test',
          text:
            `curl -sS ${enqueue} -H 'content-type: application/json' \\\n` +
            `  -d '{"routing_key":"${key}","event_action":"trigger","payload":{"summary":"Test alert from curl","source":"curl","severity":"critical"}}'`,
        },
      ];
    }
    case 'ALERTMANAGER':
      return [
        {
          title: 'Prometheus Alertmanager (alertmanager.yml)',
          copy: 'Alertmanager config',
          text: ['receivers:', '  - name: klaxon', '    webhook_configs:', `      - url: "${url}"`, '        send_resolved: true'].join('\n'),
        },
      ];
    case 'GRAFANA':
      return [
        {
          title: 'Grafana: Alerting → Contact points → Add contact point',
          copy: 'Grafana settings',
          text: [
            'Integration: Webhook',
            `URL: ${url}`,
            'HTTP method: POST',
            ...(i.hasSecret
              ? [
                  'Optional settings → HMAC Signature:',
                  '  Secret: the secret set on this integration (Klaxon never shows it again)',
                  '  Header: X-Grafana-Alerting-Signature',
                ]
              : []),
          ].join('\n'),
        },
      ];
    case 'GENERIC':
      return [
        {
          title: 'Open an incident (again with the same dedup: folds into the open one)',
          copy: 'open command',
          text: `curl -sS -X POST ${url} -d summary='Backup failed' -d details='Nightly backup exited 1' -d dedup=backup-nightly`,
        },
        { title: 'Close it', copy: 'close command', text: `curl -sS -X POST ${url} -d dedup=backup-nightly -d action=close` },
      ];
  }
}

function SnippetBlock({ s, name }: { s: Snippet; name: string }) {
  const id = useId();
  return (
    <div className="snippet">
      <p className="snippet-title" id={id}>
        {s.title}
      </p>
      <pre className="snippet-text" aria-labelledby={id} tabIndex={0}>
        <code>{s.text}</code>
      </pre>
      <CopyButton text={s.text} label={`Copy ${s.copy} for ${name}`} />
    </div>
  );
}

type Values = { name: string; kind: IntegrationKind; secret: string };

export function validateIntegration(v: Values): FieldErrors {
  const e: FieldErrors = {};
  const name = v.name.trim();
  if (!name) e.name = 'Name it after the monitor, e.g. "Prometheus".';
  else if (name.length > 200) e.name = 'Keep the name to 200 characters or fewer.';
  if (v.kind === 'GRAFANA' && v.secret && (v.secret.length < 16 || v.secret.length > 256))
    e.secret = 'The secret is 16 to 256 characters (or leave it empty).';
  return e;
}

export function CreateIntegrationForm({ scheduleId, onDone }: { scheduleId: string; onDone: () => void }) {
  const [state, create] = useMutation(CreateIntegrationMutation);
  const [v, setV] = useState<Values>({ name: '', kind: 'EVENTS_API_V2', secret: '' });
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: keyof Values) => local[k] ?? server.fields[k];
  const set = (k: keyof Values) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setLocal(({ [k]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    const errors = validateIntegration(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) return focusInvalid();
    const res = await create({
      input: {
        scheduleId,
        name: v.name.trim(),
        kind: v.kind,
        ...(v.kind === 'GRAFANA' && v.secret ? { secret: v.secret } : {}),
      },
    });
    const made = res.data?.createIntegration;
    if (made) {
      setDone(`Created integration ${made.name}: its key and setup are below.`);
      setV({ name: '', kind: v.kind, secret: '' });
      onDone();
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="ci-h">
      <h3 id="ci-h">Add integration</h3>
      <div className="field-row">
        <Field id="ci-name" label="Integration name" error={err('name')}>
          <input {...aria('ci-name', err('name'))} value={v.name} onChange={set('name')} autoComplete="off" />
        </Field>
        <Field id="ci-kind" label="Monitor" error={err('kind')}>
          <select {...aria('ci-kind', err('kind'))} value={v.kind} onChange={set('kind')}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </Field>
        {v.kind === 'GRAFANA' && (
          <Field
            id="ci-secret"
            label="HMAC secret (optional)"
            error={err('secret')}
            hint="16 to 256 characters; Grafana signs each post with it. Shown only now."
          >
            <input
              {...aria('ci-secret', err('secret'), true)}
              value={v.secret}
              onChange={set('secret')}
              autoComplete="off"
              spellCheck={false}
            />
          </Field>
        )}
      </div>
      <Alert
        messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'name' || k === 'kind' || k === 'secret')]}
      />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Add integration'}
        </button>
      </div>
    </form>
  );
}

/** Grafana's HMAC secret: set (16 to 256 characters) or clear. The secret is never read back. */
export function GrafanaSecretForm({ i, onChanged }: { i: Pick<Integration, 'id' | 'name' | 'hasSecret'>; onChanged: () => void }) {
  const [state, setSecret] = useMutation(SetIntegrationSecretMutation);
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [said, setSaid] = useState('');
  const fid = `int-secret-${i.id}`;
  const send = async (secret: string | null) => {
    setSaid('');
    const res = await setSecret({ id: i.id, secret });
    if (res.data?.setIntegrationSecret) {
      setValue('');
      setError(undefined);
      setSaid(secret ? 'Secret set: Grafana posts must now be signed with it.' : 'Secret cleared: unsigned posts are accepted.');
      onChanged();
    } else {
      const { fields } = splitErrors(res.error);
      setError(fields.secret ?? errorText(res.error) ?? 'The secret was not changed.');
    }
  };
  return (
    <form
      className="inline-form"
      noValidate
      aria-label={`HMAC secret of ${i.name}`}
      onSubmit={(e) => {
        e.preventDefault();
        if (value.length < 16 || value.length > 256) return setError('The secret is 16 to 256 characters.');
        send(value);
      }}
    >
      <Field id={fid} label={i.hasSecret ? 'New HMAC secret' : 'HMAC secret'} error={error}>
        <input
          {...aria(fid, error)}
          value={value}
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => {
            setValue(e.target.value);
            setError(undefined);
          }}
        />
      </Field>
      <button type="submit" className="btn btn-small" disabled={state.fetching}>
        Set secret
      </button>
      {i.hasSecret && (
        <button type="button" className="btn btn-small" disabled={state.fetching} onClick={() => send(null)}>
          Clear secret
        </button>
      )}
      <span role="status" className="ok-text">
        {said}
      </span>
    </form>
  );
}

/** A yes/no step before a destructive action. */
function Confirm({
  what,
  question,
  yes,
  busy,
  onYes,
  onNo,
}: {
  what: string;
  question: string;
  yes: string;
  busy: boolean;
  onYes: () => void;
  onNo: () => void;
}) {
  return (
    <div className="confirm" role="group" aria-label={`Confirm: ${what}`}>
      <span>{question}</span>
      <button type="button" className="btn btn-danger btn-small" autoFocus disabled={busy} onClick={onYes}>
        {yes}
      </button>
      <button type="button" className="btn btn-small" onClick={onNo}>
        Cancel
      </button>
    </div>
  );
}

function IntegrationItem({ i, now, onChanged }: { i: Integration; now: number; onChanged: () => void }) {
  const can = useCan();
  const [rotateState, rotate] = useMutation(RotateIntegrationKeyMutation);
  const [deleteState, remove] = useMutation(DeleteIntegrationMutation);
  const [confirming, setConfirming] = useState<'rotate' | 'delete' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [said, setSaid] = useState('');
  const url = urlOf(i);
  const keyId = `int-key-${i.id}`;
  return (
    <li className="layer integration" data-integration-id={i.id} data-kind={i.kind}>
      <div className="integration-body">
        <h3 className="integration-name">
          {i.name} <span className="badge role-badge">{kindLabel(i.kind)}</span>
        </h3>
        <dl className="meta">
          <div>
            <dt>Last event</dt>
            <dd data-testid="last-event">{i.lastEventAt ? <Age iso={i.lastEventAt} now={now} /> : 'never'}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <Time iso={i.createdAt} style="short" />
            </dd>
          </div>
          {i.kind === 'GRAFANA' && (
            <div>
              <dt>HMAC secret</dt>
              <dd>{i.hasSecret ? 'set' : 'none'}</dd>
            </div>
          )}
        </dl>
        {url && (
          <div className="copy-row">
            <label htmlFor={`int-url-${i.id}`}>URL</label>
            <input id={`int-url-${i.id}`} className="mono" readOnly value={url} onFocus={(e) => e.target.select()} />
            <CopyButton text={url} label={`Copy URL of ${i.name}`} />
          </div>
        )}
        {can.admin && i.key && (
          <>
            <div className="copy-row">
              <label htmlFor={keyId}>Key</label>
              <input
                id={keyId}
                className="mono"
                readOnly
                value={i.key}
                data-testid="integration-key"
                onFocus={(e) => e.target.select()}
              />
              <CopyButton text={i.key} label={`Copy key of ${i.name}`} />
            </div>
            <details className="snippets">
              <summary>Set up {kindLabel(i.kind)}</summary>
              {snippets(i).map((s) => (
                <SnippetBlock key={s.title} s={s} name={i.name} />
              ))}
              {i.kind === 'GRAFANA' && <GrafanaSecretForm i={i} onChanged={onChanged} />}
            </details>
          </>
        )}
        {!can.admin && <p className="hint">An admin can see this integration's key and setup.</p>}
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        <p role="status" className="ok-text">
          {said}
        </p>
      </div>
      {can.admin && (
        <div className="button-row integration-actions">
          {confirming === 'rotate' ? (
            <Confirm
              what={`rotate the key of ${i.name}`}
              question={`Give “${i.name}” a new key? The old one stops working at once: update the monitor.`}
              yes={rotateState.fetching ? 'Rotating…' : 'Yes, rotate key'}
              busy={rotateState.fetching}
              onNo={() => setConfirming(null)}
              onYes={async () => {
                setError(null);
                setSaid('');
                const res = await rotate({ id: i.id });
                if (res.error) setError(errorText(res.error));
                else {
                  setConfirming(null);
                  setSaid('The key was rotated; the old one no longer works.');
                  onChanged();
                }
              }}
            />
          ) : confirming === 'delete' ? (
            <Confirm
              what={`delete ${i.name}`}
              question={`Delete “${i.name}”? Its key stops working; its alerts stay on their incidents.`}
              yes={deleteState.fetching ? 'Deleting…' : 'Yes, delete'}
              busy={deleteState.fetching}
              onNo={() => setConfirming(null)}
              onYes={async () => {
                setError(null);
                const res = await remove({ id: i.id });
                if (res.error) setError(errorText(res.error));
                else onChanged();
              }}
            />
          ) : (
            <>
              <button type="button" className="btn btn-small" onClick={() => setConfirming('rotate')} aria-label={`Rotate key of ${i.name}`}>
                Rotate key
              </button>
              <button type="button" className="btn btn-small" onClick={() => setConfirming('delete')} aria-label={`Delete ${i.name}`}>
                Delete
              </button>
            </>
          )}
        </div>
      )}
    </li>
  );
}

export function IntegrationsSection({ scheduleId }: { scheduleId: string }) {
  const can = useCan();
  const now = useNow(30_000);
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: ScheduleIntegrationsQuery,
    variables: { id: scheduleId },
    context: ctx.integrations,
  });
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  // lastEventAt moves with every event a monitor sends; nothing announces it.
  useInterval(refetch, 60_000);
  useOnReconnect(refetch);
  const list = data?.schedule?.integrations;
  return (
    <section aria-labelledby="int-h">
      <h2 id="int-h">Integrations</h2>
      <p className="hint">Monitoring tools (Alertmanager, Grafana, anything that can page PagerDuty) open incidents here.</p>
      {error && <Alert messages={[errorText(error)]} />}
      {!list && fetching && <Loading what="integrations" />}
      {list &&
        (list.length === 0 ? (
          <p className="empty">No integrations yet.</p>
        ) : (
          <ul className="layers" data-testid="integrations">
            {list.map((i) => (
              <IntegrationItem key={i.id} i={i} now={now} onChanged={refetch} />
            ))}
          </ul>
        ))}
      {can.admin && (
        <div className="panel">
          <CreateIntegrationForm scheduleId={scheduleId} onDone={refetch} />
        </div>
      )}
    </section>
  );
}
