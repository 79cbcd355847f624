import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { NotificationsSection, channelLabel } from './IncidentNotifications';
import { alice, bob } from '../test/mockClient';
import type { IncidentNotification } from '../queries';

const n = (over: Partial<IncidentNotification>): IncidentNotification =>
  ({
    __typename: 'Notification',
    id: 'n1',
    channel: 'email',
    reason: 'triggered',
    at: '2026-11-27T01:00:01.000Z',
    delivered: true,
    status: 'SENT',
    attempts: 1,
    lastError: null,
    contactMethod: { __typename: 'ContactMethod', id: 'cm1', kind: 'EMAIL', name: 'Work' },
    user: alice,
    ...over,
  }) as IncidentNotification;

describe('Incident notifications', () => {
  it('shows channel, contact method, status, attempts and last error, oldest first', () => {
    render(
      <NotificationsSection
        notifications={[
          n({
            id: 'n2',
            at: '2026-11-27T01:05:00.000Z',
            channel: 'slack',
            status: 'FAILED',
            delivered: false,
            attempts: 4,
            lastError: 'HTTP 500 from hooks.slack.com',
            contactMethod: { __typename: 'ContactMethod', id: 'cm2', kind: 'SLACK', name: 'Team' } as never,
            user: bob,
          }),
          n({}),
          n({ id: 'n3', at: '2026-11-27T01:06:00.000Z', channel: 'log', contactMethod: null, status: 'PENDING', delivered: false, attempts: 0 }),
        ]}
      />,
    );
    const rows = within(screen.getByTestId('incident-notifications')).getAllByRole('row').slice(1);
    expect(rows[0]).toHaveTextContent('Alice Ng');
    expect(rows[0]).toHaveTextContent('Email');
    expect(rows[0]).toHaveTextContent('Email “Work”');
    expect(rows[0]).toHaveTextContent('Sent');
    expect(rows[1]).toHaveTextContent('Bob Ode');
    expect(rows[1]).toHaveTextContent('Slack “Team”');
    expect(rows[1]).toHaveTextContent('Failed');
    expect(rows[1]).toHaveTextContent('4');
    expect(rows[1]).toHaveTextContent('HTTP 500 from hooks.slack.com');
    expect(rows[2]).toHaveTextContent('Log');
    expect(rows[2]).toHaveTextContent('Default');
    expect(rows[2]).toHaveTextContent('Pending');
  });

  it('is absent without notifications', () => {
    const { container } = render(<NotificationsSection notifications={[]} />);
    expect(container).toBeEmptyDOMElement();
    expect(channelLabel('webhook')).toBe('Webhook');
  });
});
