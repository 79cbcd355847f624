import { formatDuration } from '../lib/time';
import type { Policy } from '../queries';

/** The policy's repeat count and acknowledge timeout, in words. */
export function PolicyExtras({ policy }: { policy: Pick<Policy, 'repeat' | 'acknowledgeTimeoutMs'> }) {
  return (
    <ul className="policy-extras" data-testid="policy-extras">
      <li>
        {policy.repeat > 0
          ? `After the last level, starts over at level 0 ${policy.repeat === 1 ? 'once' : `${policy.repeat} times`}.`
          : 'Does not repeat after the last level.'}
      </li>
      <li>
        {policy.acknowledgeTimeoutMs != null
          ? `An acknowledged incident returns to triggered after ${formatDuration(policy.acknowledgeTimeoutMs)} unless resolved.`
          : 'An acknowledged incident stays acknowledged until resolved.'}
      </li>
    </ul>
  );
}
