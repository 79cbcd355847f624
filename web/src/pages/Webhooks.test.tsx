import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Operation } from 'urql';
import appSource from '../App.tsx?raw';
import lazySource from './lazy.tsx?raw';
import { WebhooksPage, anyPending } from './Webhooks';
import { Wrapper, gqlError, mockClient } from '../test/mockClient';
import type { Role, Webhook, WebhookDelivery } from '../queries';

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;

const delivery = (over: Partial<WebhookDelivery> = {}): WebhookDelivery =>
  ({
    __typename: 'WebhookDelivery',
    id: 'd1',
    eventType: 'incident.triggered',
    status: 'SENT',
    attempts: 1,
    responseStatus: 200,
    lastError: null,
    createdAt: '2026-12-01T10:00:00.000Z',
    lastAttemptAt: '2026-12-01T10:00:00.100Z',
    durationMs: 42,
    nextAttemptAt: null,
    incident: { __typename: 'Incident', id: 'i1', title: 'Payments down' },
    ...over,
  }) as WebhookDelivery;

const hook = (over: Partial<Webhook> = {}): Webhook =>
  ({
    __typename: 'Webhook',
    id: 'w1',
    url: 'https://example.com/klaxon-events',
    events: ['TRIGGERED', 'RESOLVED'],
    failing: false,
    createdAt: '2026-11-30T10:00:00.000Z',
    service: { __typename: 'Service', id: 's1', name: 'Payment API' },
    deliveries: [delivery()],
    ...over,
  }) as Webhook;

type Mut = NonNullable<Parameters<typeof mockClient>[0]>['mutation'];

function setup(opts: { role?: Role; webhooks?: Webhook[]; mutation?: Mut } = {}) {
  const m = mockClient({
    role: opts.role,
    query: (op) =>
      opName(op) === 'Webhooks'
        ? { data: { webhooks: opts.webhooks ?? [hook()], services: [{ __typename: 'Service', id: 's1', name: 'Payment API' }] } }
        : (undefined as never),
    mutation: opts.mutation,
  });
  render(
    <Wrapper client={m.client}>
      <WebhooksPage />
    </Wrapper>,
  );
  return m;
}

const reads = (m: ReturnType<typeof mockClient>) =>
  m.raw.executeQuery.mock.calls.filter(([op]) => opName(op as Operation) === 'Webhooks').length;

describe('Webhooks page', () => {
  it('lists webhooks with service, events and deliveries', () => {
    setup({
      webhooks: [
        hook(),
        hook({
          id: 'w2',
          url: 'http://127.0.0.1:9/hook',
          service: null,
          failing: true,
          events: ['ESCALATED'],
          deliveries: [
            delivery({
              id: 'd2',
              status: 'FAILED',
              attempts: 7,
              responseStatus: null,
              durationMs: null,
              lastError: 'connection refused',
              nextAttemptAt: null,
            }),
          ],
        }),
      ],
    });
    const [first, second] = within(screen.getByTestId('webhooks')).getAllByRole('listitem');
    expect(first).toHaveTextContent('Payment API');
    expect(first).toHaveTextContent('Triggered, Resolved');
    expect(within(first).queryByTestId('webhook-failing')).toBeNull();
    const row = within(first).getAllByRole('row')[1];
    expect(row).toHaveTextContent('incident.triggered');
    expect(row).toHaveTextContent('Sent');
    expect(row).toHaveTextContent('200');
    expect(row).toHaveTextContent('42 ms');
    expect(within(second).getByTestId('webhook-failing')).toHaveTextContent('Failing');
    expect(second).toHaveTextContent('Every service');
    const failed = within(second).getAllByRole('row')[1];
    expect(failed).toHaveTextContent('Failed');
    expect(failed).toHaveTextContent('7');
    expect(failed).toHaveTextContent('connection refused');
  });

  it('creates a webhook and shows its secret once, with a copy button', async () => {
    const m = setup({
      webhooks: [],
      mutation: (op) =>
        opName(op) === 'CreateWebhook'
          ? {
              data: {
                createWebhook: {
                  __typename: 'NewWebhook',
                  secret: 'whsec_only_once',
                  webhook: hook({ id: 'w9', url: 'http://127.0.0.1:9/hook', deliveries: [] }),
                },
              },
            }
          : {},
    });
    await userEvent.type(screen.getByLabelText('URL'), 'http://127.0.0.1:9/hook');
    await userEvent.selectOptions(screen.getByLabelText('Service (optional)'), 's1');
    await userEvent.click(screen.getByRole('checkbox', { name: 'Acknowledged' }));
    await userEvent.click(screen.getByRole('button', { name: 'Create webhook' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { url: 'http://127.0.0.1:9/hook', serviceId: 's1', events: ['TRIGGERED', 'RESOLVED', 'ESCALATED'] },
    });
    const shown = await screen.findByTestId('new-webhook-secret');
    expect(within(shown).getByLabelText('Signing secret of the new webhook')).toHaveValue('whsec_only_once');
    expect(shown).toHaveTextContent('it will not be shown again');
    expect(within(shown).getByRole('button', { name: 'Copy secret' })).toBeInTheDocument();
    await userEvent.click(within(shown).getByRole('button', { name: 'Done, I have copied it' }));
    expect(screen.queryByTestId('new-webhook-secret')).toBeNull();
    expect(screen.queryByDisplayValue('whsec_only_once')).toBeNull();
  });

  it('checks the URL and the events before sending', async () => {
    const m = setup();
    await userEvent.type(screen.getByLabelText('URL'), 'ftp://example.com');
    for (const name of ['Triggered', 'Acknowledged', 'Resolved', 'Escalated'])
      await userEvent.click(screen.getByRole('checkbox', { name }));
    await userEvent.click(screen.getByRole('button', { name: 'Create webhook' }));
    expect(screen.getByLabelText('URL')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('Pick at least one event.')).toBeInTheDocument();
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
  });

  it('shows a server error with its code next to the form', async () => {
    setup({ mutation: () => ({ error: gqlError('You are not allowed to do that', 'FORBIDDEN') }) });
    await userEvent.type(screen.getByLabelText('URL'), 'https://example.com/x');
    await userEvent.click(screen.getByRole('button', { name: 'Create webhook' }));
    expect(await screen.findByText('You are not allowed to do that (FORBIDDEN)')).toBeInTheDocument();
    expect(screen.queryByTestId('new-webhook-secret')).toBeNull();
  });

  it('deletes only after a confirmation', async () => {
    const m = setup({ mutation: () => ({ data: { deleteWebhook: 'w1' } }) });
    await userEvent.click(screen.getByRole('button', { name: 'Delete webhook https://example.com/klaxon-events' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ id: 'w1' });
  });

  it('reads the deliveries again when the window gets focus', () => {
    const m = setup();
    const before = reads(m);
    fireEvent.focus(window);
    expect(reads(m)).toBe(before + 1);
  });

  it('knows when a delivery is pending', () => {
    expect(anyPending([hook()])).toBe(false);
    expect(anyPending([hook(), hook({ deliveries: [delivery({ status: 'PENDING' })] })])).toBe(true);
    expect(anyPending(undefined)).toBe(false);
  });

  it('is for admins only', () => {
    const m = setup({ role: 'RESPONDER' });
    expect(screen.getByText('Only admins can see and create webhooks.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Create webhook' })).toBeNull();
    expect(reads(m)).toBe(0);
  });

  it('is lazy: App reaches it only through import()', () => {
    expect(appSource).not.toMatch(/from '\.\/pages\/Webhooks'/);
    expect(lazySource).toMatch(/lazy\(\(\) => import\('\.\/Webhooks'\)\)/);
  });
});
