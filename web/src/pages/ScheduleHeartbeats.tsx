// A schedule's heartbeats: jobs that check in, and page when they go quiet. Everyone sees
// the list and each one's check-in address; admins create and delete them.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  CreateHeartbeatMutation,
  DeleteHeartbeatMutation,
  ScheduleHeartbeatsQuery,
  type Heartbeat,
  type HeartbeatState,
} from '../queries';
import { useCan } from '../access';
import { useInterval, useNow, useOnReconnect } from '../hooks';
import { useIncidentEvents } from '../events';
import { ctx } from '../lib/context';
import { errorText, splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { formatInterval } from '../lib/time';
import { absoluteUrl } from '../lib/url';
import { Link } from '../router';
import { Age, Alert, CopyButton, Field, Loading, Time, aria, useFocusFirstInvalid } from '../components/ui';

export const UNITS = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type Unit = keyof typeof UNITS;
const UNIT_LABEL: Record<Unit, string> = { s: 'seconds', min: 'minutes', h: 'hours', d: 'days' };

/** The server's bounds: 1 s to 30 days (sent as a JSON number in the variables). */
export const MIN_INTERVAL_MS = 1000;
export const MAX_INTERVAL_MS = 30 * 86_400_000;

const STATE_CLASS: Record<HeartbeatState, string> = {
  INACTIVE: 'hb-inactive',
  HEALTHY: 'state-resolved',
  UNHEALTHY: 'state-triggered',
};
const STATE_TEXT: Record<HeartbeatState, string> = { INACTIVE: 'Inactive', HEALTHY: 'Healthy', UNHEALTHY: 'Unhealthy' };

export function HeartbeatBadge({ state }: { state: HeartbeatState }) {
  return (
    <span className={`badge ${STATE_CLASS[state]}`} data-state={state}>
      <span className="visually-hidden">State: </span>
      {STATE_TEXT[state]}
    </span>
  );
}

type Values = { name: string; amount: string; unit: Unit };

/** The interval in milliseconds, or null when `amount` is not a number. */
export function intervalMs(amount: string, unit: Unit): number | null {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(amount)) return null;
  return Math.round(Number(amount) * UNITS[unit]);
}

export function validateHeartbeat(v: Values): FieldErrors {
  const e: FieldErrors = {};
  const name = v.name.trim();
  if (!name) e.name = 'Name it after the job, e.g. "Nightly backup".';
  else if (name.length > 200) e.name = 'Keep the name to 200 characters or fewer.';
  const ms = intervalMs(v.amount, v.unit);
  if (ms === null) e.intervalMs = 'Enter how long the job may stay silent, as a number.';
  else if (ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) e.intervalMs = 'Choose between 1 second and 30 days.';
  return e;
}

export function CreateHeartbeatForm({ scheduleId, onDone }: { scheduleId: string; onDone: () => void }) {
  const [state, create] = useMutation(CreateHeartbeatMutation);
  const [v, setV] = useState<Values>({ name: '', amount: '10', unit: 'min' });
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: string) => local[k] ?? server.fields[k];
  const set = (k: keyof Values, errKey: string = k) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setLocal(({ [errKey]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    const errors = validateHeartbeat(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) return focusInvalid();
    const res = await create({ input: { scheduleId, name: v.name.trim(), intervalMs: intervalMs(v.amount, v.unit)! } });
    const made = res.data?.createHeartbeat;
    if (made) {
      setDone(`Created heartbeat ${made.name}. It stays inactive until its first beat.`);
      setV({ name: '', amount: v.amount, unit: v.unit });
      onDone();
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="chb-h">
      <h3 id="chb-h">Add heartbeat</h3>
      <div className="field-row">
        <Field id="chb-name" label="Heartbeat name" error={err('name')}>
          <input {...aria('chb-name', err('name'))} value={v.name} onChange={set('name')} autoComplete="off" />
        </Field>
        <Field
          id="chb-interval"
          label="Page when silent for"
          error={err('intervalMs')}
          hint="1 second to 30 days. Give the job some slack: a 5-minute cron wants 10 minutes."
        >
          <div className="inline-inputs">
            <input
              {...aria('chb-interval', err('intervalMs'), true)}
              inputMode="decimal"
              value={v.amount}
              onChange={set('amount', 'intervalMs')}
              autoComplete="off"
            />
            <label htmlFor="chb-unit" className="visually-hidden">
              Unit
            </label>
            <select id="chb-unit" value={v.unit} onChange={set('unit', 'intervalMs')}>
              {(Object.keys(UNITS) as Unit[]).map((u) => (
                <option key={u} value={u}>
                  {UNIT_LABEL[u]}
                </option>
              ))}
            </select>
          </div>
        </Field>
      </div>
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'name' || k === 'intervalMs')]} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Add heartbeat'}
        </button>
      </div>
    </form>
  );
}

/** The line a job's crontab needs. */
export function cronExample(url: string): string {
  return `*/5 * * * * /usr/local/bin/backup && curl -fsS -X POST ${url}`;
}

function HeartbeatItem({ h, now, onChanged }: { h: Heartbeat; now: number; onChanged: () => void }) {
  const can = useCan();
  const [state, remove] = useMutation(DeleteHeartbeatMutation);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const url = absoluteUrl(h.url);
  const cron = cronExample(url);
  return (
    <li className="layer heartbeat" data-heartbeat-id={h.id} data-state={h.state}>
      <div className="integration-body">
        <h3 className="integration-name">
          {h.name} <HeartbeatBadge state={h.state} />
        </h3>
        <dl className="meta">
          <div>
            <dt>Interval</dt>
            <dd>{formatInterval(h.intervalMs)}</dd>
          </div>
          <div>
            <dt>Last beat</dt>
            <dd>{h.lastBeatAt ? <Age iso={h.lastBeatAt} now={now} /> : 'never'}</dd>
          </div>
          {h.nextDeadlineAt && (
            <div>
              <dt>Pages if silent until</dt>
              <dd>
                <Time iso={h.nextDeadlineAt} style="short" />
              </dd>
            </div>
          )}
          {h.incident && (
            <div>
              <dt>Outage</dt>
              <dd>
                <Link to={`/incidents/${encodeURIComponent(h.incident.id)}`}>{h.incident.title}</Link>
              </dd>
            </div>
          )}
        </dl>
        <div className="copy-row">
          <label htmlFor={`hb-url-${h.id}`}>Check-in URL</label>
          <input id={`hb-url-${h.id}`} className="mono" readOnly value={url} onFocus={(e) => e.target.select()} />
          <CopyButton text={url} label={`Copy check-in URL of ${h.name}`} />
        </div>
        <details className="snippets">
          <summary>Cron example</summary>
          <div className="snippet">
            <pre className="snippet-text" tabIndex={0} aria-label={`Cron example for ${h.name}`}>
              <code>{cron}</code>
            </pre>
            <CopyButton text={cron} label={`Copy cron example for ${h.name}`} />
          </div>
        </details>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </div>
      {can.admin && (
        <div className="button-row integration-actions">
          {confirming ? (
            <div className="confirm" role="group" aria-label={`Confirm: delete ${h.name}`}>
              <span>Delete “{h.name}”? Its URL stops working; an open outage stays open.</span>
              <button
                type="button"
                className="btn btn-danger btn-small"
                autoFocus
                disabled={state.fetching}
                onClick={async () => {
                  setError(null);
                  const res = await remove({ id: h.id });
                  if (res.error) setError(errorText(res.error));
                  else onChanged();
                }}
              >
                {state.fetching ? 'Deleting…' : 'Yes, delete'}
              </button>
              <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          ) : (
            <button type="button" className="btn btn-small" onClick={() => setConfirming(true)} aria-label={`Delete ${h.name}`}>
              Delete
            </button>
          )}
        </div>
      )}
    </li>
  );
}

export function HeartbeatsSection({ scheduleId }: { scheduleId: string }) {
  const can = useCan();
  const now = useNow(15_000);
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: ScheduleHeartbeatsQuery,
    variables: { id: scheduleId },
    context: ctx.heartbeats,
  });
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  // An outage is an incident (dedup key `heartbeat:<id>`): when one of this schedule's
  // opens or closes, the heartbeat turned UNHEALTHY or HEALTHY with it, so look again at
  // once. Other beats (the first one, lastBeatAt) have no event: look again now and then.
  useIncidentEvents((ev) => {
    const outage = ev.incident.schedule?.id === scheduleId && ev.incident.dedupKey?.startsWith('heartbeat:');
    if (outage && (ev.kind === 'TRIGGERED' || ev.kind === 'RESOLVED')) refetch();
  });
  useInterval(refetch, 30_000);
  useOnReconnect(refetch);
  const list = data?.schedule?.heartbeats;
  return (
    <section aria-labelledby="hb-h">
      <h2 id="hb-h">Heartbeats</h2>
      <p className="hint">A job checks in on every run; if it goes quiet for longer than its interval, this schedule is paged.</p>
      {error && <Alert messages={[errorText(error)]} />}
      {!list && fetching && <Loading what="heartbeats" />}
      {list &&
        (list.length === 0 ? (
          <p className="empty">No heartbeats yet.</p>
        ) : (
          <ul className="layers" data-testid="heartbeats">
            {list.map((h) => (
              <HeartbeatItem key={h.id} h={h} now={now} onChanged={refetch} />
            ))}
          </ul>
        ))}
      {can.admin && (
        <div className="panel">
          <CreateHeartbeatForm scheduleId={scheduleId} onDone={refetch} />
        </div>
      )}
    </section>
  );
}
