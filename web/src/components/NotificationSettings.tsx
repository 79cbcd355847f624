// A person's contact methods and notification rules: on their user page and on the
// Account page. Shown only to the person themself and to admins (the server sends others
// empty lists and no targets anyway).
import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import {
  AddContactMethodMutation,
  AddNotificationRuleMutation,
  RemoveContactMethodMutation,
  RemoveNotificationRuleMutation,
  SendTestNotificationMutation,
  UserNotificationsQuery,
  type ContactMethod,
  type NotificationRule,
} from '../queries';
import { useAccess, useCan } from '../access';
import { useOnReconnect } from '../hooks';
import { ctx } from '../lib/context';
import { errorText, unclaimed, type FieldErrors, type SplitErrors } from '../lib/errors';
import {
  CONTACT_KINDS,
  KIND_LABEL,
  MAX_DELAY_MINUTES,
  MAX_RULES,
  TARGET,
  delayFromMinutes,
  ruleSentence,
  serverErrors,
  validateContactMethod,
  type ContactValues,
} from '../lib/notify';
import { Alert, CopyButton, Field, Loading, aria, useFocusFirstInvalid } from './ui';

const NO_ERRORS: SplitErrors = { fields: {}, general: [] };

/** Whether the caller may see and change `userId`'s notification settings. */
export function useMayManageNotifications(userId: string): boolean {
  const a = useAccess();
  const can = useCan();
  return can.admin || (!!a?.me && a.me.id === userId);
}

function AddContactMethodForm({ userId, onDone }: { userId: string; onDone: () => void }) {
  const [state, add] = useMutation(AddContactMethodMutation);
  const [v, setV] = useState<ContactValues>({ kind: 'EMAIL', name: '', target: '' });
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<SplitErrors>(NO_ERRORS);
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: keyof ContactValues) => local[k] ?? server.fields[k];
  const set = (k: keyof ContactValues) => (e: { target: { value: string } }) => {
    setV((o) => ({ ...o, [k]: e.target.value }));
    setLocal(({ [k]: _drop, ...rest }) => rest);
  };
  const t = TARGET[v.kind];

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    const errors = validateContactMethod(v);
    setLocal(errors);
    setServer(NO_ERRORS);
    if (Object.keys(errors).length) return focusInvalid();
    const res = await add({ input: { userId, kind: v.kind, name: v.name.trim(), target: v.target.trim() } });
    const made = res.data?.addContactMethod;
    if (made) {
      setDone(`Added ${KIND_LABEL[made.kind].toLowerCase()} “${made.name}”.`);
      setV((o) => ({ kind: o.kind, name: '', target: '' }));
      onDone();
    } else {
      setServer(serverErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby={`acm-h-${userId}`}>
      <h4 id={`acm-h-${userId}`}>Add contact method</h4>
      <div className="field-row">
        <Field id="acm-kind" label="Kind" error={err('kind')}>
          <select {...aria('acm-kind', err('kind'))} value={v.kind} onChange={set('kind')}>
            {CONTACT_KINDS.map((k) => (
              <option key={k} value={k}>
                {KIND_LABEL[k]}
              </option>
            ))}
          </select>
        </Field>
        <Field id="acm-name" label="Name" error={err('name')}>
          <input {...aria('acm-name', err('name'))} value={v.name} onChange={set('name')} autoComplete="off" placeholder="Work" />
        </Field>
        <Field id="acm-target" label={t.label} error={err('target')} hint={t.hint}>
          <input
            type={v.kind === 'EMAIL' ? 'email' : 'url'}
            {...aria('acm-target', err('target'), true)}
            value={v.target}
            onChange={set('target')}
            autoComplete="off"
            placeholder={t.placeholder}
          />
        </Field>
      </div>
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'kind' || k === 'name' || k === 'target')]} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Adding…' : 'Add contact method'}
        </button>
      </div>
    </form>
  );
}

function ContactMethodItem({ m, onChanged }: { m: ContactMethod; onChanged: () => void }) {
  const [removeState, remove] = useMutation(RemoveContactMethodMutation);
  const [testState, test] = useMutation(SendTestNotificationMutation);
  const [confirming, setConfirming] = useState(false);
  const [showSecret, setShowSecret] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const what = `${KIND_LABEL[m.kind]} ${m.name}`;

  const sendTest = async () => {
    setResult(null);
    setError(null);
    const res = await test({ contactMethodId: m.id });
    const r = res.data?.sendTestNotification;
    if (r) setResult(r.ok ? { ok: true, text: 'Test sent: the channel accepted it.' } : { ok: false, text: `Test failed: ${r.error ?? 'no reason given'}` });
    else setResult({ ok: false, text: `Test not sent: ${serverErrors(res.error).general.join(' ') || errorText(res.error) || 'no answer'}` });
  };

  return (
    <li className="layer contact-method" data-contact-method-id={m.id} data-kind={m.kind}>
      <div className="integration-body">
        <p>
          <span className="badge role-badge">{KIND_LABEL[m.kind]}</span> <strong className="cm-name">{m.name}</strong>{' '}
          {m.target && <code className="cm-target">{m.target}</code>}
        </p>
        {m.kind === 'WEBHOOK' && m.signingSecret && (
          <div className="cm-secret">
            <button
              type="button"
              className="btn btn-small"
              aria-expanded={showSecret}
              aria-label={`${showSecret ? 'Hide' : 'Show'} signing secret of ${m.name}`}
              onClick={() => setShowSecret((s) => !s)}
            >
              {showSecret ? 'Hide signing secret' : 'Show signing secret'}
            </button>
            {showSecret && (
              <div className="copy-row">
                <label htmlFor={`cm-secret-${m.id}`}>Signing secret</label>
                <input id={`cm-secret-${m.id}`} className="mono" readOnly value={m.signingSecret} onFocus={(e) => e.target.select()} />
                <CopyButton text={m.signingSecret} label={`Copy signing secret of ${m.name}`} />
              </div>
            )}
          </div>
        )}
        <p role="status" className={result ? (result.ok ? 'ok-text' : 'field-error') : undefined} data-testid="test-result">
          {result?.text}
        </p>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </div>
      <div className="button-row integration-actions">
        <button type="button" className="btn btn-small" disabled={testState.fetching} onClick={sendTest} aria-label={`Send test to ${what}`}>
          {testState.fetching ? 'Sending…' : 'Send test'}
        </button>
        {confirming ? (
          <div className="confirm" role="group" aria-label={`Confirm: remove ${what}`}>
            <span>Remove “{m.name}”? Its notification rules go too.</span>
            <button
              type="button"
              className="btn btn-danger btn-small"
              autoFocus
              disabled={removeState.fetching}
              onClick={async () => {
                setError(null);
                const res = await remove({ id: m.id });
                if (res.error) setError(serverErrors(res.error).general.join(' ') || errorText(res.error));
                else {
                  setConfirming(false);
                  onChanged();
                }
              }}
            >
              {removeState.fetching ? 'Removing…' : 'Yes, remove'}
            </button>
            <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <button type="button" className="btn btn-small" onClick={() => setConfirming(true)} aria-label={`Remove ${what}`}>
            Remove
          </button>
        )}
      </div>
    </li>
  );
}

function AddRuleForm({
  userId,
  methods,
  ruleCount,
  onDone,
}: {
  userId: string;
  methods: readonly ContactMethod[];
  ruleCount: number;
  onDone: () => void;
}) {
  const [state, add] = useMutation(AddNotificationRuleMutation);
  const [methodId, setMethodId] = useState('');
  const [minutes, setMinutes] = useState('0');
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<SplitErrors>(NO_ERRORS);
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const chosen = methods.some((m) => m.id === methodId) ? methodId : (methods[0]?.id ?? '');
  const full = ruleCount >= MAX_RULES;
  const err = (k: 'contactMethodId' | 'delayMs') => local[k] ?? server.fields[k];

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    setServer(NO_ERRORS);
    const errors: FieldErrors = {};
    if (!chosen) errors.contactMethodId = 'Add a contact method first.';
    const d = delayFromMinutes(minutes);
    if ('error' in d) errors.delayMs = d.error;
    setLocal(errors);
    if (Object.keys(errors).length || 'error' in d) return focusInvalid();
    const res = await add({ input: { userId, contactMethodId: chosen, delayMs: d.delayMs } });
    const made = res.data?.addNotificationRule;
    if (made) {
      setDone(`Added: ${ruleSentence(made)}.`);
      setMinutes('0');
      onDone();
    } else {
      setServer(serverErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby={`anr-h-${userId}`}>
      <h4 id={`anr-h-${userId}`}>Add rule</h4>
      {full && <p className="hint">At most {MAX_RULES} rules: remove one to add another.</p>}
      <div className="field-row">
        <Field id="anr-method" label="Contact method" error={err('contactMethodId')}>
          <select
            {...aria('anr-method', err('contactMethodId'))}
            value={chosen}
            onChange={(e) => {
              setMethodId(e.target.value);
              setLocal(({ contactMethodId: _drop, ...rest }) => rest);
            }}
          >
            {methods.length === 0 && <option value="">No contact methods yet</option>}
            {methods.map((m) => (
              <option key={m.id} value={m.id}>
                {KIND_LABEL[m.kind]} “{m.name}”
              </option>
            ))}
          </select>
        </Field>
        <Field id="anr-delay" label="Delay (minutes)" error={err('delayMs')} hint={`0 = at once; at most ${MAX_DELAY_MINUTES} (1 day).`}>
          <input
            type="number"
            inputMode="numeric"
            min={0}
            max={MAX_DELAY_MINUTES}
            step={1}
            {...aria('anr-delay', err('delayMs'), true)}
            value={minutes}
            onChange={(e) => {
              setMinutes(e.target.value);
              setLocal(({ delayMs: _drop, ...rest }) => rest);
            }}
          />
        </Field>
      </div>
      <Alert
        messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'contactMethodId' || k === 'delayMs')]}
      />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching || full || methods.length === 0}>
          {state.fetching ? 'Adding…' : 'Add rule'}
        </button>
      </div>
    </form>
  );
}

function RuleItem({ r, onChanged }: { r: NotificationRule; onChanged: () => void }) {
  const [state, remove] = useMutation(RemoveNotificationRuleMutation);
  const [error, setError] = useState<string | null>(null);
  const sentence = ruleSentence(r);
  return (
    <li className="layer rule" data-rule-id={r.id}>
      <p className="rule-sentence">{sentence}</p>
      <button
        type="button"
        className="btn btn-small"
        disabled={state.fetching}
        aria-label={`Remove rule: ${sentence}`}
        onClick={async () => {
          setError(null);
          const res = await remove({ id: r.id });
          if (res.error) setError(serverErrors(res.error).general.join(' ') || errorText(res.error));
          else onChanged();
        }}
      >
        {state.fetching ? 'Removing…' : 'Remove'}
      </button>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

/** Rules in the order they fire: by delay, then as the server listed them. */
export function sortedRules(rules: readonly NotificationRule[]): NotificationRule[] {
  return rules
    .map((r, n) => [r, n] as const)
    .sort(([a, na], [b, nb]) => a.delayMs - b.delayMs || na - nb)
    .map(([r]) => r);
}

function Settings({ userId, self }: { userId: string; self: boolean }) {
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: UserNotificationsQuery,
    variables: { id: userId },
    context: ctx.notify,
  });
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  useOnReconnect(refetch);
  const user = data?.user;
  const methods = user?.contactMethods ?? [];
  const rules = sortedRules(user?.notificationRules ?? []);
  return (
    <section aria-labelledby={`notify-h-${userId}`} data-testid="notification-settings">
      <h2 id={`notify-h-${userId}`}>Notifications</h2>
      <p className="hint">
        {self ? 'When you are paged' : `When ${user?.name ?? 'they'} are paged`}, each rule notifies its contact method once its
        delay has passed, unless the incident was acknowledged or resolved first. With no rules, a page goes once, at once, by
        email to the account’s address (or to the server log when email is not set up).
      </p>
      {error && <Alert messages={[errorText(error)]} />}
      {!data && fetching && <Loading what="notification settings" />}
      {data && !user && <p className="empty">No such user.</p>}
      {user && (
        <>
          <h3>Contact methods</h3>
          {methods.length === 0 ? (
            <p className="empty">No contact methods yet.</p>
          ) : (
            <ul className="layers" data-testid="contact-methods">
              {methods.map((m) => (
                <ContactMethodItem key={m.id} m={m} onChanged={refetch} />
              ))}
            </ul>
          )}
          <div className="panel">
            <AddContactMethodForm userId={userId} onDone={refetch} />
          </div>

          <h3>Rules</h3>
          {rules.length === 0 ? (
            <p className="empty">No rules: paged once, at once, by the default email.</p>
          ) : (
            <ul className="layers" data-testid="notification-rules">
              {rules.map((r) => (
                <RuleItem key={r.id} r={r} onChanged={refetch} />
              ))}
            </ul>
          )}
          <div className="panel">
            <AddRuleForm userId={userId} methods={methods} ruleCount={rules.length} onDone={refetch} />
          </div>
        </>
      )}
    </section>
  );
}

/** The "Notifications" section; nothing at all unless the caller is the user or an admin. */
export function NotificationSettings({ userId }: { userId: string }) {
  const a = useAccess();
  const allowed = useMayManageNotifications(userId);
  if (!allowed) return null;
  return <Settings userId={userId} self={a?.me?.id === userId} />;
}
