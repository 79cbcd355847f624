import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { CreateServiceForm } from './Services';
import { Wrapper, badInput, mockClient } from '../test/mockClient';

describe('Create service form', () => {
  it('requires a name before sending', async () => {
    const m = mockClient();
    render(
      <Wrapper client={m.client}>
        <CreateServiceForm />
      </Wrapper>,
    );
    await userEvent.click(screen.getByRole('button', { name: 'Create service' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Name')).toHaveAccessibleDescription(/Give the service a name/);
  });

  it('puts a server error on the name field', async () => {
    const m = mockClient({ mutation: () => ({ error: badInput('A service named "Payments" exists.', 'name') }) });
    render(
      <Wrapper client={m.client}>
        <CreateServiceForm />
      </Wrapper>,
    );
    await userEvent.type(screen.getByLabelText('Name'), 'Payments');
    await userEvent.click(screen.getByRole('button', { name: 'Create service' }));
    expect(await screen.findByText('A service named "Payments" exists.')).toBeInTheDocument();
    expect(screen.getByLabelText('Name')).toHaveAttribute('aria-invalid', 'true');
  });
});
