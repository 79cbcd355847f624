import type { CombinedError } from 'urql';

export type FieldErrors = Record<string, string>;

export interface SplitErrors {
  /** Messages keyed by input field path ("email", "rotation[0].endTime"). */
  fields: FieldErrors;
  /** Messages that concern the whole form or action. */
  general: string[];
}

/** "input.rotation.0.endTime" / "rotation[0].endTime" → "rotation[0].endTime". */
export function normalizeField(field: string): string {
  return field
    .replace(/^input\./, '')
    .replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

const codeWords: Record<string, string> = {
  UNAUTHENTICATED: 'You need to sign in to do that.',
  FORBIDDEN: 'You are not allowed to do that.',
  RATE_LIMITED: 'Too many requests; wait a moment and try again.',
  INTERNAL: 'The server hit an internal error; try again.',
};

/**
 * Split a urql error into per-field messages (from `extensions.field` on
 * BAD_USER_INPUT errors) and general messages for the form or action.
 */
export function splitErrors(error: CombinedError | undefined | null): SplitErrors {
  const out: SplitErrors = { fields: {}, general: [] };
  if (!error) return out;
  if (error.networkError && !error.graphQLErrors.length) {
    out.general.push(
      `Could not reach the Klaxon server (${error.networkError.message}). Check your connection and try again.`,
    );
    return out;
  }
  for (const e of error.graphQLErrors) {
    const ext = (e.extensions ?? {}) as { code?: unknown; field?: unknown };
    const message = e.message || (typeof ext.code === 'string' && codeWords[ext.code]) || 'Something went wrong.';
    if (typeof ext.field === 'string' && ext.field) {
      const key = normalizeField(ext.field);
      // Shown under the field itself, "email: x is not…" reads better as "X is not…".
      let text = message;
      for (const prefix of [`${ext.field}: `, `${key}: `, `${key.replace(/^.*\]\./, '')}: `, `${key.replace(/^.*[.\]]/, '')}: `]) {
        if (text.startsWith(prefix) && text.length > prefix.length) {
          text = text.slice(prefix.length);
          text = text.charAt(0).toUpperCase() + text.slice(1);
          break;
        }
      }
      out.fields[key] = out.fields[key] ? `${out.fields[key]} ${text}` : text;
    } else {
      out.general.push(message);
    }
  }
  return out;
}

/** Errors as one sentence, for an action that has no fields. */
export function errorText(error: CombinedError | undefined | null): string | null {
  if (!error) return null;
  const { fields, general } = splitErrors(error);
  const all = [...general, ...Object.entries(fields).map(([f, m]) => `${f}: ${m}`)];
  return all.length ? all.join(' ') : null;
}

/** Messages for fields the form does not show, so nothing the server says is lost. */
export function unclaimed(fields: FieldErrors, shown: (key: string) => boolean): string[] {
  return Object.entries(fields)
    .filter(([k]) => !shown(k))
    .map(([k, m]) => `${k}: ${m}`);
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export function isEmail(s: string): boolean {
  return EMAIL.test(s.trim());
}
