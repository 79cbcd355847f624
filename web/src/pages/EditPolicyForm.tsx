// Edit a schedule's escalation timing: level 0's timeout, repeat and the acknowledge timeout.
// The levels themselves are sent back as they are.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { UpdateSchedulePolicyMutation, type Policy } from '../queries';
import { splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { Alert, Field, aria, useFocusFirstInvalid } from '../components/ui';
import { PolicyExtraFields, policyExtrasInput, validatePolicyExtras } from './ScheduleForm';

const SHOWN = ['escalationPolicy.initialTimeoutMs', 'escalationPolicy.repeat', 'escalationPolicy.acknowledgeTimeoutMs'];

const toMin = (ms: number) => String(Math.round((ms / 60_000) * 10_000) / 10_000);

export function EditPolicyForm({ scheduleId, policy, onDone }: { scheduleId: string; policy: Policy; onDone?: () => void }) {
  const [state, update] = useMutation(UpdateSchedulePolicyMutation);
  const [initial, setInitial] = useState(() => toMin(policy.initialTimeoutMs));
  const [repeat, setRepeat] = useState(() => String(policy.repeat ?? 0));
  const [ack, setAck] = useState(() => (policy.acknowledgeTimeoutMs != null ? toMin(policy.acknowledgeTimeoutMs) : ''));
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const [said, setSaid] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: string) => local[k] ?? server.fields[k];
  const clear = (k: string) => setLocal(({ [k]: _drop, ...rest }) => rest);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaid('');
    const errors = validatePolicyExtras(repeat, ack);
    const n = Number(initial);
    if (!initial.trim() || !Number.isFinite(n) || n <= 0)
      errors['escalationPolicy.initialTimeoutMs'] = 'Enter how many minutes to wait before escalating (more than 0).';
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) {
      focusInvalid();
      return;
    }
    const res = await update({
      id: scheduleId,
      input: {
        escalationPolicy: {
          initialTimeoutMs: Math.round(n * 60_000),
          escalationLevels: policy.escalationLevels.map((l) => ({
            ...(l.schedule ? { scheduleId: l.schedule.id } : { userId: l.user.id }),
            timeoutMs: l.timeoutMs,
          })),
          ...policyExtrasInput(repeat, ack),
        },
      },
    });
    if (res.data?.updateSchedule) {
      setSaid('Escalation policy saved.');
      onDone?.();
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  const ei = err('escalationPolicy.initialTimeoutMs');
  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="ep-h">
      <h3 id="ep-h">Edit escalation timing</h3>
      <Field id="ep-initial" label="Escalate after (minutes, level 0)" error={ei}>
        <input
          type="number"
          inputMode="decimal"
          min="0"
          step="any"
          {...aria('ep-initial', ei)}
          value={initial}
          onChange={(e) => {
            setInitial(e.target.value);
            clear('escalationPolicy.initialTimeoutMs');
          }}
        />
      </Field>
      <PolicyExtraFields
        idPrefix="ep"
        repeat={repeat}
        ackTimeoutMin={ack}
        err={err}
        onChange={(p) => {
          if (p.repeat !== undefined) {
            setRepeat(p.repeat);
            clear('escalationPolicy.repeat');
          }
          if (p.ackTimeoutMin !== undefined) {
            setAck(p.ackTimeoutMin);
            clear('escalationPolicy.acknowledgeTimeoutMs');
          }
        }}
      />
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => SHOWN.includes(k))]} />
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Saving…' : 'Save escalation timing'}
        </button>
        <span role="status" className="ok-text">
          {said}
        </span>
      </div>
    </form>
  );
}
