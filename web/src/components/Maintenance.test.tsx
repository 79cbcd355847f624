import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Operation } from 'urql';
import { MaintenanceBadge, validateUntil } from './Maintenance';
import { Services } from '../pages/Services';
import { Board } from '../pages/Board';
import { Wrapper, badInput, incident, mockClient } from '../test/mockClient';
import type { Role } from '../queries';

const opName = (op: Operation) => (op.query.definitions[0] as { name?: { value: string } }).name?.value;
const soon = () => new Date(Date.now() + 3_600_000).toISOString();

function services(until: string | null, opts: { role?: Role; mutation?: NonNullable<Parameters<typeof mockClient>[0]>['mutation'] } = {}) {
  const m = mockClient({
    role: opts.role,
    query: () => ({
      data: {
        services: [{ __typename: 'Service', id: 's1', name: 'Payment API', description: null, maintenanceUntil: until, schedules: [] }],
      },
    }),
    mutation: opts.mutation,
  });
  render(
    <Wrapper client={m.client}>
      <Services />
    </Wrapper>,
  );
  return m;
}

describe('Maintenance', () => {
  it('shows "In maintenance until" only while the window is ahead', () => {
    const { rerender } = render(<MaintenanceBadge until={soon()} now={Date.now()} />);
    expect(screen.getByTestId('maintenance-badge')).toHaveTextContent(/^In maintenance until /);
    rerender(<MaintenanceBadge until={new Date(Date.now() - 1000).toISOString()} now={Date.now()} />);
    expect(screen.queryByTestId('maintenance-badge')).not.toBeInTheDocument();
    rerender(<MaintenanceBadge until={null} now={Date.now()} />);
    expect(screen.queryByTestId('maintenance-badge')).not.toBeInTheDocument();
  });

  it('badges a service in maintenance on the services list; a VIEWER gets no Start or End', () => {
    services(soon(), { role: 'VIEWER' });
    expect(screen.getByTestId('maintenance-badge')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /maintenance/i })).not.toBeInTheDocument();
  });

  it('is not offered to a RESPONDER either (the server asks for ADMIN)', () => {
    services(null, { role: 'RESPONDER' });
    expect(screen.queryByRole('button', { name: /Start maintenance/ })).not.toBeInTheDocument();
  });

  it('starts maintenance for an ADMIN with a preset', async () => {
    const m = services(null, { mutation: () => ({ data: { startMaintenance: { __typename: 'Service', id: 's1', name: 'Payment API', maintenanceUntil: soon() } } }) });
    expect(screen.queryByTestId('maintenance-badge')).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Start maintenance of Payment API' }));
    const group = screen.getByRole('group', { name: 'Start maintenance of Payment API' });
    expect(within(group).getAllByRole('button').map((b) => b.textContent)).toEqual(['30 min', '1 h', '4 h', 'Start', 'Cancel']);
    const before = Date.now();
    await userEvent.click(within(group).getByRole('button', { name: '1 h' }));
    const vars = m.raw.executeMutation.mock.calls[0][0].variables as { serviceId: string; until: string };
    expect(opName(m.raw.executeMutation.mock.calls[0][0])).toBe('StartMaintenance');
    expect(vars.serviceId).toBe('s1');
    expect(Date.parse(vars.until) - before).toBeGreaterThanOrEqual(3_600_000 - 1000);
    expect(Date.parse(vars.until) - before).toBeLessThan(3_600_000 + 5000);
    expect(await screen.findByText(/nobody is paged until it ends/)).toBeInTheDocument();
  });

  it('checks a custom end and shows the server\'s until error under the field', async () => {
    expect(validateUntil('')).toMatch(/Enter a date/);
    expect(validateUntil('2020-01-01T10:00')).toMatch(/future/);
    const far = new Date(Date.now() + 100 * 86_400_000);
    const pad = (n: number) => String(n).padStart(2, '0');
    expect(validateUntil(`${far.getFullYear()}-${pad(far.getMonth() + 1)}-${pad(far.getDate())}T10:00`)).toMatch(/90 days/);

    services(null, { mutation: () => ({ error: badInput('until: must be in the future', 'until') }) });
    await userEvent.click(screen.getByRole('button', { name: 'Start maintenance of Payment API' }));
    await userEvent.click(screen.getByRole('button', { name: 'Start' }));
    expect(screen.getByLabelText('Or until')).toHaveAccessibleDescription(/Enter a date and time/);
    await userEvent.click(screen.getByRole('button', { name: '30 min' }));
    expect(await screen.findByText('Must be in the future')).toBeInTheDocument();
  });

  it('ends maintenance for an ADMIN', async () => {
    const m = services(soon(), { mutation: () => ({ data: { endMaintenance: { __typename: 'Service', id: 's1', name: 'Payment API', maintenanceUntil: null } } }) });
    await userEvent.click(screen.getByRole('button', { name: 'End maintenance of Payment API' }));
    expect(opName(m.raw.executeMutation.mock.calls[0][0])).toBe('EndMaintenance');
    expect(m.raw.executeMutation.mock.calls[0][0].variables).toEqual({ serviceId: 's1' });
  });

  it('badges the service on the board: its on-call row and its incidents', () => {
    const i = incident({ title: 'Payments slow', pagingHeld: true } as never);
    const m = mockClient({
      role: 'VIEWER',
      query: () => ({
        data: {
          triggered: { __typename: 'IncidentConnection', totalCount: 1, nodes: [i] },
          acknowledged: { __typename: 'IncidentConnection', totalCount: 0, nodes: [] },
          resolved: { __typename: 'IncidentConnection', totalCount: 0 },
          schedules: [
            {
              __typename: 'Schedule',
              id: 'sc1',
              name: 'Payments on call',
              timeZone: 'UTC',
              service: { __typename: 'Service', id: 's1', name: 'Payment API' },
              onCall: null,
              currentShift: null,
              rotation: [],
              escalationPolicy: { __typename: 'EscalationPolicy', initialTimeoutMs: 300_000, repeat: 0, acknowledgeTimeoutMs: null, escalationLevels: [] },
            },
          ],
          services: [{ __typename: 'Service', id: 's1', name: 'Payment API', maintenanceUntil: soon() }],
        },
      }),
    });
    render(
      <Wrapper client={m.client}>
        <Board />
      </Wrapper>,
    );
    const badges = screen.getAllByTestId('maintenance-badge');
    expect(badges.length).toBe(2);
    const card = screen.getByRole('article', { name: 'Payments slow' });
    expect(within(card).getByTestId('maintenance-badge')).toHaveTextContent('In maintenance until');
    expect(card).toHaveTextContent('held (maintenance)');
  });
});
