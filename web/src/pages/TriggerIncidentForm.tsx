import { useRef, useState, type FormEvent } from 'react';
import { ctx } from '../lib/context';
import { useMutation, useQuery } from 'urql';
import { PickersQuery, TriggerIncidentMutation, type Incident, type Severity } from '../queries';
import { SEVERITIES, label } from '../lib/incident';
import { splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { Alert, Field, aria, useFocusFirstInvalid } from '../components/ui';
import { Link } from '../router';

export interface TriggerValues {
  title: string;
  description: string;
  scheduleId: string;
  severity: Severity;
  dedupKey: string;
}

export function validateTrigger(v: TriggerValues): FieldErrors {
  const e: FieldErrors = {};
  if (!v.title.trim()) e.title = 'Give the incident a title, e.g. "Payment API down".';
  else if (v.title.trim().length > 200) e.title = 'Keep the title under 200 characters.';
  if (!v.scheduleId) e.scheduleId = 'Choose the schedule whose on-call responder should be paged.';
  if (!SEVERITIES.includes(v.severity)) e.severity = 'Choose a severity.';
  return e;
}

const FIELDS = ['title', 'description', 'scheduleId', 'severity', 'dedupKey'];

export function TriggerIncidentForm({
  onDone,
  onCancel,
  defaultScheduleId = '',
}: {
  onDone: (i: Incident) => void;
  onCancel?: () => void;
  defaultScheduleId?: string;
}) {
  const [{ data: pickers, fetching: loadingPickers }] = useQuery({ query: PickersQuery, context: ctx.pickers });
  const [state, trigger] = useMutation(TriggerIncidentMutation);
  const [v, setV] = useState<TriggerValues>({
    title: '',
    description: '',
    scheduleId: defaultScheduleId,
    severity: 'HIGH',
    dedupKey: '',
  });
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: keyof TriggerValues) => local[k] ?? server.fields[k];
  const set = (k: keyof TriggerValues) => (e: { target: { value: string } }) => {
    setV((old) => ({ ...old, [k]: e.target.value }));
    setLocal(({ [k]: _drop, ...rest }) => rest);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors = validateTrigger(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) {
      focusInvalid();
      return;
    }
    const res = await trigger({
      input: {
        title: v.title.trim(),
        description: v.description.trim() || null,
        scheduleId: v.scheduleId,
        severity: v.severity,
        dedupKey: v.dedupKey.trim() || null,
      },
    });
    if (res.data?.triggerIncident) {
      onDone(res.data.triggerIncident);
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  const schedules = pickers?.schedules ?? [];
  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="trigger-h">
      <h2 id="trigger-h">Trigger incident</h2>
      <Field id="ti-title" label="Title" error={err('title')}>
        <input {...aria('ti-title', err('title'))} value={v.title} onChange={set('title')} autoComplete="off" />
      </Field>
      <Field id="ti-description" label="Description (optional)" error={err('description')}>
        <textarea {...aria('ti-description', err('description'))} rows={3} value={v.description} onChange={set('description')} />
      </Field>
      <div className="field-row">
        <Field
          id="ti-schedule"
          label="Schedule"
          error={err('scheduleId')}
          hint={
            !loadingPickers && pickers && schedules.length === 0 ? (
              <>
                No schedules yet: <Link to="/schedules?create=1">create one</Link> first.
              </>
            ) : undefined
          }
        >
          <select
            {...aria('ti-schedule', err('scheduleId'), !loadingPickers && !!pickers && schedules.length === 0)}
            value={v.scheduleId}
            onChange={set('scheduleId')}
          >
            <option value="">{loadingPickers ? 'Loading…' : 'Choose a schedule'}</option>
            {schedules.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name} ({s.service.name})
              </option>
            ))}
          </select>
        </Field>
        <Field id="ti-severity" label="Severity" error={err('severity')}>
          <select {...aria('ti-severity', err('severity'))} value={v.severity} onChange={set('severity')}>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {label(s)}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field
        id="ti-dedup"
        label="Deduplication key (optional)"
        error={err('dedupKey')}
        hint="Repeats with the same key join the open incident instead of paging again."
      >
        <input {...aria('ti-dedup', err('dedupKey'), true)} value={v.dedupKey} onChange={set('dedupKey')} autoComplete="off" />
      </Field>
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => FIELDS.includes(k))]} />
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Triggering…' : 'Trigger incident'}
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
