import { useRef, useState, type FormEvent } from 'react';
import { ctx } from '../lib/context';
import { useMutation, useQuery } from 'urql';
import { CreateServiceMutation, ServicesQuery } from '../queries';
import { useDocumentTitle, useInterval, useNow } from '../hooks';
import { MaintenanceBadge, MaintenanceControl } from '../components/Maintenance';
import { errorText, splitErrors, unclaimed, type FieldErrors } from '../lib/errors';
import { Link } from '../router';
import { Alert, Field, Loading, aria, useFocusFirstInvalid } from '../components/ui';
import { useCan } from '../access';

export function validateService(v: { name: string; description: string }): FieldErrors {
  const e: FieldErrors = {};
  if (!v.name.trim()) e.name = 'Give the service a name, e.g. "Payment API".';
  else if (v.name.trim().length > 100) e.name = 'Keep the name under 100 characters.';
  return e;
}

export function CreateServiceForm({ onDone }: { onDone?: () => void }) {
  const [state, create] = useMutation(CreateServiceMutation);
  const [v, setV] = useState({ name: '', description: '' });
  const [local, setLocal] = useState<FieldErrors>({});
  const [server, setServer] = useState<ReturnType<typeof splitErrors>>({ fields: {}, general: [] });
  const [done, setDone] = useState('');
  const form = useRef<HTMLFormElement>(null);
  const focusInvalid = useFocusFirstInvalid(form);
  const err = (k: string) => local[k] ?? server.fields[k];

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone('');
    const errors = validateService(v);
    setLocal(errors);
    setServer({ fields: {}, general: [] });
    if (Object.keys(errors).length) return focusInvalid();
    const res = await create({ input: { name: v.name.trim(), description: v.description.trim() || null } });
    if (res.data?.createService) {
      setDone(`Created service ${res.data.createService.name}.`);
      setV({ name: '', description: '' });
      onDone?.();
    } else {
      setServer(splitErrors(res.error));
      focusInvalid();
    }
  }

  return (
    <form ref={form} className="form" onSubmit={submit} noValidate aria-labelledby="cs-h">
      <h2 id="cs-h">Create service</h2>
      <div className="field-row">
        <Field id="cs-name" label="Name" error={err('name')}>
          <input
            {...aria('cs-name', err('name'))}
            value={v.name}
            autoComplete="off"
            onChange={(e) => {
              setV((o) => ({ ...o, name: e.target.value }));
              setLocal({});
            }}
          />
        </Field>
        <Field id="cs-description" label="Description (optional)" error={err('description')}>
          <input
            {...aria('cs-description', err('description'))}
            value={v.description}
            autoComplete="off"
            onChange={(e) => setV((o) => ({ ...o, description: e.target.value }))}
          />
        </Field>
      </div>
      <Alert messages={[...server.general, ...unclaimed(server.fields, (k) => k === 'name' || k === 'description')]} />
      <p role="status" className="ok-text">
        {done}
      </p>
      <div className="button-row">
        <button type="submit" className="btn btn-primary" disabled={state.fetching}>
          {state.fetching ? 'Creating…' : 'Create service'}
        </button>
      </div>
    </form>
  );
}

export function Services() {
  useDocumentTitle('Services');
  const [{ data, fetching, error }, reexecute] = useQuery({ query: ServicesQuery, context: ctx.services });
  const can = useCan();
  const now = useNow(15_000);
  const refetch = () => reexecute({ requestPolicy: 'network-only' });
  // Maintenance is not announced live: look again after a change and once a minute.
  useInterval(refetch, 60_000);
  return (
    <>
      <h1 tabIndex={-1}>Services</h1>
      {can.admin && (
        <div className="panel">
          <CreateServiceForm />
        </div>
      )}
      <section aria-labelledby="svc-list-h">
        <h2 id="svc-list-h">All services</h2>
        {error && <Alert messages={[errorText(error)]} />}
        {!data && fetching && <Loading what="services" />}
        {data &&
          (data.services.length === 0 ? (
            <p className="empty">No services yet.</p>
          ) : (
            <ul className="rows">
              {data.services.map((s) => (
                <li key={s.id} className="row" data-service-id={s.id}>
                  <span className="row-title">
                    {s.name} <MaintenanceBadge until={s.maintenanceUntil} now={now} />
                  </span>
                  <span className="row-badges">
                    <MaintenanceControl service={s} now={now} onChanged={refetch} />
                  </span>
                  {s.description && <span className="row-meta">{s.description}</span>}
                  <span className="row-meta">
                    {s.schedules.length === 0 ? (
                      <>
                        No schedule.{' '}
                        {can.admin && <Link to={`/schedules?create=1&service=${encodeURIComponent(s.id)}`}>Create one</Link>}
                      </>
                    ) : (
                      <>
                        Schedules:{' '}
                        {s.schedules.map((sc, n) => (
                          <span key={sc.id}>
                            {n > 0 && ', '}
                            <Link to={`/schedules/${encodeURIComponent(sc.id)}`}>{sc.name}</Link>
                          </span>
                        ))}
                      </>
                    )}
                  </span>
                </li>
              ))}
            </ul>
          ))}
      </section>
    </>
  );
}
