import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import type { Operation } from 'urql';
import { UserPage } from './UserPage';
import { AccountPage } from './Account';
import { Wrapper, mockClient } from '../test/mockClient';
import type { Role } from '../queries';

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;

function page(id: string, role: Role, what: 'user' | 'account' = 'user') {
  const m = mockClient({
    role,
    query: (op) => {
      const name = opName(op);
      if (name === 'User')
        return {
          data: {
            user: { __typename: 'User', id, name: 'Bob Ode', email: 'bob@example.com', phone: null, role: 'RESPONDER', hasPassword: true },
          },
        };
      if (name === 'UserNotifications')
        return {
          data: {
            user: {
              __typename: 'User',
              id: op.variables?.id,
              name: 'Bob Ode',
              contactMethods: [
                {
                  __typename: 'ContactMethod',
                  id: 'cm1',
                  kind: 'EMAIL',
                  name: 'Work',
                  target: 'bob@work.example',
                  signingSecret: null,
                  createdAt: '2026-11-30T10:00:00.000Z',
                },
              ],
              notificationRules: [],
            },
          },
        };
      if (name === 'Sessions') return { data: { sessions: [] } };
      return undefined as never;
    },
  });
  render(<Wrapper client={m.client}>{what === 'user' ? <UserPage id={id} /> : <AccountPage />}</Wrapper>);
  return m;
}

describe('User page', () => {
  it('shows an admin the person’s notification settings', () => {
    page('u2', 'ADMIN');
    expect(screen.getByRole('heading', { level: 1, name: 'Bob Ode' })).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Notifications' })).toBeInTheDocument();
    expect(screen.getByText('bob@work.example')).toBeInTheDocument();
  });

  it('shows anyone else no notification settings and no targets', () => {
    const m = page('u2', 'RESPONDER');
    expect(screen.getByRole('heading', { level: 1, name: 'Bob Ode' })).toBeInTheDocument();
    expect(screen.queryByRole('heading', { name: 'Notifications' })).toBeNull();
    expect(screen.queryByText('bob@work.example')).toBeNull();
    expect(m.raw.executeQuery.mock.calls.some(([op]) => opName(op as Operation) === 'UserNotifications')).toBe(false);
  });
});

describe('Account page', () => {
  it('has the Notifications section for the logged-in person, whatever their role', () => {
    const m = page('u1', 'VIEWER', 'account');
    expect(screen.getByRole('heading', { name: 'Notifications' })).toBeInTheDocument();
    const op = m.raw.executeQuery.mock.calls.map(([o]) => o as Operation).find((o) => opName(o) === 'UserNotifications');
    expect(op?.variables).toEqual({ id: 'u1' });
  });
});
