// What monitors sent with an incident, one card per alert. Everything in an alert is
// the sender's text: React escapes it, and only http(s) links become anchors.
import type { Alert as AlertT, IntegrationKind } from '../queries';
import { safeHref } from '../lib/url';
import { Time } from './ui';

const KIND: Record<IntegrationKind, string> = {
  EVENTS_API_V2: 'PagerDuty event',
  ALERTMANAGER: 'Alertmanager',
  GRAFANA: 'Grafana',
  GENERIC: 'Generic webhook',
};

function Pairs({ title, pairs }: { title: string; pairs: AlertT['fields'] }) {
  if (pairs.length === 0) return null;
  return (
    <>
      <h4>{title}</h4>
      <dl className="details alert-pairs">
        {pairs.map((p, n) => (
          <div key={`${p.key}-${n}`} className="pair">
            <dt>{p.key}</dt>
            <dd>{p.value}</dd>
          </div>
        ))}
      </dl>
    </>
  );
}

export function AlertCard({ alert: a, n }: { alert: AlertT; n: number }) {
  const id = `alert-${n}`;
  return (
    <article className={`card alert-card alert-${a.status.toLowerCase()}`} aria-labelledby={id} data-status={a.status}>
      <header className="card-head">
        <h3 id={id}>{a.summary}</h3>
        <div className="badges">
          <span className={`badge ${a.status === 'FIRING' ? 'state-triggered' : 'state-resolved'}`}>
            <span className="visually-hidden">Status: </span>
            {a.status === 'FIRING' ? 'Firing' : 'Resolved'}
          </span>
          {a.severity && (
            <span className="badge role-badge">
              <span className="visually-hidden">Severity: </span>
              {a.severity}
            </span>
          )}
        </div>
      </header>
      <dl className="meta">
        {a.source && (
          <div>
            <dt>Source</dt>
            <dd>{a.source}</dd>
          </div>
        )}
        <div>
          <dt>Via</dt>
          <dd>
            {KIND[a.kind]}
            {a.integration && ` (${a.integration.name})`}
          </dd>
        </div>
        {a.startsAt && (
          <div>
            <dt>Started</dt>
            <dd>
              <Time iso={a.startsAt} style="precise" />
            </dd>
          </div>
        )}
        {a.endsAt && (
          <div>
            <dt>Ended</dt>
            <dd>
              <Time iso={a.endsAt} style="precise" />
            </dd>
          </div>
        )}
        <div>
          <dt>Received</dt>
          <dd>
            <Time iso={a.receivedAt} style="precise" />
          </dd>
        </div>
        {a.fingerprint && (
          <div>
            <dt>Fingerprint</dt>
            <dd>
              <code>{a.fingerprint}</code>
            </dd>
          </div>
        )}
      </dl>
      {a.labels.length > 0 && (
        <>
          <h4 className="visually-hidden">Labels</h4>
          <ul className="chips" aria-label="Labels">
            {a.labels.map((l, k) => (
              <li key={`${l.key}-${k}`} className="chip">
                <code>
                  {l.key}={l.value}
                </code>
              </li>
            ))}
          </ul>
        </>
      )}
      <Pairs title="Annotations" pairs={a.annotations} />
      <Pairs title="Details" pairs={a.fields} />
      {a.links.length > 0 && (
        <>
          <h4>Links</h4>
          <ul className="alert-links">
            {a.links.map((l, k) => {
              const href = safeHref(l.href);
              const text = l.text || l.href;
              return (
                <li key={`${l.href}-${k}`}>
                  {href ? (
                    <a href={href} target="_blank" rel="noreferrer noopener">
                      {text}
                    </a>
                  ) : (
                    <span data-testid="unsafe-link">
                      {text}
                      {l.text && (
                        <>
                          {' '}
                          <code>{l.href}</code>
                        </>
                      )}{' '}
                      <span className="muted">(not a web link)</span>
                    </span>
                  )}
                </li>
              );
            })}
          </ul>
        </>
      )}
    </article>
  );
}

/** The incident's alerts; nothing at all when there are none (an incident opened by a person). */
export function AlertsSection({ alerts }: { alerts: readonly AlertT[] | null | undefined }) {
  if (!alerts || alerts.length === 0) return null;
  const firing = alerts.filter((a) => a.status === 'FIRING').length;
  return (
    <section aria-labelledby="alerts-h" data-testid="incident-alerts">
      <h2 id="alerts-h">
        Alerts <span className="muted">({alerts.length}{firing > 0 && firing !== alerts.length ? `, ${firing} firing` : ''})</span>
      </h2>
      <ul className="cards">
        {alerts.map((a, n) => (
          <li key={n}>
            <AlertCard alert={a} n={n} />
          </li>
        ))}
      </ul>
    </section>
  );
}
