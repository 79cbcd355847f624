// The schedule page's "Add rotation" and "Add override" forms.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { AddOverrideMutation, AddRotationMutation } from '../queries';
import { splitErrors, unclaimed, type FieldErrors, type SplitErrors } from '../lib/errors';
import { DAY, localInputToIso, toLocalInput } from '../lib/time';
import { Alert, Field, aria, useFocusFirstInvalid } from '../components/ui';
import {
  LAYER_FIELDS,
  RotationLayerFields,
  ZoneList,
  initialLayer,
  toLayerInput,
  validateLayer,
  type LayerValues,
} from '../components/RotationLayerFields';

type People = readonly { id: string; name: string }[];
const none: SplitErrors = { fields: {}, general: [] };

function useErrors() {
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<SplitErrors>(none);
  return {
    local,
    server,
    setLocal,
    setServer,
    err: (k: string) => local[k] ?? server.fields[k],
    clear: (keys: string[]) => {
      setLocal((o) => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.some((c) => k === c || k.startsWith(`${c}[`)))));
      setServer((o) => ({ ...o, fields: Object.fromEntries(Object.entries(o.fields).filter(([k]) => !keys.some((c) => k === c || k.startsWith(`${c}[`)))) }));
    },
  };
}

export function AddRotationForm({ scheduleId, users, onDone }: { scheduleId: string; users: People; onDone: () => void }) {
  const [v, setV] = useState<LayerValues>(() => initialLayer());
  const [state, add] = useMutation(AddRotationMutation);
  const e = useErrors();
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const [done, setDone] = useState('');

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const errors = validateLayer(v);
    e.setLocal(errors);
    e.setServer(none);
    setDone('');
    if (Object.keys(errors).length) return focusInvalid();
    const res = await add({ input: { scheduleId, ...toLayerInput(v) } });
    if (res.data?.addRotation) {
      setDone(`Added rotation ${res.data.addRotation.name}.`);
      setV(initialLayer(Date.now(), v.timeZone));
      onDone();
    } else {
      e.setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="ar-h">
      <h3 id="ar-h">Add rotation</h3>
      <p className="hint">A layer added later wins where layers overlap.</p>
      <ZoneList />
      <RotationLayerFields
        id="ar"
        values={v}
        users={users}
        err={e.err}
        onChange={(patch, fields) => {
          setV((o) => ({ ...o, ...patch }));
          e.clear(fields);
        }}
      />
      <Alert messages={[...e.server.general, ...unclaimed(e.server.fields, (k) => LAYER_FIELDS.test(k))]} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Add rotation'}
        </button>
      </div>
    </form>
  );
}

export interface OverrideValues {
  userId: string;
  start: string;
  end: string;
  replaces: string;
}

export function validateOverride(v: OverrideValues): FieldErrors {
  const e: FieldErrors = {};
  if (!v.userId) e.userId = 'Choose who covers.';
  const s = localInputToIso(v.start);
  const en = localInputToIso(v.end);
  if (!s) e.start = 'Enter when the override starts.';
  if (!en) e.end = 'Enter when the override ends.';
  else if (s && Date.parse(en) <= Date.parse(s)) e.end = 'The end must be after the start.';
  if (v.replaces && v.replaces === v.userId) e.replaces = 'Someone cannot replace themselves.';
  return e;
}

function initialOverride(now = Date.now()): OverrideValues {
  const start = new Date(now);
  start.setMinutes(0, 0, 0);
  return { userId: '', start: toLocalInput(start), end: toLocalInput(new Date(start.getTime() + DAY)), replaces: '' };
}

const OVERRIDE_FIELDS = ['userId', 'start', 'end', 'replaces'];

export function AddOverrideForm({ scheduleId, users, onDone }: { scheduleId: string; users: People; onDone: () => void }) {
  const [v, setV] = useState<OverrideValues>(() => initialOverride());
  const [state, add] = useMutation(AddOverrideMutation);
  const e = useErrors();
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const [done, setDone] = useState('');
  const set = (patch: Partial<OverrideValues>) => {
    setV((o) => ({ ...o, ...patch }));
    e.clear(Object.keys(patch));
  };

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const errors = validateOverride(v);
    e.setLocal(errors);
    e.setServer(none);
    setDone('');
    if (Object.keys(errors).length) return focusInvalid();
    const res = await add({
      input: {
        scheduleId,
        userId: v.userId,
        start: localInputToIso(v.start) as string,
        end: localInputToIso(v.end) as string,
        replaces: v.replaces || null,
      },
    });
    if (res.data?.addOverride) {
      setDone(`Added override: ${res.data.addOverride.user.name}.`);
      setV(initialOverride());
      onDone();
    } else {
      e.setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  const options = (empty: string) => (
    <>
      <option value="">{empty}</option>
      {users.map((u) => (
        <option key={u.id} value={u.id}>
          {u.name}
        </option>
      ))}
    </>
  );

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="ao-h">
      <h3 id="ao-h">Add override</h3>
      <p className="hint">Someone covers a stretch instead of the rotations. Times are in your time zone.</p>
      <div className="field-row">
        <Field id="ao-user" label="Who covers" error={e.err('userId')}>
          <select {...aria('ao-user', e.err('userId'))} value={v.userId} onChange={(ev) => set({ userId: ev.target.value })}>
            {options('Choose a person')}
          </select>
        </Field>
        <Field id="ao-start" label="Override start" error={e.err('start')}>
          <input type="datetime-local" {...aria('ao-start', e.err('start'))} value={v.start} onChange={(ev) => set({ start: ev.target.value })} />
        </Field>
        <Field id="ao-end" label="Override end" error={e.err('end')}>
          <input type="datetime-local" {...aria('ao-end', e.err('end'))} value={v.end} onChange={(ev) => set({ end: ev.target.value })} />
        </Field>
        <Field id="ao-replaces" label="Replacing (optional)" error={e.err('replaces')} hint="Only that person’s shifts are covered.">
          <select {...aria('ao-replaces', e.err('replaces'), true)} value={v.replaces} onChange={(ev) => set({ replaces: ev.target.value })}>
            {options('Whoever is on call')}
          </select>
        </Field>
      </div>
      <Alert messages={[...e.server.general, ...unclaimed(e.server.fields, (k) => OVERRIDE_FIELDS.includes(k))]} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Add override'}
        </button>
      </div>
    </form>
  );
}
