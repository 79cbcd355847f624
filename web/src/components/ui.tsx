import type { ReactNode } from 'react';
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

/** Move focus to the first invalid control of a form. */
export function focusFirstInvalid(form: HTMLFormElement | null): void {
  const el = form?.querySelector<HTMLElement>('[aria-invalid="true"]');
  el?.focus();
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}
