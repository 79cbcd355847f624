import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Operation } from 'urql';
import { NotificationSettings } from './NotificationSettings';
import { Wrapper, badInput, gqlError, mockClient } from '../test/mockClient';
import type { ContactMethod, NotificationRule, Role } from '../queries';

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;

const work: ContactMethod = {
  __typename: 'ContactMethod',
  id: 'cm1',
  kind: 'EMAIL',
  name: 'Work',
  target: 'alice@work.example',
  signingSecret: null,
  createdAt: '2026-11-30T10:00:00.000Z',
} as ContactMethod;
const team: ContactMethod = { ...work, id: 'cm2', kind: 'SLACK', name: 'Team', target: 'https://hooks.slack.com/services/T/B/x' } as ContactMethod;
const bridge: ContactMethod = { ...work, id: 'cm3', kind: 'WEBHOOK', name: 'Bridge', target: 'http://127.0.0.1:9/hook', signingSecret: 'whsec_abc123' } as ContactMethod;

const ruleOf = (id: string, m: ContactMethod, delayMs: number): NotificationRule =>
  ({
    __typename: 'NotificationRule',
    id,
    delayMs,
    createdAt: '2026-11-30T10:00:00.000Z',
    contactMethod: { __typename: 'ContactMethod', id: m.id, kind: m.kind, name: m.name },
  }) as NotificationRule;

type Mut = NonNullable<Parameters<typeof mockClient>[0]>['mutation'];

function setup(opts: { userId?: string; role?: Role; methods?: ContactMethod[]; rules?: NotificationRule[]; mutation?: Mut } = {}) {
  const userId = opts.userId ?? 'u1';
  const m = mockClient({
    role: opts.role,
    query: (op) =>
      opName(op) === 'UserNotifications'
        ? {
            data: {
              user: {
                __typename: 'User',
                id: userId,
                name: 'Alice Ng',
                contactMethods: opts.methods ?? [work, team, bridge],
                notificationRules: opts.rules ?? [ruleOf('r2', team, 120_000), ruleOf('r1', work, 0)],
              },
            },
          }
        : (undefined as never),
    mutation: opts.mutation,
  });
  render(
    <Wrapper client={m.client}>
      <NotificationSettings userId={userId} />
    </Wrapper>,
  );
  return m;
}

const queried = (m: ReturnType<typeof mockClient>) =>
  m.raw.executeQuery.mock.calls.filter(([op]) => opName(op as Operation) === 'UserNotifications').length;

describe('Notifications section', () => {
  it('lists contact methods with kind, name and target, and rules as sentences in firing order', () => {
    setup();
    const methods = within(screen.getByTestId('contact-methods')).getAllByRole('listitem');
    expect(methods[0]).toHaveTextContent('Email');
    expect(methods[0]).toHaveTextContent('Work');
    expect(methods[0]).toHaveTextContent('alice@work.example');
    expect(methods[1]).toHaveTextContent('https://hooks.slack.com/services/T/B/x');
    const rules = within(screen.getByTestId('notification-rules')).getAllByRole('listitem');
    expect(rules.map((r) => r.querySelector('.rule-sentence')?.textContent)).toEqual([
      'Email “Work” at once',
      'Slack “Team” after 2 minutes',
    ]);
  });

  it('shows a webhook method’s signing secret only behind a toggle, with Copy', async () => {
    setup();
    expect(screen.queryByDisplayValue('whsec_abc123')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Show signing secret of Bridge' }));
    expect(screen.getByLabelText('Signing secret')).toHaveValue('whsec_abc123');
    expect(screen.getByRole('button', { name: 'Copy signing secret of Bridge' })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Hide signing secret of Bridge' }));
    expect(screen.queryByDisplayValue('whsec_abc123')).toBeNull();
  });

  it('adds a contact method, with a placeholder and hint for each kind', async () => {
    const m = setup({
      mutation: (op) => (opName(op) === 'AddContactMethod' ? { data: { addContactMethod: { ...team, id: 'cm9', name: 'Ops' } } } : {}),
    });
    expect(screen.getByLabelText('Email address')).toHaveAttribute('placeholder', 'name@example.com');
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'SLACK');
    const target = screen.getByLabelText('Slack incoming-webhook URL');
    expect(target).toHaveAttribute('placeholder', 'https://hooks.slack.com/services/…');
    expect(screen.getByText(/Slack incoming-webhook URL \(or a compatible one/)).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'WEBHOOK');
    expect(screen.getByLabelText('URL')).toHaveAttribute('placeholder', 'https://example.com/klaxon');
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'SLACK');
    await userEvent.type(screen.getByLabelText('Name'), 'Ops');
    await userEvent.type(screen.getByLabelText('Slack incoming-webhook URL'), 'https://hooks.slack.com/services/T/B/y');
    await userEvent.click(screen.getByRole('button', { name: 'Add contact method' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { userId: 'u1', kind: 'SLACK', name: 'Ops', target: 'https://hooks.slack.com/services/T/B/y' },
    });
    expect(await screen.findByText('Added slack “Ops”.')).toBeInTheDocument();
  });

  it('checks the target before sending', async () => {
    const m = setup();
    await userEvent.type(screen.getByLabelText('Name'), 'Home');
    await userEvent.type(screen.getByLabelText('Email address'), 'not-an-address');
    await userEvent.click(screen.getByRole('button', { name: 'Add contact method' }));
    expect(screen.getByLabelText('Email address')).toHaveAttribute('aria-invalid', 'true');
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
  });

  it('shows a server error that names a field under that field', async () => {
    setup({ mutation: () => ({ error: badInput('target: this address is refused', 'target') }) });
    await userEvent.type(screen.getByLabelText('Name'), 'Home');
    await userEvent.type(screen.getByLabelText('Email address'), 'a@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Add contact method' }));
    expect(await screen.findByText('This address is refused')).toHaveAttribute('id', 'acm-target-error');
    expect(screen.getByLabelText('Email address')).toHaveAttribute('aria-invalid', 'true');
  });

  it('sends a test per method and says how it went', async () => {
    setup({
      mutation: (op) =>
        opName(op) !== 'SendTestNotification'
          ? {}
          : op.variables?.contactMethodId === 'cm1'
            ? { data: { sendTestNotification: { __typename: 'TestNotification', ok: true, error: null } } }
            : { data: { sendTestNotification: { __typename: 'TestNotification', ok: false, error: 'HTTP 404 from hooks.slack.com' } } },
    });
    const [workItem, teamItem] = within(screen.getByTestId('contact-methods')).getAllByRole('listitem');
    await userEvent.click(screen.getByRole('button', { name: 'Send test to Email Work' }));
    expect(within(workItem).getByTestId('test-result')).toHaveTextContent('Test sent');
    await userEvent.click(screen.getByRole('button', { name: 'Send test to Slack Team' }));
    expect(within(teamItem).getByTestId('test-result')).toHaveTextContent('Test failed: HTTP 404 from hooks.slack.com');
  });

  it('removes a contact method only after a confirmation', async () => {
    const m = setup({ mutation: () => ({ data: { removeContactMethod: 'cm2' } }) });
    await userEvent.click(screen.getByRole('button', { name: 'Remove Slack Team' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByText(/Its notification rules go too/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Yes, remove' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ id: 'cm2' });
  });

  it('adds a rule: minutes become delayMs, 0 is at once', async () => {
    const m = setup({
      mutation: (op) => (opName(op) === 'AddNotificationRule' ? { data: { addNotificationRule: ruleOf('r9', team, 300_000) } } : {}),
    });
    await userEvent.selectOptions(screen.getByLabelText('Contact method'), 'cm2');
    const delay = screen.getByLabelText('Delay (minutes)');
    await userEvent.clear(delay);
    await userEvent.type(delay, '5');
    await userEvent.click(screen.getByRole('button', { name: 'Add rule' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { userId: 'u1', contactMethodId: 'cm2', delayMs: 300_000 },
    });
    expect(await screen.findByText('Added: Slack “Team” after 5 minutes.')).toBeInTheDocument();
  });

  it('refuses a delay over a day before sending', async () => {
    const m = setup();
    const delay = screen.getByLabelText('Delay (minutes)');
    await userEvent.clear(delay);
    await userEvent.type(delay, '1441');
    await userEvent.click(screen.getByRole('button', { name: 'Add rule' }));
    expect(delay).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('At most 1 day (1440 minutes).')).toBeInTheDocument();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
  });

  it('offers no new rule at 20 rules', () => {
    setup({ rules: Array.from({ length: 20 }, (_, n) => ruleOf(`r${n}`, work, n * 60_000)) });
    expect(screen.getByRole('button', { name: 'Add rule' })).toBeDisabled();
    expect(screen.getByText('At most 20 rules: remove one to add another.')).toBeInTheDocument();
  });

  it('shows a rule refused by the server with its code', async () => {
    setup({ mutation: () => ({ error: gqlError('at most 20 rules per user', 'INVALID_STATE') }) });
    await userEvent.click(screen.getByRole('button', { name: 'Add rule' }));
    expect(await screen.findByText('at most 20 rules per user (INVALID_STATE)')).toBeInTheDocument();
  });

  it('removes a rule', async () => {
    const m = setup({ mutation: () => ({ data: { removeNotificationRule: 'r1' } }) });
    await userEvent.click(screen.getByRole('button', { name: 'Remove rule: Email “Work” at once' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ id: 'r1' });
  });

  it('shows the person their own settings whatever their role', () => {
    setup({ role: 'VIEWER', userId: 'u1' });
    expect(screen.getByTestId('notification-settings')).toBeInTheDocument();
  });

  it('shows nothing, and asks for nothing, to anyone else but an admin', () => {
    const m = setup({ role: 'RESPONDER', userId: 'u2' });
    expect(screen.queryByTestId('notification-settings')).toBeNull();
    expect(screen.queryByText('alice@work.example')).toBeNull();
    expect(queried(m)).toBe(0);
  });

  it('shows an admin anyone’s settings', () => {
    setup({ role: 'ADMIN', userId: 'u2' });
    expect(screen.getByTestId('notification-settings')).toBeInTheDocument();
    expect(screen.getByText('alice@work.example')).toBeInTheDocument();
  });
});
