import { useId, useState } from 'react';
import { useMutation } from 'urql';
import { AcknowledgeMutation, EscalateMutation, ResolveMutation, type IncidentLite } from '../queries';
import { canAcknowledge, canEscalate, canResolve, hasNextLevel } from '../lib/incident';
import { errorText } from '../lib/errors';
import { useCan } from '../access';

type Props = {
  incident: Pick<IncidentLite, 'id' | 'title' | 'state' | 'escalationLevel'> & {
    canEscalate?: boolean;
    escalationPolicy: { escalationLevels: readonly unknown[] };
  };
  /** Include Escalate (the incident page does; the board keeps it compact). */
  escalate?: boolean;
  size?: 'normal' | 'small';
};

/** Acknowledge / Resolve / Escalate, each enabled only when the move is legal; none for a VIEWER. */
export function IncidentActions(props: Props) {
  return useCan().respond ? <Actions {...props} /> : null;
}

function Actions({ incident, escalate = true, size = 'normal' }: Props) {
  const [ack, doAck] = useMutation(AcknowledgeMutation);
  const [res, doRes] = useMutation(ResolveMutation);
  const [esc, doEsc] = useMutation(EscalateMutation);
  const [last, setLast] = useState<'ack' | 'res' | 'esc' | null>(null);
  const errId = useId();
  const busy = ack.fetching || res.fetching || esc.fetching;
  const error = last === 'ack' ? ack.error : last === 'res' ? res.error : last === 'esc' ? esc.error : undefined;
  const message = errorText(error);
  const vars = { id: incident.id };
  const escalateHint =
    incident.state === 'RESOLVED'
      ? 'Resolved incidents cannot be escalated.'
      : !hasNextLevel(incident)
        ? 'Already at the last escalation level.'
        : undefined;

  return (
    <div className={`actions${size === 'small' ? ' actions-small' : ''}`}>
      <div className="button-row" role="group" aria-label={`Actions for ${incident.title}`}>
        <button
          type="button"
          className="btn btn-ack"
          disabled={busy || !canAcknowledge(incident)}
          aria-describedby={message ? errId : undefined}
          onClick={() => {
            setLast('ack');
            void doAck(vars);
          }}
        >
          Acknowledge
        </button>
        <button
          type="button"
          className="btn btn-resolve"
          disabled={busy || !canResolve(incident)}
          aria-describedby={message ? errId : undefined}
          onClick={() => {
            setLast('res');
            void doRes(vars);
          }}
        >
          Resolve
        </button>
        {escalate && (
          <button
            type="button"
            className="btn btn-escalate"
            disabled={busy || !canEscalate(incident)}
            title={escalateHint}
            aria-describedby={message ? errId : undefined}
            onClick={() => {
              setLast('esc');
              void doEsc(vars);
            }}
          >
            Escalate
          </button>
        )}
      </div>
      {message && (
        <p className="field-error" role="alert" id={errId}>
          {message}
        </p>
      )}
    </div>
  );
}
