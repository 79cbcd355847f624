import { useEffect, useRef, useState } from 'react';
import { Link, match, useLocation } from './router';
import { ConnectionIndicator } from './components/ConnectionIndicator';
import { AccessProvider, callerName, roleLabel, useAccess, useCan } from './access';
import { logout, reloadTo, useAuth } from './auth';
import { IncidentEventsProvider } from './events';
import { LoginPage } from './pages/Login';
import { SetupPage } from './pages/Setup';
import { AccountPage } from './pages/Account';
import { TokensPage } from './pages/Tokens';
import { Board } from './pages/Board';
import { Incidents } from './pages/Incidents';
import { IncidentPage } from './pages/IncidentPage';
import { Schedules } from './pages/Schedules';
import { SchedulePage } from './pages/SchedulePage';
import { Services } from './pages/Services';
import { Users } from './pages/Users';
import { UserPage } from './pages/UserPage';
import { AnalyticsRoute, WebhooksRoute } from './pages/lazy';

function Route({ path }: { path: string }) {
  if (path === '/' || path === '') return <Board />;
  if (path === '/incidents') return <Incidents />;
  let m = match('/incidents/:id', path);
  if (m) return <IncidentPage key={m.id} id={m.id} />;
  if (path === '/schedules') return <Schedules />;
  m = match('/schedules/:id', path);
  if (m) return <SchedulePage key={m.id} id={m.id} />;
  if (path === '/services') return <Services />;
  if (path === '/users') return <Users />;
  m = match('/users/:id', path);
  if (m) return <UserPage key={m.id} id={m.id} />;
  if (path === '/analytics') return <AnalyticsRoute />;
  if (path === '/tokens') return <TokensPage />;
  if (path === '/webhooks') return <WebhooksRoute />;
  if (path === '/account') return <AccountPage />;
  return (
    <>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. Go to the <Link to="/">board</Link>.
      </p>
    </>
  );
}

/** Who is logged in, their role, and Log out. */
function WhoAmI() {
  const a = useAccess();
  const [busy, setBusy] = useState(false);
  if (!a) return null;
  const token = !a.me;
  return (
    <div className="whoami" data-testid="whoami">
      <Link nav to="/account" className="whoami-name" title={token ? 'Using an API token' : 'Your account and sessions'}>
        <span className="visually-hidden">Logged in as </span>
        {token && <span className="muted">Token </span>}
        {callerName(a)}
      </Link>
      <span className="badge role-badge" data-role={a.access.role}>
        <span className="visually-hidden">Role: </span>
        {roleLabel(a.access.role)}
      </span>
      <button
        type="button"
        className="btn btn-small"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          await logout();
          reloadTo('/login');
        }}
      >
        {busy ? 'Logging out…' : 'Log out'}
      </button>
    </div>
  );
}

function Shell() {
  const { path } = useLocation();
  const can = useCan();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    // After client-side navigation, move focus to the new page's heading.
    if (first.current) {
      first.current = false;
      return;
    }
    const h1 = main.current?.querySelector<HTMLElement>('h1');
    (h1 ?? main.current)?.focus();
    window.scrollTo(0, 0);
  }, [path]);

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <Link to="/" className="brand">
          <svg aria-hidden="true" viewBox="0 0 24 24" width="22" height="22">
            <path fill="currentColor" d="M12 2a7 7 0 0 0-7 7v4.6L3 17v1h18v-1l-2-3.4V9a7 7 0 0 0-7-7Zm0 21a3 3 0 0 0 3-3H9a3 3 0 0 0 3 3Z" />
          </svg>
          Klaxon
        </Link>
        <nav aria-label="Main">
          <ul>
            <li>
              <Link nav to="/">
                Board
              </Link>
            </li>
            <li>
              <Link nav to="/incidents">
                Incidents
              </Link>
            </li>
            <li>
              <Link nav to="/schedules">
                Schedules
              </Link>
            </li>
            <li>
              <Link nav to="/services">
                Services
              </Link>
            </li>
            <li>
              <Link nav to="/users">
                Users
              </Link>
            </li>
            <li>
              <Link nav to="/analytics">
                Analytics
              </Link>
            </li>
            {can.admin && (
              <li>
                <Link nav to="/tokens">
                  API tokens
                </Link>
              </li>
            )}
            {can.admin && (
              <li>
                <Link nav to="/webhooks">
                  Webhooks
                </Link>
              </li>
            )}
          </ul>
        </nav>
        <ConnectionIndicator />
        <WhoAmI />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Route path={path} />
      </main>
    </>
  );
}

export function App() {
  const { path, search, href } = useLocation();
  const auth = useAuth();
  if (path === '/setup') return <SetupPage token={search.get('token') ?? ''} />;
  if (path === '/login') return <LoginPage next={search.get('next') ?? '/'} />;
  // Any UNAUTHENTICATED answer or a 4403 close: log in right here, then come back.
  if (auth === 'unauthenticated') return <LoginPage next={href} />;
  return (
    <AccessProvider>
      <IncidentEventsProvider>
        <Shell />
      </IncidentEventsProvider>
    </AccessProvider>
  );
}
