import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SetupPage } from './Setup';

function mockFetch(status: number, body: unknown) {
  const fn = vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
  vi.stubGlobal('fetch', fn);
  return fn;
}

async function fill(password = 'a long enough secret') {
  await userEvent.type(screen.getByLabelText('Name'), 'Ada Admin');
  await userEvent.type(screen.getByLabelText('Email'), 'ada@example.com');
  await userEvent.type(screen.getByLabelText('Password'), password);
  await userEvent.click(screen.getByRole('button', { name: 'Create admin and log in' }));
}

describe('Setup page', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('creates the first admin with the token from the link and logs in', async () => {
    const f = mockFetch(201, { user: { id: 'u1', name: 'Ada Admin', email: 'ada@example.com', role: 'ADMIN' } });
    const done = vi.fn();
    render(<SetupPage token="tok123" onDone={done} />);
    await fill();
    await waitFor(() => expect(done).toHaveBeenCalledWith('/'));
    const [url, init] = f.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/auth/setup');
    expect(JSON.parse(init.body as string)).toEqual({
      token: 'tok123',
      name: 'Ada Admin',
      email: 'ada@example.com',
      password: 'a long enough secret',
    });
  });

  it('wants a password of at least 12 characters before sending', async () => {
    const f = mockFetch(201, {});
    render(<SetupPage token="tok123" onDone={vi.fn()} />);
    await fill('short');
    expect(screen.getByLabelText('Password')).toHaveAccessibleDescription(/Use at least 12 characters/);
    expect(f).not.toHaveBeenCalled();
  });

  it('shows a server error under the field it names', async () => {
    mockFetch(400, { error: 'That email is taken.', code: 'BAD_USER_INPUT', field: 'email' });
    render(<SetupPage token="tok123" onDone={vi.fn()} />);
    await fill();
    expect(await screen.findByText('That email is taken.')).toBeInTheDocument();
    expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true');
  });

  it('explains a used or wrong setup link', async () => {
    mockFetch(401, { error: 'The setup token is not valid.', code: 'UNAUTHENTICATED' });
    render(<SetupPage token="old" onDone={vi.fn()} />);
    await fill();
    expect(await screen.findByText(/not valid.*works once/)).toBeInTheDocument();
  });

  it('without a token, asks for the link', () => {
    render(<SetupPage token="" onDone={vi.fn()} />);
    expect(screen.getByText(/needs the one-time setup link/)).toBeInTheDocument();
  });
});
