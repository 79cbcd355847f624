import { describe, expect, it } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CreateUserForm, validateUser } from './Users';
import { Wrapper, alice, badInput, mockClient } from '../test/mockClient';

function setup(mutation?: NonNullable<Parameters<typeof mockClient>[0]>['mutation']) {
  const m = mockClient({ mutation });
  render(
    <Wrapper client={m.client}>
      <CreateUserForm />
    </Wrapper>,
  );
  return m;
}

describe('Create user form', () => {
  it('rejects an empty name and a bad email before sending anything', async () => {
    const m = setup();
    await userEvent.type(screen.getByLabelText('Email'), 'not-an-email');
    await userEvent.click(screen.getByRole('button', { name: 'Create user' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    const name = screen.getByLabelText('Name');
    const email = screen.getByLabelText('Email');
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(name).toHaveAccessibleDescription(/Enter the person’s name/);
    expect(email).toHaveAccessibleDescription(/does not look like an email address/);
    await waitFor(() => expect(name).toHaveFocus());
  });

  it('sends a valid user and reports success', async () => {
    const m = setup(() => ({ data: { createUser: alice } }));
    await userEvent.type(screen.getByLabelText('Name'), '  Alice Ng ');
    await userEvent.type(screen.getByLabelText('Email'), 'alice@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Create user' }));
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { name: 'Alice Ng', email: 'alice@example.com', phone: null, role: 'RESPONDER' },
    });
    expect(await screen.findByText('Added Alice Ng.')).toBeInTheDocument();
    expect(screen.getByLabelText('Name')).toHaveValue('');
  });

  it('shows a server error next to the field named in extensions.field', async () => {
    setup(() => ({ error: badInput('A user with this email already exists.', 'email') }));
    await userEvent.type(screen.getByLabelText('Name'), 'Alice');
    await userEvent.type(screen.getByLabelText('Email'), 'alice@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Create user' }));
    const email = screen.getByLabelText('Email');
    expect(await screen.findByText('A user with this email already exists.')).toBeInTheDocument();
    expect(email).toHaveAttribute('aria-invalid', 'true');
    expect(email).toHaveAccessibleDescription('A user with this email already exists.');
    expect(screen.getByLabelText('Name')).not.toHaveAttribute('aria-invalid');
  });

  it('shows a server error without a field beside the form', async () => {
    setup(() => ({ error: badInput('Rate limit reached, try again in a minute.') }));
    await userEvent.type(screen.getByLabelText('Name'), 'Alice');
    await userEvent.type(screen.getByLabelText('Email'), 'alice@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Create user' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Rate limit reached');
  });

  it('validates the optional phone only when given', () => {
    expect(validateUser({ name: 'A', email: 'a@b.co', phone: '' })).toEqual({});
    expect(validateUser({ name: 'A', email: 'a@b.co', phone: '+44 20 7946 0000' })).toEqual({});
    expect(validateUser({ name: 'A', email: 'a@b.co', phone: 'call me' }).phone).toBeTruthy();
  });
});
