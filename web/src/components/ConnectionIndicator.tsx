import { useConnection } from '../connection';
import { useNow } from '../hooks';

/** Live / connecting / reconnecting, in words and colour. */
export function ConnectionIndicator() {
  const c = useConnection();
  const now = useNow(1000);
  const text = { connected: 'Live', connecting: 'Connecting…', offline: 'Offline', reconnecting: 'Reconnecting…' }[
    c.state
  ];
  const secs = c.state === 'reconnecting' && c.retryAt ? Math.max(0, Math.ceil((c.retryAt - now) / 1000)) : 0;
  return (
    <p
      className={`conn conn-${c.state}`}
      role="status"
      aria-live="polite"
      data-state={c.state}
      title={c.state === 'connected' ? 'Receiving incident updates live' : 'Live updates paused; the page will catch up once reconnected'}
    >
      <span className="dot" aria-hidden="true" />
      <span className="visually-hidden">Live updates: </span>
      {text}
      {secs > 0 && <span aria-hidden="true"> (next try in {secs} s)</span>}
    </p>
  );
}
