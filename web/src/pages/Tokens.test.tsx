import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { TokensPage } from './Tokens';
import { Wrapper, mockClient } from '../test/mockClient';
import type { Operation } from 'urql';

const existing = {
  __typename: 'ApiToken',
  id: 't1',
  name: 'Grafana alerts',
  role: 'RESPONDER',
  createdAt: '2026-11-01T10:00:00.000Z',
  expiresAt: null,
  lastUsedAt: '2026-11-30T10:00:00.000Z',
  revokedAt: null,
};

const opName = (op: Operation) => op.query.definitions.map((d) => ('name' in d ? d.name?.value : undefined)).find(Boolean);

function setup(role: 'ADMIN' | 'RESPONDER' = 'ADMIN') {
  const m = mockClient({
    role,
    query: () => ({ data: { apiTokens: [existing] } }),
    mutation: (op) =>
      opName(op) === 'CreateApiToken'
        ? {
            data: {
              createApiToken: {
                __typename: 'NewApiToken',
                token: 'klx_s3cret_only_once',
                apiToken: { ...existing, id: 't2', name: 'Deploy bot', role: 'VIEWER', lastUsedAt: null },
              },
            },
          }
        : { data: { revokeApiToken: { ...existing, revokedAt: '2026-12-01T00:00:00.000Z' } } },
  });
  render(
    <Wrapper client={m.client}>
      <TokensPage />
    </Wrapper>,
  );
  return m;
}

describe('API tokens page', () => {
  it('lists tokens with role, dates and status', () => {
    setup();
    const row = screen.getByRole('row', { name: /Grafana alerts/ });
    expect(row).toHaveTextContent('Responder');
    expect(row).toHaveTextContent('Never');
    expect(row).toHaveTextContent('Active');
  });

  it('creates a token and shows its secret once, with a copy button', async () => {
    const m = setup();
    await userEvent.type(screen.getByLabelText('Token name'), 'Deploy bot');
    await userEvent.selectOptions(screen.getByLabelText('Role'), 'VIEWER');
    await userEvent.click(screen.getByRole('button', { name: 'Create token' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { name: 'Deploy bot', role: 'VIEWER', expiresAt: null },
    });
    const shown = await screen.findByTestId('new-token');
    expect(within(shown).getByLabelText('Secret of token Deploy bot')).toHaveValue('klx_s3cret_only_once');
    expect(shown).toHaveTextContent('This secret is shown only once.');
    expect(within(shown).getByRole('button', { name: 'Copy secret' })).toBeInTheDocument();
    await userEvent.click(within(shown).getByRole('button', { name: 'Done, I have copied it' }));
    expect(screen.queryByTestId('new-token')).toBeNull();
    expect(screen.queryByDisplayValue('klx_s3cret_only_once')).toBeNull();
  });

  it('refuses a token without a name before sending', async () => {
    const m = setup();
    await userEvent.click(screen.getByRole('button', { name: 'Create token' }));
    expect(screen.getByLabelText('Token name')).toHaveAttribute('aria-invalid', 'true');
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
  });

  it('revokes only after a confirmation', async () => {
    const m = setup();
    await userEvent.click(screen.getByRole('button', { name: 'Revoke Grafana alerts' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByText(/stops working at once/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Yes, revoke' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ id: 't1' });
  });

  it('is for admins only', () => {
    setup('RESPONDER');
    expect(screen.getByText('Only admins can see and create API tokens.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Create token' })).toBeNull();
  });
});
