import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { IncidentActions } from './IncidentActions';
import { Wrapper, gqlError, incident, mockClient } from '../test/mockClient';

function setup(i = incident()) {
  const m = mockClient({
    mutation: (op) =>
      op.query.definitions.some((d) => 'name' in d && d.name?.value === 'AcknowledgeIncident')
        ? { data: { acknowledgeIncident: { ...i, state: 'ACKNOWLEDGED' } } }
        : { error: gqlError('Already at the last escalation level.', 'INVALID_STATE') },
  });
  render(
    <Wrapper client={m.client}>
      <IncidentActions incident={i} />
    </Wrapper>,
  );
  const btn = (name: string) => screen.getByRole('button', { name: new RegExp(`^${name}$`) });
  return { m, ack: btn('Acknowledge'), resolve: btn('Resolve'), escalate: btn('Escalate') };
}

describe('IncidentActions', () => {
  it('TRIGGERED with a next level: all three enabled', () => {
    const { ack, resolve, escalate } = setup(incident({ state: 'TRIGGERED', escalationLevel: 0 }));
    expect(ack).toBeEnabled();
    expect(resolve).toBeEnabled();
    expect(escalate).toBeEnabled();
  });

  it('TRIGGERED at the last level: Escalate disabled', () => {
    const { ack, resolve, escalate } = setup(incident({ state: 'TRIGGERED', escalationLevel: 1 }));
    expect(ack).toBeEnabled();
    expect(resolve).toBeEnabled();
    expect(escalate).toBeDisabled();
    expect(escalate).toHaveAttribute('title', 'Already at the last escalation level.');
  });

  it('ACKNOWLEDGED: Acknowledge disabled, Resolve and Escalate enabled', () => {
    const { ack, resolve, escalate } = setup(incident({ state: 'ACKNOWLEDGED', acknowledgedAt: '2026-11-27T01:01:00Z' }));
    expect(ack).toBeDisabled();
    expect(resolve).toBeEnabled();
    expect(escalate).toBeEnabled();
  });

  it('RESOLVED: everything disabled', () => {
    const { ack, resolve, escalate } = setup(incident({ state: 'RESOLVED', resolvedAt: '2026-11-27T01:09:00Z' }));
    expect(ack).toBeDisabled();
    expect(resolve).toBeDisabled();
    expect(escalate).toBeDisabled();
  });

  it('trusts the server’s canEscalate when it is given', () => {
    const { escalate } = setup(incident({ state: 'TRIGGERED', escalationLevel: 0, canEscalate: false }));
    expect(escalate).toBeDisabled();
  });

  it('sends the mutation for the clicked button', async () => {
    const i = incident();
    const { m, ack } = setup(i);
    await userEvent.click(ack);
    expect(m.raw.executeMutation).toHaveBeenCalledTimes(1);
    const op = m.raw.executeMutation.mock.calls[0][0];
    expect(op.variables).toEqual({ id: i.id });
  });

  it('shows a refused move next to the buttons, in words', async () => {
    const { escalate } = setup(incident());
    await userEvent.click(escalate);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Already at the last escalation level.');
    expect(escalate).toHaveAttribute('aria-describedby', alert.id);
  });
});
