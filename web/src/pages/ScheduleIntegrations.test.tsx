import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Operation } from 'urql';
import { IntegrationsSection, snippets } from './ScheduleIntegrations';
import { Wrapper, badInput, mockClient } from '../test/mockClient';
import type { Integration, Role } from '../queries';

const KEY = 'k'.repeat(32);
const origin = window.location.origin;

function integration(over: Partial<Integration> = {}): Integration {
  return {
    __typename: 'Integration',
    id: 'int1',
    name: 'Prometheus',
    kind: 'EVENTS_API_V2',
    key: KEY,
    url: '/v2/enqueue',
    hasSecret: false,
    createdAt: '2026-11-30T10:00:00.000Z',
    lastEventAt: null,
    ...over,
  } as Integration;
}

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;

function section(list: Integration[], opts: { role?: Role; mutation?: NonNullable<Parameters<typeof mockClient>[0]>['mutation'] } = {}) {
  const m = mockClient({
    role: opts.role,
    query: (op) => (opName(op) === 'ScheduleIntegrations' ? { data: { schedule: { __typename: 'Schedule', id: 'sc1', integrations: list } } } : undefined as never),
    mutation: opts.mutation,
  });
  render(
    <Wrapper client={m.client}>
      <IntegrationsSection scheduleId="sc1" />
    </Wrapper>,
  );
  return m;
}

describe('Integrations section', () => {
  it('lists integrations with kind, last event "never" or relative, and the key with Copy for an ADMIN', () => {
    section([
      integration(),
      integration({ id: 'int2', name: 'Grafana prod', kind: 'GRAFANA', url: `/integrations/${KEY}/grafana`, lastEventAt: new Date(Date.now() - 5 * 60_000).toISOString() }),
    ]);
    const items = within(screen.getByTestId('integrations')).getAllByRole('listitem');
    expect(items[0]).toHaveTextContent('Prometheus');
    expect(items[0]).toHaveTextContent('PagerDuty Events API v2');
    expect(within(items[0]).getByTestId('last-event')).toHaveTextContent('never');
    expect(within(items[1]).getByTestId('last-event')).toHaveTextContent('5 min ago');
    expect(within(items[0]).getByLabelText('Key')).toHaveValue(KEY);
    expect(within(items[0]).getByLabelText('URL')).toHaveValue(`${origin}/v2/enqueue`);
    expect(screen.getByRole('button', { name: 'Copy key of Prometheus' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Rotate key of Prometheus' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Delete Grafana prod' })).toBeInTheDocument();
    expect(screen.getByRole('form', { name: 'Add integration' })).toBeInTheDocument();
  });

  it('offers a VIEWER no key, snippets, create, rotate or delete', () => {
    section([integration({ key: null })], { role: 'VIEWER' });
    expect(screen.getByTestId('integrations')).toHaveTextContent('Prometheus');
    expect(screen.queryByLabelText('Key')).not.toBeInTheDocument();
    expect(screen.queryByText(/pagerduty_configs/)).not.toBeInTheDocument();
    expect(screen.queryByRole('form', { name: 'Add integration' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Rotate key/ })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Delete/ })).not.toBeInTheDocument();
  });

  it('offers a RESPONDER no create, rotate or delete either', () => {
    section([integration({ key: null })], { role: 'RESPONDER' });
    expect(screen.queryByRole('form', { name: 'Add integration' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Rotate key|Delete/ })).not.toBeInTheDocument();
  });

  it('builds each kind\'s snippets from its url and key', () => {
    const [am, curl] = snippets(integration(), origin);
    expect(am.text).toContain('pagerduty_configs:');
    expect(am.text).toContain(`routing_key: "${KEY}"`);
    expect(am.text).toContain(`url: "${origin}/v2/enqueue"`);
    expect(curl.text).toContain(`curl -sS ${origin}/v2/enqueue`);
    expect(curl.text).toContain(`"routing_key":"${KEY}","event_action":"trigger"`);

    const [hook] = snippets(integration({ kind: 'ALERTMANAGER', url: `https://klaxon.example.com/integrations/${KEY}/alertmanager` }));
    expect(hook.text).toContain('webhook_configs:');
    expect(hook.text).toContain(`url: "https://klaxon.example.com/integrations/${KEY}/alertmanager"`);
    expect(hook.text).toContain('send_resolved: true');

    const grafanaUrl = `https://klaxon.example.com/integrations/${KEY}/grafana`;
    const [plain] = snippets(integration({ kind: 'GRAFANA', url: grafanaUrl }));
    expect(plain.text).toContain('Integration: Webhook');
    expect(plain.text).toContain(`URL: ${grafanaUrl}`);
    expect(plain.text).toContain('HTTP method: POST');
    expect(plain.text).not.toContain('HMAC');
    const [signed] = snippets(integration({ kind: 'GRAFANA', url: grafanaUrl, hasSecret: true }));
    expect(signed.text).toContain('X-Grafana-Alerting-Signature');

    const genericUrl = `https://klaxon.example.com/integrations/${KEY}/generic`;
    const [open, close] = snippets(integration({ kind: 'GENERIC', url: genericUrl }));
    expect(open.text).toContain(`curl -sS -X POST ${genericUrl} -d summary=`);
    expect(open.text).toContain('-d details=');
    expect(open.text).toContain('-d dedup=backup-nightly');
    expect(close.text).toContain('-d action=close');
  });

  it('shows the snippets in a <pre> with a Copy button on the page', async () => {
    section([integration()]);
    await userEvent.click(screen.getByText('Set up PagerDuty Events API v2'));
    const pres = document.querySelectorAll('pre');
    expect(pres.length).toBe(2);
    expect(pres[0].textContent).toContain(`routing_key: "${KEY}"`);
    expect(screen.getByRole('button', { name: 'Copy Alertmanager config for Prometheus' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Copy curl test for Prometheus' })).toBeInTheDocument();
  });

  it('creates an integration; a Grafana one may carry a secret, checked for length first', async () => {
    const m = section([], {
      mutation: () => ({ data: { createIntegration: integration({ name: 'Grafana', kind: 'GRAFANA' }) } }),
    });
    expect(screen.getByText('No integrations yet.')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Add integration' }));
    expect(screen.getByLabelText('Integration name')).toHaveAccessibleDescription(/Name it after the monitor/);
    expect(m.raw.executeMutation).not.toHaveBeenCalled();

    await userEvent.type(screen.getByLabelText('Integration name'), 'Grafana');
    await userEvent.selectOptions(screen.getByLabelText('Monitor'), 'GRAFANA');
    await userEvent.type(screen.getByLabelText('HMAC secret (optional)'), 'short');
    await userEvent.click(screen.getByRole('button', { name: 'Add integration' }));
    expect(screen.getByLabelText('HMAC secret (optional)')).toHaveAccessibleDescription(/16 to 256 characters/);
    expect(m.raw.executeMutation).not.toHaveBeenCalled();

    await userEvent.type(screen.getByLabelText('HMAC secret (optional)'), '-long-enough-now');
    await userEvent.click(screen.getByRole('button', { name: 'Add integration' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { scheduleId: 'sc1', name: 'Grafana', kind: 'GRAFANA', secret: 'short-long-enough-now' },
    });
    expect(await screen.findByText(/Created integration Grafana/)).toBeInTheDocument();
  });

  it('shows a server error under the name', async () => {
    section([], { mutation: () => ({ error: badInput('name: is too long', 'name') }) });
    await userEvent.type(screen.getByLabelText('Integration name'), 'x');
    await userEvent.click(screen.getByRole('button', { name: 'Add integration' }));
    expect(await screen.findByText('Is too long')).toBeInTheDocument();
    expect(screen.getByLabelText('Integration name')).toHaveAttribute('aria-invalid', 'true');
  });

  it('rotates a key and deletes only after a confirmation', async () => {
    const m = section([integration()], {
      mutation: (op) =>
        opName(op) === 'RotateIntegrationKey'
          ? { data: { rotateIntegrationKey: integration({ key: 'n'.repeat(32) }) } }
          : { data: { deleteIntegration: 'int1' } },
    });
    await userEvent.click(screen.getByRole('button', { name: 'Rotate key of Prometheus' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Yes, rotate key' }));
    expect(opName(m.raw.executeMutation.mock.calls[0][0])).toBe('RotateIntegrationKey');
    expect(await screen.findByText(/old one no longer works/)).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Delete Prometheus' }));
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }));
    expect(opName(m.raw.executeMutation.mock.calls[1][0])).toBe('DeleteIntegration');
    expect(m.raw.executeMutation.mock.calls[1][0].variables).toEqual({ id: 'int1' });
  });

  it('sets a Grafana HMAC secret (16 to 256 characters) and clears it', async () => {
    const grafana = integration({ name: 'Grafana', kind: 'GRAFANA', url: `/integrations/${KEY}/grafana`, hasSecret: true });
    const m = section([grafana], { mutation: () => ({ data: { setIntegrationSecret: grafana } }) });
    await userEvent.click(screen.getByText('Set up Grafana'));
    const form = screen.getByRole('form', { name: 'HMAC secret of Grafana' });
    await userEvent.type(within(form).getByLabelText('New HMAC secret'), 'short');
    await userEvent.click(within(form).getByRole('button', { name: 'Set secret' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(within(form).getByLabelText('New HMAC secret')).toHaveAccessibleDescription(/16 to 256/);
    await userEvent.type(within(form).getByLabelText('New HMAC secret'), '-now-long-enough');
    await userEvent.click(within(form).getByRole('button', { name: 'Set secret' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ id: 'int1', secret: 'short-now-long-enough' });
    await userEvent.click(within(form).getByRole('button', { name: 'Clear secret' }));
    expect(m.raw.executeMutation.mock.calls[1][0].variables).toEqual({ id: 'int1', secret: null });
  });
});
