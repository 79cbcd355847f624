// Reaching people: contact methods, notification rules and webhooks in words, and the
// checks made before sending (the server decides again).
import type { CombinedError } from 'urql';
import type { ContactKind, IncidentEventKind, NotificationStatus } from '../queries';
import { isEmail, splitErrors, type FieldErrors, type SplitErrors } from './errors';

export const CONTACT_KINDS: ContactKind[] = ['EMAIL', 'SLACK', 'WEBHOOK'];

export const KIND_LABEL: Record<ContactKind, string> = { EMAIL: 'Email', SLACK: 'Slack', WEBHOOK: 'Webhook' };

/** What the target field asks for, per kind. */
export const TARGET: Record<ContactKind, { label: string; placeholder: string; hint: string }> = {
  EMAIL: { label: 'Email address', placeholder: 'name@example.com', hint: 'An email address.' },
  SLACK: {
    label: 'Slack incoming-webhook URL',
    placeholder: 'https://hooks.slack.com/services/…',
    hint: 'A Slack incoming-webhook URL (or a compatible one, such as Mattermost’s).',
  },
  WEBHOOK: {
    label: 'URL',
    placeholder: 'https://example.com/klaxon',
    hint: 'An http(s) URL; each page is POSTed as JSON signed with this method’s secret (X-Klaxon-Signature).',
  },
};

/** The server's bounds on notification rules. */
export const MAX_RULES = 20;
export const MAX_DELAY_MS = 86_400_000;
export const MAX_DELAY_MINUTES = MAX_DELAY_MS / 60_000;

/** An absolute http(s) URL with no user name or password in it. */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s.trim());
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.hostname && !u.username && !u.password;
  } catch {
    return false;
  }
}

export type ContactValues = { kind: ContactKind; name: string; target: string };

export function validateContactMethod(v: ContactValues): FieldErrors {
  const e: FieldErrors = {};
  const name = v.name.trim();
  if (!name) e.name = 'Name it, e.g. "Work" or "Team channel".';
  else if (name.length > 200) e.name = 'Keep the name to 200 characters or fewer.';
  const t = v.target.trim();
  if (!t) e.target = v.kind === 'EMAIL' ? 'Enter an email address.' : 'Enter a URL.';
  else if (v.kind === 'EMAIL' && !isEmail(t)) e.target = 'That does not look like an email address (name@example.com).';
  else if (v.kind !== 'EMAIL' && !isHttpUrl(t))
    e.target = 'Enter an http:// or https:// URL, without a user name or password in it.';
  return e;
}

/**
 * Minutes as typed → milliseconds for `delayMs`, or an error: whole minutes, 0 (at once)
 * to 1440 (1 day).
 */
export function delayFromMinutes(minutes: string): { delayMs: number } | { error: string } {
  const t = minutes.trim();
  if (!t) return { error: 'Enter a delay in minutes (0 for at once).' };
  if (!/^\d+$/.test(t)) return { error: 'Enter whole minutes, 0 or more.' };
  const n = Number(t);
  if (n > MAX_DELAY_MINUTES) return { error: `At most 1 day (${MAX_DELAY_MINUTES} minutes).` };
  return { delayMs: n * 60_000 };
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** "at once", "after 2 minutes", "after 1 hour 30 minutes", "after 1 day". */
export function delayText(ms: number): string {
  if (ms <= 0) return 'at once';
  if (ms < 60_000) return `after ${plural(Math.round(ms / 1000), 'second')}`;
  const minutes = Math.round(ms / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const parts = [d && plural(d, 'day'), h && plural(h, 'hour'), m && plural(m, 'minute')].filter(Boolean);
  return `after ${parts.join(' ')}`;
}

/** A rule as a sentence: “Email “Work” at once”, “Slack “Team” after 2 minutes”. */
export function ruleSentence(r: { delayMs: number; contactMethod: { kind: ContactKind; name: string } }): string {
  return `${KIND_LABEL[r.contactMethod.kind]} “${r.contactMethod.name}” ${delayText(r.delayMs)}`;
}

export const STATUS_LABEL: Record<NotificationStatus, string> = { PENDING: 'Pending', SENT: 'Sent', FAILED: 'Failed' };
export const STATUS_CLASS: Record<NotificationStatus, string> = {
  PENDING: 'state-acknowledged',
  SENT: 'state-resolved',
  FAILED: 'state-triggered',
};

/** The events a webhook can carry. */
export const WEBHOOK_EVENTS: IncidentEventKind[] = ['TRIGGERED', 'ACKNOWLEDGED', 'RESOLVED', 'ESCALATED'];
export const EVENT_LABEL: Partial<Record<IncidentEventKind, string>> = {
  TRIGGERED: 'Triggered',
  ACKNOWLEDGED: 'Acknowledged',
  RESOLVED: 'Resolved',
  ESCALATED: 'Escalated',
};

/**
 * Like `splitErrors`, but a message for the whole form says the server's code too
 * ("At most 20 rules (INVALID_STATE)"), so nothing the server said is lost.
 */
export function serverErrors(error: CombinedError | undefined | null): SplitErrors {
  const out = splitErrors(error);
  if (!error?.graphQLErrors.length) return out;
  const general: string[] = [];
  for (const e of error.graphQLErrors) {
    const ext = (e.extensions ?? {}) as { code?: unknown; field?: unknown };
    if (typeof ext.field === 'string' && ext.field) continue;
    const message = e.message || 'Something went wrong.';
    general.push(typeof ext.code === 'string' && ext.code ? `${message} (${ext.code})` : message);
  }
  return { fields: out.fields, general };
}
