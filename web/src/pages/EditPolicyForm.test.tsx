import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { EditPolicyForm } from './EditPolicyForm';
import { Wrapper, badInput, bob, mockClient } from '../test/mockClient';
import type { Policy } from '../queries';

const policy = {
  __typename: 'EscalationPolicy',
  initialTimeoutMs: 300_000,
  repeat: 1,
  acknowledgeTimeoutMs: 3_600_000,
  escalationLevels: [
    { __typename: 'EscalationLevel', timeoutMs: 600_000, user: bob, schedule: null },
    { __typename: 'EscalationLevel', timeoutMs: 900_000, user: bob, schedule: { __typename: 'Schedule', id: 'sc2', name: 'DB' } },
  ],
} as unknown as Policy;

function setup(mutation?: NonNullable<Parameters<typeof mockClient>[0]>['mutation']) {
  const m = mockClient({ mutation });
  render(
    <Wrapper client={m.client}>
      <EditPolicyForm scheduleId="sc1" policy={policy} />
    </Wrapper>,
  );
  return m;
}

describe('Edit escalation timing', () => {
  it('starts from the policy and sends repeat, acknowledgeTimeoutMs and the levels unchanged', async () => {
    const m = setup(() => ({ data: { updateSchedule: { __typename: 'Schedule', id: 'sc1' } } }));
    expect(screen.getByLabelText('Repeat the policy (times)')).toHaveValue(1);
    expect(screen.getByLabelText(/Return acknowledged incidents/)).toHaveValue(60);
    fireEvent.change(screen.getByLabelText('Repeat the policy (times)'), { target: { value: '4' } });
    fireEvent.change(screen.getByLabelText(/Return acknowledged incidents/), { target: { value: '' } });
    await userEvent.click(screen.getByRole('button', { name: 'Save escalation timing' }));
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({
      id: 'sc1',
      input: {
        escalationPolicy: {
          initialTimeoutMs: 300_000,
          escalationLevels: [
            { userId: 'u2', timeoutMs: 600_000 },
            { scheduleId: 'sc2', timeoutMs: 900_000 },
          ],
          repeat: 4,
          acknowledgeTimeoutMs: null,
        },
      },
    });
    expect(await screen.findByText('Escalation policy saved.')).toBeInTheDocument();
  });

  it('shows a server error under the field', async () => {
    setup(() => ({ error: badInput('acknowledgeTimeoutMs: must be at most 7 days', 'escalationPolicy.acknowledgeTimeoutMs') }));
    await userEvent.click(screen.getByRole('button', { name: 'Save escalation timing' }));
    expect(await screen.findByText('Must be at most 7 days')).toBeInTheDocument();
    expect(screen.getByLabelText(/Return acknowledged incidents/)).toHaveAttribute('aria-invalid', 'true');
  });
});
