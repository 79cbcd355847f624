import { useRef, useState, type FormEvent } from 'react';
import { ctx } from '../lib/context';
import { useMutation, useQuery } from 'urql';
import { CreateScheduleMutation, PickersQuery, type Schedule } from '../queries';
import { splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { DAY, localInputToIso, toLocalInput } from '../lib/time';
import { Alert, Field, aria, useFocusFirstInvalid } from '../components/ui';
import { Link } from '../router';
import { isZone } from '../lib/zone';
import {
  LAYER_FIELDS,
  RotationLayerFields,
  ZoneList,
  initialLayer,
  toLayerInput,
  validateLayer,
  type LayerValues,
} from '../components/RotationLayerFields';

export interface RotationRow {
  key: number;
  userId: string;
  start: string; // datetime-local, viewer's zone
  end: string;
}
export interface LevelRow {
  key: number;
  /** Page a fixed user, or whoever is on call for another schedule. */
  kind?: 'user' | 'schedule';
  userId: string;
  scheduleId?: string;
  timeoutMin: string;
}
export interface ScheduleValues {
  name: string;
  serviceId: string;
  /** IANA zone; empty: the server's default (UTC). */
  timeZone?: string;
  rotation: RotationRow[];
  layers?: LayerValues[];
  initialTimeoutMin: string;
  levels: LevelRow[];
  /** 0..9: start over at level 0 this many times after the last level. */
  repeat?: string;
  /** Minutes (decimals allowed); empty: acknowledged incidents never return to triggered. */
  ackTimeoutMin?: string;
}

export const ACK_TIMEOUT_MIN_MS = 1000;
export const ACK_TIMEOUT_MAX_MS = 7 * 24 * 3_600_000;

/** `repeat` and `acknowledgeTimeoutMs` checks, keyed like the server's `extensions.field`. */
export function validatePolicyExtras(repeat: string | undefined, ackTimeoutMin: string | undefined): FieldErrors {
  const e: FieldErrors = {};
  const r = (repeat ?? '').trim();
  if (r && (!/^\d+$/.test(r) || Number(r) > 9))
    e['escalationPolicy.repeat'] = 'Enter a whole number from 0 to 9 (0: do not repeat).';
  const a = (ackTimeoutMin ?? '').trim();
  if (a) {
    const n = Number(a);
    const ms = Math.round(n * 60_000);
    if (!Number.isFinite(n) || ms < ACK_TIMEOUT_MIN_MS || ms > ACK_TIMEOUT_MAX_MS)
      e['escalationPolicy.acknowledgeTimeoutMs'] =
        'Enter minutes between 0.0167 (1 s) and 10080 (7 days), or leave it empty to keep acknowledged incidents acknowledged.';
  }
  return e;
}

/** The two fields as the API takes them. */
export function policyExtrasInput(repeat: string | undefined, ackTimeoutMin: string | undefined) {
  const a = (ackTimeoutMin ?? '').trim();
  return {
    repeat: (repeat ?? '').trim() ? Number((repeat ?? '').trim()) : 0,
    acknowledgeTimeoutMs: a ? Math.round(Number(a) * 60_000) : null,
  };
}

let nextKey = 1;
const key = () => nextKey++;

function minutes(s: string): number | null {
  if (!s.trim()) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

export function validateSchedule(v: ScheduleValues): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Give the schedule a name, e.g. "Payment API on-call".';
  if (!v.serviceId) e.serviceId = 'Choose the service this schedule covers.';
  if (v.timeZone?.trim() && !isZone(v.timeZone.trim()))
    e.timeZone = `"${v.timeZone}" is not a time zone this browser knows, e.g. Europe/Berlin.`;
  if (v.rotation.length === 0 && v.levels.length === 0 && !v.layers?.length)
    e.rotation = 'Add at least one rotation layer, rotation entry or escalation level, or nobody will ever be paged.';
  v.layers?.forEach((l, i) => Object.assign(e, validateLayer(l, `rotations[${i}].`)));
  v.rotation.forEach((r, i) => {
    const p = `rotation[${i}]`;
    if (!r.userId) e[`${p}.userId`] = 'Choose who is on call.';
    const s = localInputToIso(r.start);
    const en = localInputToIso(r.end);
    if (!s) e[`${p}.startTime`] = 'Enter when this shift starts.';
    if (!en) e[`${p}.endTime`] = 'Enter when this shift ends.';
    else if (s && Date.parse(en) <= Date.parse(s)) e[`${p}.endTime`] = 'The end must be after the start.';
  });
  const init = minutes(v.initialTimeoutMin);
  if (init === null || init <= 0)
    e['escalationPolicy.initialTimeoutMs'] = 'Enter how many minutes to wait before escalating (more than 0).';
  v.levels.forEach((l, i) => {
    const p = `escalationPolicy.escalationLevels[${i}]`;
    if (l.kind === 'schedule') {
      if (!l.scheduleId) e[`${p}.scheduleId`] = 'Choose the schedule whose on-call person this level pages.';
    } else if (!l.userId) e[`${p}.userId`] = 'Choose who this level pages.';
    const t = minutes(l.timeoutMin);
    if (t === null || t <= 0) e[`${p}.timeoutMs`] = 'Enter a timeout in minutes (more than 0).';
  });
  Object.assign(e, validatePolicyExtras(v.repeat, v.ackTimeoutMin));
  return e;
}

export function toScheduleInput(v: ScheduleValues) {
  return {
    name: v.name.trim(),
    serviceId: v.serviceId,
    ...(v.timeZone?.trim() ? { timeZone: v.timeZone.trim() } : {}),
    ...(v.layers?.length ? { rotations: v.layers.map(toLayerInput) } : {}),
    rotation: v.rotation.map((r) => ({
      userId: r.userId,
      startTime: localInputToIso(r.start) as string,
      endTime: localInputToIso(r.end) as string,
    })),
    escalationPolicy: {
      initialTimeoutMs: Math.round((minutes(v.initialTimeoutMin) ?? 0) * 60_000),
      escalationLevels: v.levels.map((l) => ({
        ...(l.kind === 'schedule' ? { scheduleId: l.scheduleId as string } : { userId: l.userId }),
        timeoutMs: Math.round((minutes(l.timeoutMin) ?? 0) * 60_000),
      })),
      ...policyExtrasInput(v.repeat, v.ackTimeoutMin),
    },
  };
}

/** Repeat (0–9) and the acknowledge timeout (minutes, optional): shared by create and edit. */
export function PolicyExtraFields({
  idPrefix,
  repeat,
  ackTimeoutMin,
  err,
  onChange,
}: {
  idPrefix: string;
  repeat: string;
  ackTimeoutMin: string;
  err: (k: string) => string | undefined;
  onChange: (patch: { repeat?: string; ackTimeoutMin?: string }) => void;
}) {
  const er = err('escalationPolicy.repeat');
  const ea = err('escalationPolicy.acknowledgeTimeoutMs');
  return (
    <div className="field-row">
      <Field
        id={`${idPrefix}-repeat`}
        label="Repeat the policy (times)"
        error={er}
        hint="0 to 9: after the last level times out, start over at level 0 this many times."
      >
        <input
          type="number"
          inputMode="numeric"
          min="0"
          max="9"
          step="1"
          {...aria(`${idPrefix}-repeat`, er, true)}
          value={repeat}
          onChange={(e) => onChange({ repeat: e.target.value })}
        />
      </Field>
      <Field
        id={`${idPrefix}-ack-timeout`}
        label="Return acknowledged incidents to triggered after (minutes, optional)"
        error={ea}
        hint="1 s to 7 days (10080 min); empty: they stay acknowledged until resolved."
      >
        <input
          type="number"
          inputMode="decimal"
          min="0"
          step="any"
          {...aria(`${idPrefix}-ack-timeout`, ea, true)}
          value={ackTimeoutMin}
          onChange={(e) => onChange({ ackTimeoutMin: e.target.value })}
        />
      </Field>
    </div>
  );
}

function firstRow(now = new Date()): RotationRow {
  const start = new Date(now);
  start.setMinutes(0, 0, 0);
  return { key: key(), userId: '', start: toLocalInput(start), end: toLocalInput(new Date(start.getTime() + 7 * DAY)) };
}

export function initialScheduleValues(serviceId = ''): ScheduleValues {
  return { name: '', serviceId, timeZone: '', rotation: [firstRow()], layers: [], initialTimeoutMin: '5', levels: [], repeat: '0', ackTimeoutMin: '' };
}

const TOP_FIELDS = [
  'name',
  'serviceId',
  'timeZone',
  'rotation',
  'escalationPolicy.initialTimeoutMs',
  'escalationPolicy.repeat',
  'escalationPolicy.acknowledgeTimeoutMs',
];

export function ScheduleForm({
  onDone,
  onCancel,
  defaultServiceId = '',
}: {
  onDone: (s: Schedule) => void;
  onCancel?: () => void;
  defaultServiceId?: string;
}) {
  const [{ data: pickers, fetching: loadingPickers }] = useQuery({ query: PickersQuery, context: ctx.pickers });
  const [state, create] = useMutation(CreateScheduleMutation);
  const [v, setV] = useState<ScheduleValues>(() => initialScheduleValues(defaultServiceId));
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: string) => local[k] ?? server.fields[k];
  const clear = (k: string) => setLocal(({ [k]: _drop, ...rest }) => rest);

  const users = pickers?.users ?? [];
  const services = pickers?.services ?? [];
  const schedules = pickers?.schedules ?? [];
  const layers = v.layers ?? [];

  const setRow = (i: number, patch: Partial<RotationRow>) => {
    setV((o) => ({ ...o, rotation: o.rotation.map((r, n) => (n === i ? { ...r, ...patch } : r)) }));
    for (const k of Object.keys(patch)) clear(`rotation[${i}].${k === 'start' ? 'startTime' : k === 'end' ? 'endTime' : k}`);
  };
  const setLevel = (i: number, patch: Partial<LevelRow>) => {
    setV((o) => ({ ...o, levels: o.levels.map((l, n) => (n === i ? { ...l, ...patch } : l)) }));
    for (const k of Object.keys(patch))
      clear(`escalationPolicy.escalationLevels[${i}].${k === 'timeoutMin' ? 'timeoutMs' : k}`);
    if ('kind' in patch) {
      clear(`escalationPolicy.escalationLevels[${i}].userId`);
      clear(`escalationPolicy.escalationLevels[${i}].scheduleId`);
    }
  };
  const setLayer = (i: number, patch: Partial<LayerValues>, fields: string[]) => {
    setV((o) => ({ ...o, layers: (o.layers ?? []).map((l, n) => (n === i ? { ...l, ...patch } : l)) }));
    setLocal((o) =>
      Object.fromEntries(
        Object.entries(o).filter(([k]) => !fields.some((f) => k === `rotations[${i}].${f}` || k.startsWith(`rotations[${i}].${f}[`))),
      ),
    );
  };
  const addRow = () =>
    setV((o) => {
      const last = o.rotation[o.rotation.length - 1];
      if (!last) return { ...o, rotation: [firstRow()] };
      const s = localInputToIso(last.start);
      const e = localInputToIso(last.end);
      const len = s && e && Date.parse(e) > Date.parse(s) ? Date.parse(e) - Date.parse(s) : 7 * DAY;
      const start = e ? new Date(e) : new Date();
      return {
        ...o,
        rotation: [
          ...o.rotation,
          { key: key(), userId: '', start: toLocalInput(start), end: toLocalInput(new Date(start.getTime() + len)) },
        ],
      };
    });

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors = validateSchedule(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) {
      focusInvalid();
      return;
    }
    const res = await create({ input: toScheduleInput(v) });
    if (res.data?.createSchedule) onDone(res.data.createSchedule);
    else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  const shown = (k: string) =>
    TOP_FIELDS.includes(k) ||
    /^rotation\[(\d+)\]\.(userId|startTime|endTime)$/.test(k) ||
    /^escalationPolicy\.escalationLevels\[(\d+)\](\.(userId|scheduleId|timeoutMs))?$/.test(k) ||
    (/^rotations\[\d+\]\./.test(k) && LAYER_FIELDS.test(k.replace(/^rotations\[\d+\]\./, '')));
  const userOptions = (
    <>
      <option value="">{loadingPickers ? 'Loading…' : 'Choose a person'}</option>
      {users.map((u) => (
        <option key={u.id} value={u.id}>
          {u.name}
        </option>
      ))}
    </>
  );

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="sf-h">
      <h2 id="sf-h">Create schedule</h2>
      {pickers && (users.length === 0 || services.length === 0) && (
        <p className="hint">
          A schedule needs a <Link to="/services">service</Link> and some <Link to="/users">users</Link>; create
          them first.
        </p>
      )}
      <div className="field-row">
        <Field id="sf-name" label="Schedule name" error={err('name')}>
          <input
            {...aria('sf-name', err('name'))}
            value={v.name}
            autoComplete="off"
            onChange={(e) => {
              setV((o) => ({ ...o, name: e.target.value }));
              clear('name');
            }}
          />
        </Field>
        <Field id="sf-service" label="Service" error={err('serviceId')}>
          <select
            {...aria('sf-service', err('serviceId'))}
            value={v.serviceId}
            onChange={(e) => {
              setV((o) => ({ ...o, serviceId: e.target.value }));
              clear('serviceId');
            }}
          >
            <option value="">{loadingPickers ? 'Loading…' : 'Choose a service'}</option>
            {services.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field
          id="sf-tz"
          label="Time zone (optional)"
          error={err('timeZone')}
          hint="IANA name for the timeline and calendar feed; default UTC."
        >
          <input
            {...aria('sf-tz', err('timeZone'), true)}
            list="tz-list"
            value={v.timeZone ?? ''}
            autoComplete="off"
            spellCheck={false}
            placeholder="UTC"
            onChange={(e) => {
              setV((o) => ({ ...o, timeZone: e.target.value }));
              clear('timeZone');
            }}
          />
        </Field>
      </div>
      <ZoneList />

      <fieldset className="rows-fieldset">
        <legend>Rotation layers</legend>
        <p className="hint">Recurring: participants take turns. A later layer wins where layers overlap.</p>
        {layers.map((l, i) => (
          <div className="entry entry-layer" key={l.key} data-testid="rotation-layer">
            <RotationLayerFields
              id={`sf-layer-${l.key}`}
              values={l}
              users={users}
              suffix={`(layer ${i + 1})`}
              err={(f) => err(`rotations[${i}].${f}`)}
              onChange={(patch, fields) => setLayer(i, patch, fields)}
            />
            <button
                aria-label={`Remove rotation layer ${i + 1}`}
              type="button"
              className="btn btn-link entry-remove"
              onClick={() => setV((o) => ({ ...o, layers: (o.layers ?? []).filter((_, n2) => n2 !== i) }))}
            >
              Remove
            </button>
          </div>
        ))}
        <button
          type="button"
          className="btn"
          onClick={() =>
            setV((o) => ({ ...o, layers: [...(o.layers ?? []), initialLayer(Date.now(), o.timeZone?.trim() || undefined)] }))
          }
        >
          Add rotation layer
        </button>
      </fieldset>

      <fieldset className="rows-fieldset" aria-describedby={err('rotation') ? 'sf-rotation-error' : undefined}>
        <legend>Rotation entries</legend>
        <p className="hint">Explicit one-off shifts: who is on call, and when. Times are in your time zone.</p>
        {v.rotation.map((r, i) => {
          const id = `sf-rot-${r.key}`;
          const eu = err(`rotation[${i}].userId`);
          const es = err(`rotation[${i}].startTime`);
          const ee = err(`rotation[${i}].endTime`);
          const n = <span className="visually-hidden"> (entry {i + 1})</span>;
          return (
            <div className="entry" key={r.key} data-testid="rotation-entry">
              <Field id={`${id}-user`} label={<>On call{n}</>} error={eu}>
                <select {...aria(`${id}-user`, eu)} value={r.userId} onChange={(e) => setRow(i, { userId: e.target.value })}>
                  {userOptions}
                </select>
              </Field>
              <Field id={`${id}-start`} label={<>Start{n}</>} error={es}>
                <input
                  type="datetime-local"
                  {...aria(`${id}-start`, es)}
                  value={r.start}
                  onChange={(e) => setRow(i, { start: e.target.value })}
                />
              </Field>
              <Field id={`${id}-end`} label={<>End{n}</>} error={ee}>
                <input
                  type="datetime-local"
                  {...aria(`${id}-end`, ee)}
                  value={r.end}
                  onChange={(e) => setRow(i, { end: e.target.value })}
                />
              </Field>
              <button
                aria-label={`Remove rotation entry ${i + 1}`}
                type="button"
                className="btn btn-link entry-remove"
                onClick={() => setV((o) => ({ ...o, rotation: o.rotation.filter((_, n2) => n2 !== i) }))}
              >
                Remove
              </button>
            </div>
          );
        })}
        {err('rotation') && (
          <p className="field-error" id="sf-rotation-error">
            {err('rotation')}
          </p>
        )}
        <button type="button" className="btn" onClick={addRow}>
          Add rotation entry
        </button>
      </fieldset>

      <fieldset className="rows-fieldset">
        <legend>Escalation</legend>
        <p className="hint">
          If the on-call person does not acknowledge in time, the incident moves down these levels.
        </p>
        <Field
          id="sf-initial"
          label="Escalate after (minutes, level 0)"
          error={err('escalationPolicy.initialTimeoutMs')}
        >
          <input
            type="number"
            inputMode="decimal"
            min="0"
            step="any"
            {...aria('sf-initial', err('escalationPolicy.initialTimeoutMs'))}
            value={v.initialTimeoutMin}
            onChange={(e) => {
              setV((o) => ({ ...o, initialTimeoutMin: e.target.value }));
              clear('escalationPolicy.initialTimeoutMs');
            }}
          />
        </Field>
        {v.levels.map((l, i) => {
          const id = `sf-lvl-${l.key}`;
          const p = `escalationPolicy.escalationLevels[${i}]`;
          const eu = err(`${p}.userId`) ?? err(p);
          const esc = err(`${p}.scheduleId`) ?? err(p);
          const et = err(`${p}.timeoutMs`);
          return (
            <div className="entry" key={l.key} data-testid="escalation-level">
              <Field id={`${id}-kind`} label={`Level ${i + 1} target`}>
                <select
                  id={`${id}-kind`}
                  value={l.kind ?? 'user'}
                  onChange={(e) => setLevel(i, { kind: e.target.value as 'user' | 'schedule' })}
                >
                  <option value="user">User</option>
                  <option value="schedule">Schedule</option>
                </select>
              </Field>
              {l.kind === 'schedule' ? (
                <Field id={`${id}-sched`} label={`Level ${i + 1} pages whoever is on call for`} error={esc}>
                  <select
                    {...aria(`${id}-sched`, esc)}
                    value={l.scheduleId ?? ''}
                    onChange={(e) => setLevel(i, { scheduleId: e.target.value })}
                  >
                    <option value="">{loadingPickers ? 'Loading…' : 'Choose a schedule'}</option>
                    {schedules.map((sc) => (
                      <option key={sc.id} value={sc.id}>
                        {sc.name}
                      </option>
                    ))}
                  </select>
                </Field>
              ) : (
                <Field id={`${id}-user`} label={`Level ${i + 1} pages`} error={eu}>
                  <select {...aria(`${id}-user`, eu)} value={l.userId} onChange={(e) => setLevel(i, { userId: e.target.value })}>
                    {userOptions}
                  </select>
                </Field>
              )}
              <Field id={`${id}-timeout`} label={`Level ${i + 1} escalates after (minutes)`} error={et}>
                <input
                  type="number"
                  inputMode="decimal"
                  min="0"
                  step="any"
                  {...aria(`${id}-timeout`, et)}
                  value={l.timeoutMin}
                  onChange={(e) => setLevel(i, { timeoutMin: e.target.value })}
                />
              </Field>
              <button
                aria-label={`Remove level ${i + 1}`}
                type="button"
                className="btn btn-link entry-remove"
                onClick={() => setV((o) => ({ ...o, levels: o.levels.filter((_, n2) => n2 !== i) }))}
              >
                Remove
              </button>
            </div>
          );
        })}
        <button
          type="button"
          className="btn"
          onClick={() => setV((o) => ({ ...o, levels: [...o.levels, { key: key(), userId: '', timeoutMin: '10' }] }))}
        >
          Add escalation level
        </button>
        <PolicyExtraFields
          idPrefix="sf"
          repeat={v.repeat ?? ''}
          ackTimeoutMin={v.ackTimeoutMin ?? ''}
          err={err}
          onChange={(patch) => {
            setV((o) => ({ ...o, ...patch }));
            if ('repeat' in patch) clear('escalationPolicy.repeat');
            if ('ackTimeoutMin' in patch) clear('escalationPolicy.acknowledgeTimeoutMs');
          }}
        />
      </fieldset>

      <Alert messages={[...server.general, ...unclaimed(server.fields, shown)]} />
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Creating…' : 'Create schedule'}
        </button>
        {onCancel && (
          <button type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
