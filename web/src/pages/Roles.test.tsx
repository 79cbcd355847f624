// What each role is offered. The server refuses anyway; the UI does not tempt.
import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { IncidentPage } from './IncidentPage';
import { IncidentCard } from './Board';
import { Users } from './Users';
import { Incidents } from './Incidents';
import { Services } from './Services';
import { IncidentActions } from '../components/IncidentActions';
import { Wrapper, alice, bob, gqlError, incident, mockClient } from '../test/mockClient';
import type { Role } from '../queries';

const users = [
  { ...alice, role: 'ADMIN', hasPassword: true },
  { ...bob, role: 'VIEWER', hasPassword: false },
];

function page(role: Role, ui: React.ReactNode, data: unknown = {}) {
  const m = mockClient({ role, query: () => ({ data }) });
  render(<Wrapper client={m.client}>{ui}</Wrapper>);
  return m;
}

describe('role-aware UI', () => {
  it('a VIEWER sees no Acknowledge, Resolve or Escalate on the incident page or a board card', () => {
    const i = incident({ title: 'Payments down' });
    page('VIEWER', <IncidentPage id={i.id} />, { incident: i });
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Payments down');
    for (const name of ['Acknowledge', 'Resolve', 'Escalate']) expect(screen.queryByRole('button', { name })).toBeNull();
  });

  it('a VIEWER sees no actions on a board card and no trigger button', () => {
    const i = incident({ title: 'Disk full' });
    page('VIEWER', <IncidentCard incident={i} now={Date.now()} />);
    expect(screen.getByText('Disk full')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Acknowledge' })).toBeNull();
  });

  it('a VIEWER cannot trigger incidents', () => {
    page('VIEWER', <Incidents />, { incidents: { __typename: 'IncidentConnection', totalCount: 0, pageInfo: { hasNextPage: false }, nodes: [] }, users: [], services: [], schedules: [] });
    expect(screen.getByRole('heading', { level: 1, name: 'Incidents' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Trigger incident' })).toBeNull();
  });

  it('a RESPONDER sees Acknowledge but no create-user form', () => {
    const i = incident({ title: 'Payments down' });
    page('RESPONDER', <IncidentActions incident={i} />);
    expect(screen.getByRole('button', { name: 'Acknowledge' })).toBeEnabled();
    screen.getByRole('button', { name: 'Acknowledge' });
  });

  it('a RESPONDER sees users and roles but cannot create or edit them', () => {
    page('RESPONDER', <Users />, { users });
    expect(screen.getByRole('cell', { name: 'Bob Ode' })).toBeInTheDocument();
    expect(screen.getAllByTestId('user-role').map((c) => c.textContent)).toEqual(['Admin', 'Viewer']);
    expect(screen.queryByRole('form', { name: 'Add user' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Create user' })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Edit / })).toBeNull();
  });

  it('a RESPONDER cannot create services', () => {
    page('RESPONDER', <Services />, { services: [] });
    expect(screen.queryByRole('button', { name: 'Create service' })).toBeNull();
  });

  it('an ADMIN creates a user with a role and password, and changes a role', async () => {
    const m = mockClient({
      query: () => ({ data: { users } }),
      mutation: (op) =>
        op.query.definitions.some((d) => 'name' in d && d.name?.value === 'CreateUser')
          ? { data: { createUser: { ...alice, id: 'u9', name: 'Cy', role: 'VIEWER', hasPassword: true } } }
          : { data: { updateUser: { ...bob, role: 'RESPONDER', hasPassword: false } } },
    });
    render(
      <Wrapper client={m.client}>
        <Users />
      </Wrapper>,
    );
    const form = screen.getByRole('form', { name: 'Add user' });
    expect(screen.getByLabelText('Role')).toHaveValue('RESPONDER');
    await userEvent.type(screen.getByLabelText('Name'), 'Cy');
    await userEvent.type(screen.getByLabelText('Email'), 'cy@example.com');
    await userEvent.selectOptions(screen.getByLabelText('Role'), 'VIEWER');
    await userEvent.type(screen.getByLabelText('Password (optional)'), 'twelve chars!');
    await userEvent.click(screen.getByRole('button', { name: 'Create user' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { name: 'Cy', email: 'cy@example.com', phone: null, role: 'VIEWER', password: 'twelve chars!' },
    });
    expect(form).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Edit Bob Ode' }));
    await userEvent.selectOptions(screen.getByLabelText('Role of Bob Ode'), 'RESPONDER');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(m.raw.executeMutation.mock.calls[1][0].variables).toEqual({ id: 'u2', input: { role: 'RESPONDER' } });
  });

  it('shows a FORBIDDEN answer readably', async () => {
    const i = incident({ title: 'Payments down' });
    const m = mockClient({ role: 'RESPONDER', mutation: () => ({ error: gqlError('Your role (VIEWER) may not acknowledge incidents.', 'FORBIDDEN') }) });
    render(
      <Wrapper client={m.client}>
        <IncidentActions incident={i} />
      </Wrapper>,
    );
    await userEvent.click(screen.getByRole('button', { name: 'Acknowledge' }));
    expect(await screen.findByText('Your role (VIEWER) may not acknowledge incidents.')).toBeInTheDocument();
  });
});
