// Outbound webhooks (admins): where incident events are POSTed, signed, and how each
// delivery went. Loaded lazily (src/pages/lazy.tsx). Deliveries are not announced live:
// the page reads them again when it gets focus, and every few seconds while one is pending.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { CreateWebhookMutation, DeleteWebhookMutation, WebhooksQuery, type IncidentEventKind, type Webhook, type WebhookDelivery } from '../queries';
import { useCan } from '../access';
import { useDocumentTitle, useOnReconnect } from '../hooks';
import { ctx } from '../lib/context';
import { errorText, unclaimed, type FieldErrors, type SplitErrors } from '../lib/errors';
import { EVENT_LABEL, STATUS_CLASS, STATUS_LABEL, WEBHOOK_EVENTS, isHttpUrl, serverErrors } from '../lib/notify';
import { Link } from '../router';
import { Alert, CopyButton, Field, Loading, Time, aria, useFocusFirstInvalid } from '../components/ui';

/** How often the page looks again while a delivery is pending. */
export const PENDING_POLL_MS = 3000;

type Values = { url: string; serviceId: string; events: IncidentEventKind[] };

export function validateWebhook(v: Values): FieldErrors {
  const e: FieldErrors = {};
  if (!v.url.trim()) e.url = 'Enter the URL to POST events to.';
  else if (!isHttpUrl(v.url)) e.url = 'Enter an http:// or https:// URL, without a user name or password in it.';
  if (v.events.length === 0) e.events = 'Pick at least one event.';
  return e;
}

/** The secret of a webhook just made: shown this once. */
export function NewWebhookSecret({ url, secret, onDismiss }: { url: string; secret: string; onDismiss: () => void }) {
  return (
    <div className="panel secret-panel" role="region" aria-labelledby="wh-secret-h" data-testid="new-webhook-secret">
      <h2 id="wh-secret-h">Webhook created</h2>
      <p>
        <strong>This signing secret is shown only once; it will not be shown again.</strong> Copy it now: the receiver at{' '}
        <code>{url}</code> checks each POST's <code>X-Klaxon-Signature: v1=…</code> header, the hex HMAC-SHA256 of the raw
        body keyed with it.
      </p>
      <div className="copy-row">
        <label htmlFor="new-webhook-secret" className="visually-hidden">
          Signing secret of the new webhook
        </label>
        <input id="new-webhook-secret" className="mono" readOnly value={secret} onFocus={(e) => e.target.select()} />
        <CopyButton text={secret} label="Copy secret" />
      </div>
      <div className="button-row">
        <button type="button" className="btn" onClick={onDismiss}>
          Done, I have copied it
        </button>
      </div>
    </div>
  );
}

const NO_ERRORS: SplitErrors = { fields: {}, general: [] };
const EMPTY: Values = { url: '', serviceId: '', events: [...WEBHOOK_EVENTS] };

export function CreateWebhookForm({
  services,
  onCreated,
}: {
  services: readonly { id: string; name: string }[];
  onCreated: (url: string, secret: string) => void;
}) {
  const [state, create] = useMutation(CreateWebhookMutation);
  const [v, setV] = useState<Values>(EMPTY);
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<SplitErrors>(NO_ERRORS);
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: keyof Values) => local[k] ?? server.fields[k];
  const toggle = (k: IncidentEventKind) => {
    setV((o) => ({
      ...o,
      events: o.events.includes(k) ? o.events.filter((x) => x !== k) : WEBHOOK_EVENTS.filter((x) => x === k || o.events.includes(x)),
    }));
    setLocal(({ events: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors = validateWebhook(v);
    setLocal(errors);
    setServer(NO_ERRORS);
    if (Object.keys(errors).length) return focusInvalid();
    const res = await create({ input: { url: v.url.trim(), serviceId: v.serviceId || null, events: v.events } });
    const made = res.data?.createWebhook;
    if (made) {
      setV(EMPTY);
      onCreated(made.webhook.url, made.secret);
    } else {
      setServer(serverErrors(res.error));
      focusInvalid();
    }
  }

  const eventsError = err('events');
  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="cw-h">
      <h2 id="cw-h">Create webhook</h2>
      <div className="field-row">
        <Field id="cw-url" label="URL" error={err('url')} hint="Each event is POSTed here as signed JSON.">
          <input
            type="url"
            {...aria('cw-url', err('url'), true)}
            value={v.url}
            onChange={(e) => {
              setV((o) => ({ ...o, url: e.target.value }));
              setLocal(({ url: _drop, ...rest }) => rest);
            }}
            autoComplete="off"
            placeholder="https://example.com/klaxon-events"
          />
        </Field>
        <Field id="cw-service" label="Service (optional)" error={err('serviceId')}>
          <select
            {...aria('cw-service', err('serviceId'))}
            value={v.serviceId}
            onChange={(e) => setV((o) => ({ ...o, serviceId: e.target.value }))}
          >
            <option value="">Every service</option>
            {services.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <fieldset
        className={`weekdays webhook-events${eventsError ? ' has-error' : ''}`}
        aria-describedby={eventsError ? 'cw-events-error' : undefined}
      >
        <legend>Events</legend>
        {WEBHOOK_EVENTS.map((k, n) => (
          <label key={k} className="check">
            <input
              type="checkbox"
              checked={v.events.includes(k)}
              onChange={() => toggle(k)}
              aria-invalid={eventsError && n === 0 ? true : undefined}
            />
            {EVENT_LABEL[k]}
          </label>
        ))}
        {eventsError && (
          <p className="field-error" id="cw-events-error">
            {eventsError}
          </p>
        )}
      </fieldset>
      <Alert
        messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'url' || k === 'serviceId' || k === 'events')]}
      />
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Creating…' : 'Create webhook'}
        </button>
      </div>
    </form>
  );
}

export function DeliveryStatus({ status }: { status: WebhookDelivery['status'] }) {
  return (
    <span className={`badge ${STATUS_CLASS[status]}`} data-status={status}>
      <span className="visually-hidden">Status: </span>
      {STATUS_LABEL[status]}
    </span>
  );
}

function Deliveries({ w }: { w: Webhook }) {
  if (w.deliveries.length === 0) return <p className="empty">No deliveries yet.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="webhook-deliveries" aria-label={`Deliveries to ${w.url}`}>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Answer</th>
            <th scope="col">Took</th>
            <th scope="col">Created</th>
            <th scope="col">Next attempt</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {w.deliveries.map((d) => (
            <tr key={d.id} data-delivery-id={d.id} data-status={d.status}>
              <td>
                <code>{d.eventType}</code>
                {d.incident && (
                  <>
                    {' '}
                    <Link to={`/incidents/${encodeURIComponent(d.incident.id)}`}>{d.incident.title}</Link>
                  </>
                )}
              </td>
              <td>
                <DeliveryStatus status={d.status} />
              </td>
              <td>{d.attempts}</td>
              <td>{d.responseStatus ?? <span className="muted">—</span>}</td>
              <td>{d.durationMs != null ? `${d.durationMs} ms` : <span className="muted">—</span>}</td>
              <td>
                <Time iso={d.createdAt} style="precise" />
              </td>
              <td>{d.nextAttemptAt ? <Time iso={d.nextAttemptAt} style="precise" /> : <span className="muted">—</span>}</td>
              <td>{d.lastError ? <span className="field-error">{d.lastError}</span> : <span className="muted">—</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function WebhookItem({ w, onChanged }: { w: Webhook; onChanged: () => void }) {
  const [state, remove] = useMutation(DeleteWebhookMutation);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <li className="panel webhook" data-webhook-id={w.id} data-failing={w.failing || undefined}>
      <div className="page-head">
        <h3 className="webhook-url">
          <code>{w.url}</code>
        </h3>
        <div className="badges">
          {w.failing && (
            <span className="badge state-triggered" data-testid="webhook-failing" title="A delivery gave up after retrying; the next success clears this.">
              Failing
            </span>
          )}
        </div>
      </div>
      <dl className="meta">
        <div>
          <dt>Service</dt>
          <dd>{w.service ? w.service.name : 'Every service'}</dd>
        </div>
        <div>
          <dt>Events</dt>
          <dd>{w.events.map((k) => EVENT_LABEL[k] ?? k).join(', ')}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time iso={w.createdAt} style="short" />
          </dd>
        </div>
      </dl>
      <h4>Deliveries</h4>
      <Deliveries w={w} />
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <div className="button-row">
        {confirming ? (
          <div className="confirm" role="group" aria-label={`Confirm: delete webhook ${w.url}`}>
            <span>Delete the webhook to {w.url}? Nothing more is sent to it.</span>
            <button
              type="button"
              className="btn btn-danger btn-small"
              autoFocus
              disabled={state.fetching}
              onClick={async () => {
                setError(null);
                const res = await remove({ id: w.id });
                if (res.error) setError(serverErrors(res.error).general.join(' ') || errorText(res.error));
                else {
                  setConfirming(false);
                  onChanged();
                }
              }}
            >
              {state.fetching ? 'Deleting…' : 'Yes, delete'}
            </button>
            <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <button type="button" className="btn btn-small" onClick={() => setConfirming(true)} aria-label={`Delete webhook ${w.url}`}>
            Delete
          </button>
        )}
      </div>
    </li>
  );
}

/** Whether any delivery of any webhook is still pending. */
export function anyPending(webhooks: readonly Webhook[] | undefined): boolean {
  return !!webhooks?.some((w) => w.deliveries.some((d) => d.status === 'PENDING'));
}

export function WebhooksPage() {
  useDocumentTitle('Webhooks');
  const can = useCan();
  const [{ data, fetching, error }, reexecute] = useQuery({ query: WebhooksQuery, context: ctx.webhooks, pause: !can.admin });
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const refetchRef = useRef(() => reexecute({ requestPolicy: 'network-only' }));
  refetchRef.current = () => reexecute({ requestPolicy: 'network-only' });
  const refetch = () => refetchRef.current();
  useOnReconnect(refetch);

  // Read again when the page comes back into view.
  useEffect(() => {
    if (!can.admin) return;
    const onFocus = () => refetchRef.current();
    const onVisible = () => {
      if (document.visibilityState === 'visible') refetchRef.current();
    };
    window.addEventListener('focus', onFocus);
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [can.admin]);

  // While a delivery is pending, look again every few seconds.
  const pending = anyPending(data?.webhooks);
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(() => refetchRef.current(), PENDING_POLL_MS);
    return () => clearInterval(t);
  }, [pending]);

  if (!can.admin) {
    return (
      <>
        <h1 tabIndex={-1}>Webhooks</h1>
        <p>Only admins can see and create webhooks.</p>
      </>
    );
  }
  return (
    <>
      <h1 tabIndex={-1}>Webhooks</h1>
      <p className="muted">
        Incident events (triggered, acknowledged, resolved, escalated) are POSTed as signed JSON to each webhook; a failed
        delivery is retried for at least 15 minutes.
      </p>
      {secret && <NewWebhookSecret url={secret.url} secret={secret.secret} onDismiss={() => setSecret(null)} />}
      <div className="panel">
        <CreateWebhookForm
          services={data?.services ?? []}
          onCreated={(url, s) => {
            setSecret({ url, secret: s });
            refetch();
          }}
        />
      </div>
      <section aria-labelledby="webhooks-h">
        <h2 id="webhooks-h">Webhooks</h2>
        {error && <Alert messages={[errorText(error)]} />}
        {!data && fetching && <Loading what="webhooks" />}
        {data &&
          (data.webhooks.length === 0 ? (
            <p className="empty">No webhooks yet.</p>
          ) : (
            <ul className="layers" data-testid="webhooks">
              {data.webhooks.map((w) => (
                <WebhookItem key={w.id} w={w} onChanged={refetch} />
              ))}
            </ul>
          ))}
      </section>
    </>
  );
}

export default WebhooksPage;
