// A service's maintenance window: the badge everyone sees, and Start / End for admins
// (a maintenance window is configuration: `Action::Configure` on the server).
import { useState } from 'react';
import { useMutation } from 'urql';
import { EndMaintenanceMutation, StartMaintenanceMutation } from '../queries';
import { useCan } from '../access';
import { errorText, splitErrors } from '../lib/errors';
import { DAY, HOUR, MINUTE, localInputToIso, toLocalInput } from '../lib/time';
import { Field, Time, aria } from './ui';

/** The server's limit: at most 90 days ahead. */
export const MAX_MAINTENANCE_MS = 90 * DAY;

export const PRESETS = [
  { label: '30 min', ms: 30 * MINUTE },
  { label: '1 h', ms: HOUR },
  { label: '4 h', ms: 4 * HOUR },
] as const;

/** Whether `until` (the server's `maintenanceUntil`) is still ahead of `now`. */
export function inMaintenance(until: string | null | undefined, now: number): until is string {
  return !!until && Date.parse(until) > now;
}

export function MaintenanceBadge({ until, now }: { until: string | null | undefined; now: number }) {
  if (!inMaintenance(until, now)) return null;
  return (
    <span className="badge maint-badge" data-testid="maintenance-badge">
      In maintenance until <Time iso={until} style="short" />
    </span>
  );
}

/** A custom end: in the future and at most 90 days ahead. */
export function validateUntil(value: string, now = Date.now()): string | undefined {
  const iso = localInputToIso(value);
  if (!iso) return 'Enter a date and time.';
  const t = Date.parse(iso);
  if (t <= now) return 'Pick a time in the future.';
  if (t - now > MAX_MAINTENANCE_MS) return 'Maintenance lasts at most 90 days.';
  return undefined;
}

type Service = { id: string; name: string; maintenanceUntil?: string | null };

export function MaintenanceControl({ service, now, onChanged }: { service: Service; now: number; onChanged?: () => void }) {
  const can = useCan();
  const [startState, start] = useMutation(StartMaintenanceMutation);
  const [endState, end] = useMutation(EndMaintenanceMutation);
  const [open, setOpen] = useState(false);
  const [custom, setCustom] = useState('');
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [said, setSaid] = useState('');
  if (!can.admin) return null;
  const active = inMaintenance(service.maintenanceUntil, now);
  const fid = `maint-until-${service.id}`;

  const startUntil = async (iso: string) => {
    setError(null);
    setFieldError(undefined);
    setSaid('');
    const res = await start({ serviceId: service.id, until: iso });
    if (res.data?.startMaintenance) {
      setOpen(false);
      setCustom('');
      setSaid(`${service.name} is in maintenance: nobody is paged until it ends.`);
      onChanged?.();
    } else {
      const { fields } = splitErrors(res.error);
      if (fields.until) setFieldError(fields.until);
      else setError(errorText(res.error) ?? 'Maintenance did not start.');
    }
  };

  return (
    <div className="maint-control">
      {active ? (
        <button
          type="button"
          className="btn btn-small"
          disabled={endState.fetching}
          aria-label={`End maintenance of ${service.name}`}
          onClick={async () => {
            setError(null);
            setSaid('');
            const res = await end({ serviceId: service.id });
            if (res.error) setError(errorText(res.error));
            else {
              setSaid(`Maintenance of ${service.name} ended: open incidents page again.`);
              onChanged?.();
            }
          }}
        >
          {endState.fetching ? 'Ending…' : 'End maintenance'}
        </button>
      ) : open ? (
        <div role="group" aria-label={`Start maintenance of ${service.name}`} className="maint-start">
          <span className="label">Nobody is paged for {service.name} for:</span>
          <div className="button-row">
            {PRESETS.map((p) => (
              <button
                key={p.label}
                type="button"
                className="btn btn-small"
                disabled={startState.fetching}
                onClick={() => startUntil(new Date(Date.now() + p.ms).toISOString())}
              >
                {p.label}
              </button>
            ))}
          </div>
          <form
            className="inline-form"
            noValidate
            aria-label={`Maintenance of ${service.name} until`}
            onSubmit={(e) => {
              e.preventDefault();
              const problem = validateUntil(custom);
              setFieldError(problem);
              if (!problem) startUntil(localInputToIso(custom)!);
            }}
          >
            <Field id={fid} label="Or until" error={fieldError} hint="Your time zone; at most 90 days ahead.">
              <input
                type="datetime-local"
                {...aria(fid, fieldError, true)}
                value={custom}
                min={toLocalInput(new Date(now))}
                onChange={(e) => {
                  setCustom(e.target.value);
                  setFieldError(undefined);
                }}
              />
            </Field>
            <button type="submit" className="btn btn-small" disabled={startState.fetching}>
              Start
            </button>
            <button type="button" className="btn btn-small" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </form>
        </div>
      ) : (
        <button type="button" className="btn btn-small" onClick={() => setOpen(true)} aria-label={`Start maintenance of ${service.name}`}>
          Start maintenance…
        </button>
      )}
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <span role="status" className="ok-text">
        {said}
      </span>
    </div>
  );
}
