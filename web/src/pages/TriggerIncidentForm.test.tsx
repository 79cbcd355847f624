import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { TriggerIncidentForm } from './TriggerIncidentForm';
import { Wrapper, badInput, incident, mockClient } from '../test/mockClient';

const pickers = {
  users: [],
  services: [],
  schedules: [{ __typename: 'Schedule', id: 'sc1', name: 'Payments on call', service: { __typename: 'Service', id: 's1', name: 'Payment API' } }],
};

describe('Trigger incident form', () => {
  it('needs a title and a schedule before sending', async () => {
    const m = mockClient({ query: () => ({ data: pickers }) });
    render(
      <Wrapper client={m.client}>
        <TriggerIncidentForm onDone={vi.fn()} />
      </Wrapper>,
    );
    await userEvent.click(screen.getByRole('button', { name: 'Trigger incident' }));
    expect(m.raw.executeMutation).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Title')).toHaveAccessibleDescription(/Give the incident a title/);
    expect(screen.getByLabelText('Schedule')).toHaveAccessibleDescription(/Choose the schedule/);
  });

  it('triggers with the chosen schedule and severity', async () => {
    const created = incident({ title: 'Payment API down' });
    const onDone = vi.fn();
    const m = mockClient({ query: () => ({ data: pickers }), mutation: () => ({ data: { triggerIncident: created } }) });
    render(
      <Wrapper client={m.client}>
        <TriggerIncidentForm onDone={onDone} />
      </Wrapper>,
    );
    await userEvent.type(screen.getByLabelText('Title'), 'Payment API down');
    fireEvent.change(screen.getByLabelText('Schedule'), { target: { value: 'sc1' } });
    fireEvent.change(screen.getByLabelText('Severity'), { target: { value: 'MEDIUM' } });
    await userEvent.click(screen.getByRole('button', { name: 'Trigger incident' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      input: { title: 'Payment API down', description: null, scheduleId: 'sc1', severity: 'MEDIUM', dedupKey: null },
    });
    expect(onDone).toHaveBeenCalledWith(created);
  });

  it('shows the server’s complaint about the title next to the title', async () => {
    const m = mockClient({ query: () => ({ data: pickers }), mutation: () => ({ error: badInput('title must not be blank', 'title') }) });
    render(
      <Wrapper client={m.client}>
        <TriggerIncidentForm onDone={vi.fn()} />
      </Wrapper>,
    );
    await userEvent.type(screen.getByLabelText('Title'), 'x');
    fireEvent.change(screen.getByLabelText('Schedule'), { target: { value: 'sc1' } });
    await userEvent.click(screen.getByRole('button', { name: 'Trigger incident' }));
    expect(await screen.findByText('title must not be blank')).toBeInTheDocument();
    expect(screen.getByLabelText('Title')).toHaveAccessibleDescription('title must not be blank');
  });
});
