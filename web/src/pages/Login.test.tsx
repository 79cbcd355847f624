import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { LoginPage } from './Login';

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

function mockFetch(login: Reply, status: { setupRequired: boolean } = { setupRequired: false }) {
  const fn = vi.fn(async (url: string, _init?: RequestInit) => {
    const r: Reply = url === '/auth/status' ? { status: 200, body: status } : login;
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), {
      status: r.status,
      headers: { 'content-type': 'application/json', ...(r.headers ?? {}) },
    });
  });
  vi.stubGlobal('fetch', fn);
  return fn;
}

async function fill(email = 'alice@example.com', password = 'correct horse battery') {
  await userEvent.type(screen.getByLabelText('Email'), email);
  await userEvent.type(screen.getByLabelText('Password'), password);
  await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
}

describe('Login page', () => {
  beforeEach(() => vi.useRealTimers());
  afterEach(() => vi.unstubAllGlobals());

  it('logs in and goes back to where the user was', async () => {
    const f = mockFetch({ status: 200, body: { user: { id: 'u1', name: 'Alice', email: 'alice@example.com', role: 'ADMIN' } } });
    const done = vi.fn();
    render(<LoginPage next="/incidents/i7?x=1" onLoggedIn={done} />);
    await fill();
    await waitFor(() => expect(done).toHaveBeenCalledWith('/incidents/i7?x=1'));
    const call = f.mock.calls.find((c) => c[0] === '/auth/login')!;
    expect(JSON.parse(call[1]!.body as string)).toEqual({ email: 'alice@example.com', password: 'correct horse battery' });
    expect(call[1]!.credentials).toBe('same-origin');
  });

  it('never sends the user off-site after login', async () => {
    mockFetch({ status: 200, body: { user: { id: 'u1', name: 'A', email: 'a@b.co', role: 'VIEWER' } } });
    const done = vi.fn();
    render(<LoginPage next="//evil.example/x" onLoggedIn={done} />);
    await fill();
    await waitFor(() => expect(done).toHaveBeenCalledWith('/'));
  });

  it('says when the email or password is wrong, and clears the password', async () => {
    mockFetch({ status: 401, body: { error: 'The email or password is not right.', code: 'UNAUTHENTICATED' } });
    const done = vi.fn();
    render(<LoginPage next="/" onLoggedIn={done} />);
    await fill();
    expect(await screen.findByText('The email or password is not right.')).toBeInTheDocument();
    expect(screen.getByLabelText('Password')).toHaveValue('');
    await waitFor(() => expect(screen.getByLabelText('Password')).toHaveFocus());
    expect(done).not.toHaveBeenCalled();
  });

  it('when rate limited, shows the wait from Retry-After and disables the button', async () => {
    mockFetch({ status: 429, body: { error: 'Too many attempts.', code: 'RATE_LIMITED' }, headers: { 'retry-after': '42' } });
    render(<LoginPage next="/" onLoggedIn={vi.fn()} />);
    await fill();
    expect(await screen.findByText(/Too many login attempts\. Wait (42|41) seconds, then try again\./)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Log in' })).toBeDisabled();
  });

  it('checks the fields before sending anything', async () => {
    const f = mockFetch({ status: 200, body: {} });
    render(<LoginPage next="/" onLoggedIn={vi.fn()} />);
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(screen.getByLabelText('Email')).toHaveAccessibleDescription('Enter your email address.');
    expect(screen.getByLabelText('Password')).toHaveAccessibleDescription('Enter your password.');
    expect(f.mock.calls.filter((c) => c[0] === '/auth/login')).toHaveLength(0);
  });

  it('points to the setup link when no admin exists yet', async () => {
    mockFetch({ status: 401, body: {} }, { setupRequired: true });
    render(<LoginPage next="/" onLoggedIn={vi.fn()} />);
    expect(await screen.findByText('No admin yet: open the setup link the server printed at start-up.')).toBeInTheDocument();
  });
});
