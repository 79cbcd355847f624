// The fields of one rotation layer, shared by "Add rotation" and "Create schedule".
import { useState, type ReactNode } from 'react';
import type { FieldErrors } from '../lib/errors';
import { browserZone, COMMON_ZONES, isZone, toZonedInput, zonedInputToIso } from '../lib/zone';
import { Field, aria } from './ui';

export const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
export type ShiftUnit = 'HOUR' | 'DAY' | 'WEEK';
const DAY_LABEL: Record<Weekday, string> = { MON: 'Mon', TUE: 'Tue', WED: 'Wed', THU: 'Thu', FRI: 'Fri', SAT: 'Sat', SUN: 'Sun' };

export interface LayerValues {
  key: number;
  name: string;
  timeZone: string;
  /** datetime-local, wall time in `timeZone`. */
  start: string;
  shiftLength: string;
  shiftUnit: ShiftUnit;
  participants: string[];
  restrict: boolean;
  weekdays: Weekday[];
  startTime: string;
  endTime: string;
}

let nextKey = 1;
export function initialLayer(now = Date.now(), timeZone = browserZone()): LayerValues {
  // Tomorrow 09:00 in the zone is a sensible first handoff.
  const start = toZonedInput(now + 86_400_000, timeZone).slice(0, 10) + 'T09:00';
  return {
    key: nextKey++,
    name: '',
    timeZone,
    start,
    shiftLength: '1',
    shiftUnit: 'WEEK',
    participants: [],
    restrict: false,
    weekdays: [],
    startTime: '09:00',
    endTime: '17:00',
  };
}

const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Problems keyed by the server's field names, under `prefix` ("" or "rotations[0]."). */
export function validateLayer(v: LayerValues, prefix = ''): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e[`${prefix}name`] = 'Give the rotation a name, e.g. "Primary".';
  if (!v.timeZone.trim()) e[`${prefix}timeZone`] = 'Enter an IANA time zone, e.g. Europe/Berlin.';
  else if (!isZone(v.timeZone.trim())) e[`${prefix}timeZone`] = `"${v.timeZone}" is not a time zone this browser knows, e.g. Europe/Berlin.`;
  else if (!zonedInputToIso(v.start, v.timeZone.trim())) e[`${prefix}start`] = 'Enter when the first shift starts.';
  const n = Number(v.shiftLength);
  if (!v.shiftLength.trim() || !Number.isInteger(n) || n < 1) e[`${prefix}shiftLength`] = 'Enter a whole number, 1 or more.';
  if (v.participants.length === 0) e[`${prefix}participants`] = 'Add at least one participant.';
  if (v.restrict) {
    if (!CLOCK.test(v.startTime)) e[`${prefix}restriction.startTime`] = 'Enter a time as HH:MM.';
    if (!CLOCK.test(v.endTime)) e[`${prefix}restriction.endTime`] = 'Enter a time as HH:MM.';
  }
  return e;
}

export function toLayerInput(v: LayerValues) {
  const tz = v.timeZone.trim();
  return {
    name: v.name.trim(),
    timeZone: tz,
    start: zonedInputToIso(v.start, tz) as string,
    shiftLength: Number(v.shiftLength),
    shiftUnit: v.shiftUnit,
    participants: v.participants,
    restriction: v.restrict ? { weekdays: v.weekdays, startTime: v.startTime, endTime: v.endTime } : null,
  };
}

/** Which server field keys these fields show (for `unclaimed`). */
export const LAYER_FIELDS = /^(name|timeZone|start|shiftLength|shiftUnit|participants(\[\d+\])?|restriction\.(startTime|endTime|weekdays))$/;

export function RotationLayerFields({
  id,
  values: v,
  onChange,
  err,
  users,
  suffix,
}: {
  id: string;
  values: LayerValues;
  onChange: (patch: Partial<LayerValues>, fields: string[]) => void;
  /** Error for an unprefixed field name. */
  err: (field: string) => string | undefined;
  users: readonly { id: string; name: string }[];
  /** Appended, visually hidden, to every label ("(layer 2)"). */
  suffix?: string;
}) {
  const [pick, setPick] = useState('');
  const n: ReactNode = suffix ? <span className="visually-hidden">{` ${suffix}`}</span> : null;
  const name = (uid: string) => users.find((u) => u.id === uid)?.name ?? uid;
  const set = (patch: Partial<LayerValues>, ...fields: string[]) => onChange(patch, fields.length ? fields : Object.keys(patch));
  const move = (i: number, d: number) => {
    const p = [...v.participants];
    [p[i], p[i + d]] = [p[i + d], p[i]];
    set({ participants: p });
  };
  const ep = err('participants') ?? v.participants.map((_, i) => err(`participants[${i}]`)).find(Boolean);
  const available = users.filter((u) => !v.participants.includes(u.id));
  return (
    <>
      <div className="field-row">
        <Field id={`${id}-name`} label={<>Rotation name{n}</>} error={err('name')}>
          <input {...aria(`${id}-name`, err('name'))} value={v.name} autoComplete="off" onChange={(e) => set({ name: e.target.value })} />
        </Field>
        <Field id={`${id}-tz`} label={<>Time zone{n}</>} error={err('timeZone')} hint="IANA name, e.g. Europe/Berlin.">
          <input
            {...aria(`${id}-tz`, err('timeZone'), true)}
            list="tz-list"
            value={v.timeZone}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => set({ timeZone: e.target.value })}
          />
        </Field>
        <Field
          id={`${id}-start`}
          label={<>First handoff{n}</>}
          error={err('start')}
          hint={`Wall-clock time in ${v.timeZone || 'the rotation’s zone'}.`}
        >
          <input
            type="datetime-local"
            {...aria(`${id}-start`, err('start'), true)}
            value={v.start}
            onChange={(e) => set({ start: e.target.value })}
          />
        </Field>
      </div>
      <div className="field-row">
        <Field id={`${id}-len`} label={<>Shift length{n}</>} error={err('shiftLength')}>
          <input
            type="number"
            inputMode="numeric"
            min="1"
            step="1"
            {...aria(`${id}-len`, err('shiftLength'))}
            value={v.shiftLength}
            onChange={(e) => set({ shiftLength: e.target.value })}
          />
        </Field>
        <Field id={`${id}-unit`} label={<>Unit{n}</>} error={err('shiftUnit')}>
          <select {...aria(`${id}-unit`, err('shiftUnit'))} value={v.shiftUnit} onChange={(e) => set({ shiftUnit: e.target.value as ShiftUnit })}>
            <option value="HOUR">hours</option>
            <option value="DAY">days</option>
            <option value="WEEK">weeks</option>
          </select>
        </Field>
      </div>
      <div className={`field${ep ? ' has-error' : ''}`}>
        <span className="label" id={`${id}-parts-label`}>
          Participants, in turn order{n}
        </span>
        {v.participants.length === 0 ? (
          <p className="hint">Nobody yet.</p>
        ) : (
          <ol className="participants" aria-labelledby={`${id}-parts-label`} data-testid="participants">
            {v.participants.map((uid, i) => (
              <li key={uid}>
                {name(uid)}
                <button type="button" className="btn btn-link" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Up ${name(uid)}`}>
                  Up
                </button>
                <button type="button" className="btn btn-link" disabled={i === v.participants.length - 1} onClick={() => move(i, 1)} aria-label={`Down ${name(uid)}`}>
                  Down
                </button>
                <button
                  type="button"
                  className="btn btn-link"
                  onClick={() => set({ participants: v.participants.filter((p) => p !== uid) })}
                 aria-label={`Remove ${name(uid)}`}>
                  Remove
                </button>
              </li>
            ))}
          </ol>
        )}
        <div className="inline-add">
          <label htmlFor={`${id}-pick`} className="visually-hidden">
            Participant to add{suffix ? ` ${suffix}` : ''}
          </label>
          <select
            id={`${id}-pick`}
            aria-invalid={ep ? true : undefined}
            aria-describedby={ep ? `${id}-parts-error` : undefined}
            value={pick}
            onChange={(e) => setPick(e.target.value)}
          >
            <option value="">Choose a person</option>
            {available.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name}
              </option>
            ))}
          </select>{' '}
          <button
            type="button"
            className="btn"
            disabled={!pick}
            aria-label={`Add participant${suffix ? ` ${suffix}` : ''}`}
            onClick={() => {
              set({ participants: [...v.participants, pick] }, 'participants');
              setPick('');
            }}
          >
            Add participant
          </button>
        </div>
        {ep && (
          <p className="field-error" id={`${id}-parts-error`}>
            {ep}
          </p>
        )}
      </div>
      <div className="field">
        <label className="check">
          <input type="checkbox" checked={v.restrict} onChange={(e) => set({ restrict: e.target.checked })} /> Only on
          some days or hours{n}
        </label>
      </div>
      {v.restrict && (
        <div className="field-row">
          <fieldset className="weekdays">
            <legend>Days (none ticked: every day){n}</legend>
            {WEEKDAYS.map((d) => (
              <label key={d} className="check">
                <input
                  type="checkbox"
                  checked={v.weekdays.includes(d)}
                  onChange={(e) =>
                    set(
                      { weekdays: e.target.checked ? WEEKDAYS.filter((w) => w === d || v.weekdays.includes(w)) : v.weekdays.filter((w) => w !== d) },
                      'restriction.weekdays',
                    )
                  }
                />
                {DAY_LABEL[d]}
              </label>
            ))}
          </fieldset>
          <Field id={`${id}-from`} label={<>Window start{n}</>} error={err('restriction.startTime')}>
            <input
              type="time"
              {...aria(`${id}-from`, err('restriction.startTime'))}
              value={v.startTime}
              onChange={(e) => set({ startTime: e.target.value }, 'restriction.startTime')}
            />
          </Field>
          <Field
            id={`${id}-to`}
            label={<>Window end{n}</>}
            error={err('restriction.endTime')}
            hint="At or before the start: runs past midnight."
          >
            <input
              type="time"
              {...aria(`${id}-to`, err('restriction.endTime'), true)}
              value={v.endTime}
              onChange={(e) => set({ endTime: e.target.value }, 'restriction.endTime')}
            />
          </Field>
        </div>
      )}
    </>
  );
}

/** The one datalist the time zone inputs share. */
export function ZoneList() {
  const zones = [...new Set([browserZone(), ...COMMON_ZONES])];
  return (
    <datalist id="tz-list">
      {zones.map((z) => (
        <option key={z} value={z} />
      ))}
    </datalist>
  );
}
