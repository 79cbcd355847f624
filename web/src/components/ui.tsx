import { useCallback, useEffect, useState, type ReactNode, type RefObject } from 'react';
import { formatAge, formatLocal, formatUtc } from '../lib/time';
import { label } from '../lib/incident';
import type { IncidentState, Severity, User } from '../queries';

/** A time in the viewer's zone; hover shows the exact UTC instant. */
export function Time({ iso, style = 'medium' }: { iso: string; style?: 'medium' | 'short' | 'precise' }) {
  return (
    <time dateTime={iso} title={formatUtc(iso)}>
      {formatLocal(iso, style)}
    </time>
  );
}

/** "4 min ago"; hover shows local time and the exact UTC instant. */
export function Age({ iso, now }: { iso: string; now: number }) {
  return (
    <time dateTime={iso} title={`${formatLocal(iso)} (${formatUtc(iso)})`}>
      {formatAge(iso, now)}
    </time>
  );
}

export function StateBadge({ state }: { state: IncidentState }) {
  return <span className={`badge state-${state.toLowerCase()}`}>{label(state)}</span>;
}

export function SeverityBadge({ severity }: { severity: Severity }) {
  return (
    <span className={`badge sev-${severity.toLowerCase()}`}>
      <span className="visually-hidden">Severity </span>
      {label(severity)}
    </span>
  );
}

export function UserName({ user, empty = 'Nobody' }: { user: User | null | undefined; empty?: string }) {
  if (!user) return <span className="muted">{empty}</span>;
  return <span title={[user.email, user.phone].filter(Boolean).join(' · ')}>{user.name}</span>;
}

/** Errors that concern a whole form or action. */
export function Alert({ messages, id }: { messages: (string | null | undefined)[]; id?: string }) {
  const list = messages.filter((m): m is string => !!m);
  return (
    <div id={id} role="alert" className={list.length ? 'alert' : undefined}>
      {list.map((m, i) => (
        <p key={i}>{m}</p>
      ))}
    </div>
  );
}

/** A labelled control with its error message right beside it. */
export function Field({
  id,
  label: text,
  error,
  hint,
  children,
  className,
}: {
  id: string;
  label: ReactNode;
  error?: string;
  hint?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <div className={`field${error ? ' has-error' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={id}>{text}</label>
      {children}
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** Accessibility wiring for a control inside <Field>. */
export function aria(id: string, error?: string, hint?: boolean) {
  const describedBy = [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ');
  return {
    id,
    'aria-invalid': error ? (true as const) : undefined,
    'aria-describedby': describedBy || undefined,
  };
}

/**
 * Returns a function that moves focus to the form's first invalid control once the render
 * showing the errors has been committed. (A timeout can run before that render under load,
 * find no invalid control, and leave focus on the submit button.)
 */
export function useFocusFirstInvalid(form: RefObject<HTMLFormElement | null>): () => void {
  const [requests, setRequests] = useState(0);
  useEffect(() => {
    if (requests > 0) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [requests, form]);
  return useCallback(() => setRequests((n) => n + 1), []);
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** Copies `text` to the clipboard and says so (falls back to selecting it for Ctrl+C). */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [said, setSaid] = useState('');
  useEffect(() => {
    if (!said) return;
    const t = setTimeout(() => setSaid(''), 4000);
    return () => clearTimeout(t);
  }, [said]);
  return (
    <>
      <button
        type="button"
        className="btn btn-small"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setSaid('Copied.');
          } catch {
            setSaid('Could not copy here; select the text and press Ctrl+C (⌘C).');
          }
        }}
      >
        {label}
      </button>
      <span role="status" className="ok-text copy-status">
        {said}
      </span>
    </>
  );
}
