import { useEffect, useRef } from 'react';
import { Link, match, useLocation } from './router';
import { ConnectionIndicator } from './components/ConnectionIndicator';
import { Board } from './pages/Board';
import { Incidents } from './pages/Incidents';
import { IncidentPage } from './pages/IncidentPage';
import { Schedules } from './pages/Schedules';
import { SchedulePage } from './pages/SchedulePage';
import { Services } from './pages/Services';
import { Users } from './pages/Users';

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
  return (
    <>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. Go to the <Link to="/">board</Link>.
      </p>
    </>
  );
}

export function App() {
  const { path } = useLocation();
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
          </ul>
        </nav>
        <ConnectionIndicator />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Route path={path} />
      </main>
    </>
  );
}
