// Who was paged for an incident, how, and whether it got through.
import type { IncidentNotification } from '../queries';
import { KIND_LABEL, STATUS_CLASS, STATUS_LABEL } from '../lib/notify';
import { Time } from './ui';

/** "email", "slack", "webhook", "log" → "Email", "Slack", "Webhook", "Log". */
export function channelLabel(channel: string): string {
  return channel ? channel.charAt(0).toUpperCase() + channel.slice(1) : '—';
}

export function NotificationStatusBadge({ status }: { status: IncidentNotification['status'] }) {
  return (
    <span className={`badge ${STATUS_CLASS[status]}`} data-status={status}>
      <span className="visually-hidden">Status: </span>
      {STATUS_LABEL[status]}
    </span>
  );
}

/** The incident's notifications, oldest first; no section when there are none. */
export function NotificationsSection({ notifications }: { notifications: readonly IncidentNotification[] }) {
  if (notifications.length === 0) return null;
  const list = [...notifications].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return (
    <section aria-labelledby="notifications-h">
      <h2 id="notifications-h">Notifications</h2>
      <div className="table-wrap">
        <table data-testid="incident-notifications">
          <thead>
            <tr>
              <th scope="col">Who</th>
              <th scope="col">Channel</th>
              <th scope="col">Contact method</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last error</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {list.map((n) => (
              <tr key={n.id} data-notification-id={n.id} data-status={n.status}>
                <td>{n.user.name}</td>
                <td>{channelLabel(n.channel)}</td>
                <td>
                  {n.contactMethod ? (
                    <>
                      {KIND_LABEL[n.contactMethod.kind]} “{n.contactMethod.name}”
                    </>
                  ) : (
                    <span className="muted">Default</span>
                  )}
                </td>
                <td>
                  <NotificationStatusBadge status={n.status} />
                </td>
                <td>{n.attempts}</td>
                <td>{n.lastError ? <span className="field-error">{n.lastError}</span> : <span className="muted">—</span>}</td>
                <td>
                  <Time iso={n.at} style="precise" />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
