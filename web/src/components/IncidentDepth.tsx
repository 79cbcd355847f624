// The incident page's responder tools: a note box, Reassign and Snooze. None for a VIEWER.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { AddNoteMutation, PickersQuery, ReassignMutation, SnoozeMutation, type Incident } from '../queries';
import { ctx } from '../lib/context';
import { errorText, splitErrors } from '../lib/errors';
import { HOUR, MINUTE } from '../lib/time';
import { useCan } from '../access';
import { Field, aria } from './ui';

export const NOTE_MAX = 10_000;

/** What the note box says before anything is sent; null when the text may go. */
export function validateNote(text: string): string | null {
  if (!text.trim()) return 'Write something first.';
  if (text.length > NOTE_MAX)
    return `A note can be at most ${NOTE_MAX.toLocaleString('en')} characters; this one has ${text.length.toLocaleString('en')}.`;
  return null;
}

type Changed = (i: Incident) => void;

/** A textarea that adds a note to the incident's timeline. */
export function NoteBox({ incidentId, onAdded }: { incidentId: string; onAdded?: Changed }) {
  if (!useCan().respond) return null;
  return <NoteForm incidentId={incidentId} onAdded={onAdded} />;
}

function NoteForm({ incidentId, onAdded }: { incidentId: string; onAdded?: Changed }) {
  const [state, add] = useMutation(AddNoteMutation);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [said, setSaid] = useState('');
  const box = useRef<HTMLTextAreaElement>(null);
  const id = 'note-text';
  const over = text.length > NOTE_MAX;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaid('');
    const problem = validateNote(text);
    if (problem) {
      setError(problem);
      box.current?.focus();
      return;
    }
    setError(undefined);
    const res = await add({ incidentId, text });
    if (res.data?.addNote) {
      setText('');
      setSaid('Note added.');
      onAdded?.(res.data.addNote);
    } else {
      const { fields, general } = splitErrors(res.error);
      setError([fields.text, ...general, ...Object.entries(fields).filter(([k]) => k !== 'text').map(([k, m]) => `${k}: ${m}`)].filter(Boolean).join(' ') || errorText(res.error) || 'The note was not added.');
      box.current?.focus();
    }
  }

  return (
    <form className="form note-form" onSubmit={submit} noValidate aria-label="New note">
      <Field
        id={id}
        label="Add a note"
        error={error}
        hint={
          <span className={over ? 'warn-text' : undefined} data-testid="note-counter">
            {text.length.toLocaleString('en')} / {NOTE_MAX.toLocaleString('en')} characters
          </span>
        }
      >
        <textarea
          ref={box}
          {...aria(id, error, true)}
          rows={3}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            if (error) setError(undefined);
          }}
        />
      </Field>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Add note'}
        </button>
        <span role="status" className="ok-text">
          {said}
        </span>
      </div>
    </form>
  );
}

export const SNOOZE_CHOICES: { label: string; ms: number }[] = [
  { label: '15 minutes', ms: 15 * MINUTE },
  { label: '1 hour', ms: HOUR },
  { label: '4 hours', ms: 4 * HOUR },
  { label: '24 hours', ms: 24 * HOUR },
];

/** Snooze for a common duration: acknowledged now, TRIGGERED again when the time is up. */
export function SnoozeMenu({ incident, onChanged }: { incident: Pick<Incident, 'id' | 'title' | 'state'>; onChanged?: Changed }) {
  const can = useCan();
  if (!can.respond || incident.state === 'RESOLVED') return null;
  return <Snooze incident={incident} onChanged={onChanged} />;
}

function Snooze({ incident, onChanged }: { incident: Pick<Incident, 'id' | 'title' | 'state'>; onChanged?: Changed }) {
  const [state, snooze] = useMutation(SnoozeMutation);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const menuId = useId();
  const toggle = useRef<HTMLButtonElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);
  return (
    <div
      className="menu-wrap"
      onKeyDown={(e) => {
        if (e.key === 'Escape' && open) {
          setOpen(false);
          toggle.current?.focus();
        }
      }}
    >
      <button
        ref={toggle}
        type="button"
        className="btn"
        aria-expanded={open}
        aria-controls={menuId}
        disabled={state.fetching}
        onClick={() => setOpen((o) => !o)}
      >
        {state.fetching ? 'Snoozing…' : 'Snooze…'}
      </button>
      {open && (
        <ul className="menu" id={menuId} aria-label={`Snooze ${incident.title} for`}>
          {SNOOZE_CHOICES.map((c, n) => (
            <li key={c.ms}>
              <button
                ref={n === 0 ? first : undefined}
                type="button"
                className="btn btn-link"
                onClick={async () => {
                  setOpen(false);
                  setError(null);
                  const res = await snooze({ id: incident.id, durationMs: c.ms });
                  if (res.data?.snoozeIncident) onChanged?.(res.data.snoozeIncident);
                  else setError(errorText(res.error) ?? 'The incident was not snoozed.');
                }}
              >
                {c.label}
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Pick a user and hand the incident to them (paged at the current level). */
export function ReassignControl({
  incident,
  onChanged,
}: {
  incident: Pick<Incident, 'id' | 'state' | 'assignedTo'>;
  onChanged?: Changed;
}) {
  const can = useCan();
  if (!can.respond || incident.state === 'RESOLVED') return null;
  return <Reassign incident={incident} onChanged={onChanged} />;
}

function Reassign({ incident, onChanged }: { incident: Pick<Incident, 'id' | 'assignedTo'>; onChanged?: Changed }) {
  const [{ data: pickers, fetching: loading }] = useQuery({ query: PickersQuery, context: ctx.pickers });
  const [state, reassign] = useMutation(ReassignMutation);
  const [userId, setUserId] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [said, setSaid] = useState('');
  const users = (pickers?.users ?? []).filter((u) => u.id !== incident.assignedTo?.id);
  const id = 'reassign-user';
  return (
    <form
      className="inline-form"
      noValidate
      aria-label="Reassign"
      onSubmit={async (e) => {
        e.preventDefault();
        setSaid('');
        if (!userId) {
          setError('Choose who should take it.');
          return;
        }
        setError(undefined);
        const res = await reassign({ id: incident.id, userId });
        if (res.data?.reassignIncident) {
          setSaid(`Reassigned to ${res.data.reassignIncident.assignedTo?.name ?? 'them'}.`);
          setUserId('');
          onChanged?.(res.data.reassignIncident);
        } else {
          const { fields } = splitErrors(res.error);
          setError(fields.userId ?? errorText(res.error) ?? 'The incident was not reassigned.');
        }
      }}
    >
      <Field id={id} label="Reassign to" error={error}>
        <select
          {...aria(id, error)}
          value={userId}
          onChange={(e) => {
            setUserId(e.target.value);
            setError(undefined);
          }}
        >
          <option value="">{loading ? 'Loading…' : 'Choose a person'}</option>
          {users.map((u) => (
            <option key={u.id} value={u.id}>
              {u.name}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" className="btn" disabled={state.fetching}>
        {state.fetching ? 'Reassigning…' : 'Reassign'}
      </button>
      <span role="status" className="ok-text">
        {said}
      </span>
    </form>
  );
}
