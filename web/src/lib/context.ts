import type { OperationContext } from 'urql';

// urql's document cache refetches a query when a mutation returns a type the
// query contains; an empty list has no types to see, so name them up front.
type Ctx = Partial<OperationContext>;
export const ctx: Record<
  'users' | 'services' | 'schedules' | 'schedule' | 'pickers' | 'incidents' | 'board' | 'tokens' | 'sessions' | 'integrations' | 'heartbeats' | 'notify' | 'webhooks',
  Ctx
> = {
  users: { additionalTypenames: ['User'] },
  services: { additionalTypenames: ['Service', 'Schedule'] },
  schedules: { additionalTypenames: ['Schedule', 'User'] },
  schedule: { additionalTypenames: ['Schedule', 'Rotation', 'ScheduleOverride', 'User'] },
  pickers: { additionalTypenames: ['User', 'Service', 'Schedule'] },
  incidents: { additionalTypenames: ['Incident'] },
  board: { additionalTypenames: ['Incident', 'Schedule', 'Service'] },
  tokens: { additionalTypenames: ['ApiToken'] },
  sessions: { additionalTypenames: ['Session'] },
  integrations: { additionalTypenames: ['Integration'] },
  heartbeats: { additionalTypenames: ['Heartbeat'] },
  notify: { additionalTypenames: ['ContactMethod', 'NotificationRule'] },
  webhooks: { additionalTypenames: ['Webhook', 'WebhookDelivery'] },
};
