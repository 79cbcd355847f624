#!/usr/bin/env node
// End-to-end: a real `klaxon serve --in-memory` and headless Chromium.
//
// Starts the server with KLAXON_ADMIN_TOKEN (a random ADMIN bearer token the test's own
// API calls use), creates an ADMIN and a VIEWER with passwords, logs in as the admin through
// the login page, creates a user, a service and a schedule through the UI, triggers
// incidents through the API, and checks they reach the board without a reload (within
// 2 s), then Acknowledge and Resolve from the board; on an open incident's page adds a note
// and snoozes it; opens Analytics and waits for its charts; adds an Events API v2 integration,
// pages through /v2/enqueue and sees the alert; adds a heartbeat; starts and ends maintenance;
// adds an email contact method and a rule on the Account page; creates a webhook (secret once).
// Ends by logging in as the VIEWER (no incident actions offered) and opening GraphiQL at
// GET /graphql with every request outside 127.0.0.1 blocked. Prints the mutation → board latency and saves screenshots to
// e2e/artifacts/.
//
//   KLAXON_BIN     server binary (default ../target/release/klaxon, else ../target/debug/klaxon)
//   CHROMIUM_PATH  browser (default /usr/bin/chromium)
//   E2E_HEADFUL=1  show the browser (needs a display)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = path.join(webDir, 'e2e', 'artifacts');
const LIMIT_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The server accepts this exact string as an ADMIN bearer token (at least 32 characters).
const ADMIN_TOKEN = randomBytes(30).toString('base64url'); // 40 characters
const ADMIN = { name: 'Morgan Admin', email: 'morgan@example.com', password: 'correct horse battery staple', role: 'ADMIN' };
const VIEWER = { name: 'Vic Viewer', email: 'vic@example.com', password: 'viewer password 12345', role: 'VIEWER' };

function serverBinary() {
  if (process.env.KLAXON_BIN) return path.resolve(process.cwd(), process.env.KLAXON_BIN);
  const release = path.resolve(webDir, '../target/release/klaxon');
  const debug = path.resolve(webDir, '../target/debug/klaxon');
  if (!existsSync(release) && existsSync(debug)) {
    console.log(`(no release build; using ${debug})`);
    return debug;
  }
  return release;
}

/** Start the server on a free port; resolves with its base URL. Retries while the binary is being rebuilt. */
async function startServer(bin, listen = '127.0.0.1:0') {
  let lastError;
  for (let attempt = 1; attempt <= 6; attempt++) {
    try {
      return await new Promise((resolve, reject) => {
        if (!existsSync(bin)) return reject(new Error(`server binary not found: ${bin} (set KLAXON_BIN)`));
        const child = spawn(bin, ['serve', '--in-memory', '--listen', listen], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', KLAXON_ADMIN_TOKEN: ADMIN_TOKEN },
        });
        let out = '';
        let err = '';
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`server did not print its address within 30 s\n${out}\n${err}`));
        }, 30_000);
        child.stdout.on('data', (d) => {
          out += d;
          const m = out.match(/klaxon listening on (http:\/\/\S+)/);
          if (m) {
            clearTimeout(timer);
            resolve({ child, base: m[1].replace(/\/$/, ''), stderr: () => err });
          }
        });
        child.stderr.on('data', (d) => {
          err += d;
          if (err.length > 200_000) err = err.slice(-100_000);
        });
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.on('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`server exited early (code ${code}, signal ${sig})\n${out}\n${err.slice(-4000)}`));
        });
      });
    } catch (e) {
      lastError = e;
      console.log(`server start attempt ${attempt} failed: ${String(e.message).split('\n')[0]}`);
      await sleep(3000);
    }
  }
  throw lastError;
}

async function stopServer(server) {
  if (!server || server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await Promise.race([exited, sleep(3000)]);
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
}

/** A GraphQL call as the bootstrap admin token (not as the browser's session). */
async function gql(base, query, variables) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(`GraphQL error (HTTP ${res.status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** The admin and the viewer who log in to the UI, with passwords (a fresh server has none). */
async function seedPeople(base) {
  const toInput = ({ name, email, password, role }) => ({ name, email, password, role });
  const data = await gql(
    base,
    `mutation ($a: CreateUserInput!, $v: CreateUserInput!) {
      admin: createUser(input: $a) { id role hasPassword }
      viewer: createUser(input: $v) { id role hasPassword }
    }`,
    { a: toInput(ADMIN), v: toInput(VIEWER) },
  );
  assert(data.admin.role === 'ADMIN' && data.admin.hasPassword, `admin: ${JSON.stringify(data.admin)}`);
  assert(data.viewer.role === 'VIEWER' && data.viewer.hasPassword, `viewer: ${JSON.stringify(data.viewer)}`);
  return data;
}

/** Fill in the login page (at /login or shown in place of a page) and wait for the app. */
async function logIn(page, who) {
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('whoami').getByText(who.name).waitFor();
}

const TRIGGER = `mutation ($input: TriggerIncidentInput!) { triggerIncident(input: $input) { id title state } }`;

/** In the page: resolve with Date.now() when a board card titled `title` matches `pred`. */
function armWatcher(page, key, title, want) {
  return page.evaluate(
    ({ key, title, want }) => {
      const w = (window.__watch ??= {});
      w[key] = new Promise((resolve) => {
        const check = () => {
          const cards = [...document.querySelectorAll('[data-testid="open-incidents"] article')];
          const card = cards.find((a) => a.querySelector('h3')?.textContent === title);
          if (want === 'absent') return !card;
          return !!card && (want === 'present' || card.getAttribute('data-state') === want);
        };
        if (check()) return resolve(Date.now());
        const mo = new MutationObserver(() => {
          if (check()) {
            mo.disconnect();
            resolve(Date.now());
          }
        });
        mo.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
      });
    },
    { key, title, want },
  );
}

function awaitWatcher(page, key, timeoutMs) {
  return page.evaluate(
    ({ key, timeoutMs }) => Promise.race([window.__watch[key], new Promise((r) => setTimeout(() => r(null), timeoutMs))]),
    { key, timeoutMs },
  );
}

const results = { passed: 0, failed: 0 };
async function step(name, fn) {
  const t = Date.now();
  try {
    const note = await fn();
    results.passed++;
    console.log(`  ✓ ${name} (${Date.now() - t} ms)${note ? ` — ${note}` : ''}`);
  } catch (e) {
    results.failed++;
    console.log(`  ✗ ${name}\n    ${String(e.stack || e).split('\n').slice(0, 6).join('\n    ')}`);
    throw e;
  }
}

/** Timeline entries (`li[data-kind]`) of one kind, optionally containing `text` (actor or message). */
const entryOf = (tl, kind, text) => {
  const l = tl.locator(`li[data-kind="${kind}"]`);
  return text ? l.filter({ hasText: text }) : l;
};

const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

/** Polls `check` until it is true or `ms` pass; its last answer. */
async function eventually(check, ms) {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const localInput = (d) => {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};

async function main() {
  if (!existsSync(path.join(webDir, 'dist', 'index.html'))) {
    console.log('note: web/dist is not built here; the server serves the UI it was built with.');
  }
  mkdirSync(artifacts, { recursive: true });
  const bin = serverBinary();
  let server = await startServer(bin);
  console.log(`klaxon at ${server.base} (${bin})`);
  const profile = mkdtempSync(path.join(tmpdir(), 'klaxon-e2e-'));
  let context;
  const pageErrors = [];
  const latencies = [];
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: !process.env.E2E_HEADFUL,
      args: [
        ...(process.env.E2E_HEADFUL ? [] : ['--headless']),
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    });
    context.setDefaultTimeout(10_000);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') console.log(`    [browser console] ${m.text()}`);
    });
    const base = server.base;

    console.log('e2e: board');
    await step('an ADMIN and a VIEWER with passwords are created with the KLAXON_ADMIN_TOKEN bearer token', async () => {
      const anon = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ users { id } }' }),
      });
      assert(anon.status === 401, `a request without a credential answered ${anon.status}, not 401`);
      const body = await anon.json();
      assert(body.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED', `401 body ${JSON.stringify(body)}`);
      await seedPeople(base);
    });

    await step('/ without a session shows the login page; logging in as the admin lands on the live board', async () => {
      await page.goto(`${base}/`);
      // A wrong password is refused and said so.
      await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill('not the password at all');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: /not right/ }).waitFor();
      await logIn(page, ADMIN);
      await page.getByRole('heading', { level: 1, name: 'Board' }).waitFor();
      await page.locator('.conn[data-state="connected"]').waitFor();
    });

    await step("the header shows the admin's name and role, and the API tokens link", async () => {
      const who = page.getByTestId('whoami');
      const text = await who.textContent();
      assert(text.includes(ADMIN.name) && text.includes('Admin'), `header says ${JSON.stringify(text)}`);
      await who.getByRole('button', { name: 'Log out' }).waitFor();
      await nav(page, 'API tokens').waitFor();
    });

    await step('keyboard: skip link first, visible focus ring, nav reachable by Tab', async () => {
      await page.keyboard.press('Tab');
      const first = await page.evaluate(() => {
        const el = document.activeElement;
        const cs = getComputedStyle(el);
        return { text: el.textContent, outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
      });
      assert(first.text === 'Skip to content', `first Tab stop was ${JSON.stringify(first.text)}`);
      assert(first.outline !== 'none' && first.width >= 2, `no visible focus ring: ${JSON.stringify(first)}`);
      const stops = [];
      for (let n = 0; n < 6; n++) {
        await page.keyboard.press('Tab');
        stops.push(await page.evaluate(() => document.activeElement.textContent.trim()));
      }
      for (const name of ['Board', 'Incidents', 'Schedules', 'Services', 'Users']) {
        assert(stops.includes(name), `Tab never reached ${name}: ${JSON.stringify(stops)}`);
      }
    });

    await step('create two users through the UI (client and server validation shown by the field)', async () => {
      await nav(page, 'Users').click();
      await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
      // A bad email is refused before anything is sent.
      await page.getByLabel('Name').fill('Ada Oncall');
      await page.getByLabel('Email').fill('ada-at-example');
      await page.getByRole('button', { name: 'Create user' }).click();
      await page.getByText('does not look like an email address').waitFor();
      // The server's own validation (names up to 200 characters) lands under the field.
      await page.getByLabel('Name').fill('x'.repeat(201));
      await page.getByLabel('Email').fill('ada@example.com');
      await page.getByRole('button', { name: 'Create user' }).click();
      await page.locator('#cu-name-error', { hasText: 'at most 200 characters' }).waitFor();
      assert((await page.getByLabel('Name').getAttribute('aria-invalid')) === 'true', 'Name not marked invalid');
      await page.getByLabel('Name').fill('Ada Oncall');
      await page.getByLabel('Phone (optional)').fill('+1 555 0101');
      await page.getByRole('button', { name: 'Create user' }).click();
      await page.getByText('Added Ada Oncall.').waitFor();
      await page.getByLabel('Name').fill('Ben Backup');
      await page.getByLabel('Email').fill('ben@example.com');
      await page.getByRole('button', { name: 'Create user' }).click();
      await page.getByText('Added Ben Backup.').waitFor();
      await page.getByRole('cell', { name: 'Ben Backup', exact: true }).waitFor();
    });

    await step('create a service through the UI', async () => {
      await nav(page, 'Services').click();
      await page.getByLabel('Name').fill('Checkout API');
      await page.getByLabel('Description (optional)').fill('Takes the money');
      await page.getByRole('button', { name: 'Create service' }).click();
      await page.getByText('Created service Checkout API.').waitFor();
    });

    let scheduleId;
    await step('create a schedule with a rotation entry and an escalation level through the UI', async () => {
      await nav(page, 'Schedules').click();
      await page.getByRole('button', { name: 'Create schedule' }).click();
      const form = page.locator('form[aria-labelledby="sf-h"]');
      await form.waitFor();
      await form.getByLabel('Schedule name').fill('Checkout on call');
      await form.getByLabel('Service').selectOption({ label: 'Checkout API' });
      await form.getByLabel('On call (entry 1)').selectOption({ label: 'Ada Oncall' });
      const now = Date.now();
      await form.getByLabel('Start (entry 1)').fill(localInput(new Date(now - 3_600_000)));
      await form.getByLabel('End (entry 1)').fill(localInput(new Date(now + 7 * 86_400_000)));
      await form.getByLabel('Escalate after (minutes, level 0)').fill('30');
      await form.getByRole('button', { name: 'Add escalation level' }).click();
      await form.getByLabel('Level 1 pages').selectOption({ label: 'Ben Backup' });
      await form.getByLabel('Level 1 escalates after (minutes)').fill('30');
      await form.locator('button[type="submit"]').click();
      await page.getByRole('heading', { level: 1, name: 'Checkout on call' }).waitFor();
      await page.getByTestId('on-call-now').getByText('Ada Oncall').waitFor();
      scheduleId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
      return `schedule ${scheduleId}`;
    });

    await step('add a rotation layer on the schedule page; the timeline shows its participant on call', async () => {
      const form = page.locator('form[aria-labelledby="ar-h"]');
      // Client-side validation first: no participants yet.
      await form.getByLabel('Rotation name').fill('Follow the sun');
      await form.getByRole('button', { name: 'Add rotation' }).click();
      await form.getByText('Add at least one participant.').waitFor();
      await form.getByLabel('Time zone').fill('UTC');
      await form.getByLabel('Participant to add').selectOption({ label: 'Ben Backup' });
      await form.getByRole('button', { name: 'Add participant' }).click();
      await form.getByLabel('Shift length').fill('1');
      await form.getByLabel('Unit').selectOption('DAY');
      // First handoff: the form's default (tomorrow 09:00 in the zone) keeps Ada on call now.
      await form.getByRole('button', { name: 'Add rotation' }).click();
      await form.getByText('Added rotation Follow the sun.').waitFor();
      const layers = page.getByTestId('rotations');
      await layers.getByText('every 1 day at 09:00 UTC').waitFor();
      await layers.getByText('Takes turns: Ben Backup').waitFor();
      await page.getByTestId('timeline').getByTestId('shift').filter({ hasText: 'Ben Backup' }).first().waitFor();
      await page.getByRole('cell', { name: 'rotation Follow the sun' }).first().waitFor();
      await page.getByTestId('on-call-now').getByText('Ada Oncall').waitFor();
      // The feed's secret address works with no other credential (calendar apps send none).
      const feed = await page.getByTestId('calendar-url').inputValue();
      assert(feed.startsWith(`${base}/`), `calendar URL ${feed} is not on ${base}`);
      const ics = await fetch(feed);
      const body = await ics.text();
      assert(ics.ok && body.includes('BEGIN:VCALENDAR') && body.includes('Ben Backup'), `calendar feed: ${ics.status} ${body.slice(0, 200)}`);
      const href = await page.getByRole('link', { name: 'Subscribe in your calendar' }).getAttribute('href');
      assert(href === feed, `calendar link ${href}, feed ${feed}`);
      await page.getByRole('button', { name: 'Rotate calendar link' }).waitFor();
      await page.screenshot({ path: path.join(artifacts, 'schedule.png'), fullPage: true });
      return 'e2e/artifacts/schedule.png';
    });

    const main = 'Checkout API returning 502s';
    let mainId;
    await step(`an incident triggered through the API appears on the board without a reload, within ${LIMIT_MS} ms`, async () => {
      await nav(page, 'Board').click();
      await page.getByRole('heading', { level: 1, name: 'Board' }).waitFor();
      await page.getByText('No open incidents. All quiet.').waitFor();
      await page.locator('.conn[data-state="connected"]').waitFor();
      await page.evaluate(() => (window.__sameDocument = true));
      await armWatcher(page, 'main', main, 'present');
      const t0 = Date.now();
      const data = await gql(base, TRIGGER, {
        input: { title: main, description: 'Payment provider times out', scheduleId, severity: 'HIGH' },
      });
      const tResponse = Date.now();
      mainId = data.triggerIncident.id;
      const seenAt = await awaitWatcher(page, 'main', 5000);
      assert(seenAt, 'the incident never appeared on the board');
      assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
      const latency = seenAt - t0;
      latencies.push(latency);
      assert(latency <= LIMIT_MS, `took ${latency} ms (limit ${LIMIT_MS} ms)`);
      return `mutation → board ${latency} ms (mutation round trip ${tResponse - t0} ms)`;
    });

    await step('more incidents arrive live, most severe and newest first', async () => {
      const more = [
        ['Checkout latency p99 over 2 s', 'MEDIUM'],
        ['Refund queue backing up', 'LOW'],
        ['3-D Secure callbacks failing', 'HIGH'],
        ['Stale exchange rates', 'MEDIUM'],
      ];
      for (const [title, severity] of more) {
        await armWatcher(page, title, title, 'present');
        const t0 = Date.now();
        await gql(base, TRIGGER, { input: { title, scheduleId, severity } });
        const seenAt = await awaitWatcher(page, title, 5000);
        assert(seenAt, `"${title}" never appeared`);
        latencies.push(seenAt - t0);
      }
      const order = await page.locator('[data-testid="open-incidents"] article h3').allTextContents();
      const expected = [
        '3-D Secure callbacks failing',
        main,
        'Stale exchange rates',
        'Checkout latency p99 over 2 s',
        'Refund queue backing up',
      ];
      assert(JSON.stringify(order) === JSON.stringify(expected), `board order was ${JSON.stringify(order)}`);
      assert((await page.getByTestId('count-TRIGGERED').textContent()) === '5', 'triggered count is not 5');
      assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
      return `latencies ${latencies.slice(1).join(', ')} ms`;
    });

    const card = page.getByRole('article', { name: main });
    await step('Acknowledge on the board changes the state', async () => {
      await armWatcher(page, 'ack', main, 'ACKNOWLEDGED');
      const t0 = Date.now();
      await card.getByRole('button', { name: 'Acknowledge' }).click();
      const seenAt = await awaitWatcher(page, 'ack', 5000);
      assert(seenAt, 'the card never showed ACKNOWLEDGED');
      await card.locator('.badge', { hasText: 'Acknowledged' }).waitFor();
      assert(await card.getByRole('button', { name: 'Acknowledge' }).isDisabled(), 'Acknowledge is still enabled');
      // The card's buttons stay disabled until the mutation's own answer arrives, which on
      // a loaded machine can come after the subscription event that showed the badge.
      assert(await eventually(() => card.getByRole('button', { name: 'Resolve' }).isEnabled(), 5000), 'Resolve is not enabled');
      assert((await page.getByTestId('count-ACKNOWLEDGED').textContent()) === '1', 'acknowledged count is not 1');
      return `click → board ${seenAt - t0} ms`;
    });

    await step('screenshots of the board (light, dark, phone)', async () => {
      await page.mouse.move(0, 0);
      await page.screenshot({ path: path.join(artifacts, 'board.png'), fullPage: true });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(artifacts, 'board-dark.png'), fullPage: true });
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(artifacts, 'board-phone.png'), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });
      return 'e2e/artifacts/board.png';
    });

    await step('Resolve on the board takes it off the board', async () => {
      await armWatcher(page, 'res', main, 'absent');
      const t0 = Date.now();
      await card.getByRole('button', { name: 'Resolve' }).click();
      const seenAt = await awaitWatcher(page, 'res', 5000);
      assert(seenAt, 'the resolved incident stayed on the board');
      await page.waitForFunction(() => document.querySelector('[data-testid="count-RESOLVED"]')?.textContent === '1');
      return `click → board ${seenAt - t0} ms`;
    });

    await step('the incident page shows the whole timeline and no legal moves', async () => {
      await page.goto(`${base}/incidents/${encodeURIComponent(mainId)}`);
      await page.getByRole('heading', { level: 1, name: main }).waitFor();
      const tl = page.getByRole('region', { name: 'Timeline' });
      // The server's timeline: each entry's kind, actor and message. Who did it: the board's
      // clicks were the logged-in admin's.
      await entryOf(tl, 'TRIGGERED').first().waitFor();
      await entryOf(tl, 'NOTIFIED', 'Ada Oncall').first().waitFor();
      await entryOf(tl, 'ACKNOWLEDGED', ADMIN.name).first().waitFor();
      await entryOf(tl, 'RESOLVED', ADMIN.name).first().waitFor();
      assert((await page.getByRole('button', { name: 'Snooze…' }).count()) === 0, 'Snooze is offered on a resolved incident');
      for (const name of ['Acknowledge', 'Resolve', 'Escalate']) {
        assert(await page.getByRole('button', { name, exact: true }).isDisabled(), `${name} is enabled on a resolved incident`);
      }
      await page.screenshot({ path: path.join(artifacts, 'incident.png'), fullPage: true });
    });

    await step('Escalate on an incident page pages the next level', async () => {
      const other = '3-D Secure callbacks failing';
      await nav(page, 'Incidents').click();
      await page.getByLabel('Search').fill('3-D Secure');
      await page.getByRole('link', { name: other }).click();
      await page.getByRole('heading', { level: 1, name: other }).waitFor();
      await page.getByRole('button', { name: 'Escalate', exact: true }).click();
      const tl = page.getByRole('region', { name: 'Timeline' });
      await entryOf(tl, 'ESCALATED', ADMIN.name).first().waitFor();
      await entryOf(tl, 'NOTIFIED', 'Ben Backup').first().waitFor();
      await page.getByText('Level 1 of 1').waitFor();
      assert(await page.getByRole('button', { name: 'Escalate', exact: true }).isDisabled(), 'Escalate still enabled at the last level');
    });

    await step('on an open incident: a note shows in the timeline, and Snooze 15 minutes shows "Snoozed until"', async () => {
      // Still on "3-D Secure callbacks failing" (triggered, at level 1).
      const tl = page.getByRole('region', { name: 'Timeline' });
      const text = `Checked the 3-D Secure provider status page at ${new Date().toISOString()}`;
      await page.getByLabel('Add a note').fill(text);
      await page.getByRole('button', { name: 'Add note' }).click();
      await entryOf(tl, 'NOTE', text).first().waitFor();
      assert((await page.getByLabel('Add a note').inputValue()) === '', 'the note box was not cleared');
      await page.getByRole('button', { name: 'Snooze…' }).click();
      const t0 = Date.now();
      await page.getByRole('button', { name: '15 minutes', exact: true }).click();
      await page.getByText('Snoozed until').first().waitFor();
      await entryOf(tl, 'SNOOZED').first().waitFor();
      await page.locator('.badge', { hasText: 'Acknowledged' }).first().waitFor();
      return `snoozed in ${Date.now() - t0} ms`;
    });

    await step('the Analytics page draws its charts', async () => {
      await nav(page, 'Analytics').click();
      await page.getByRole('heading', { level: 1, name: 'Analytics' }).waitFor();
      await page.getByTestId('stat-incidents').waitFor();
      const incidents = Number((await page.getByTestId('stat-incidents').locator('.stat-value').textContent()) ?? 0);
      assert(incidents >= 5, `analytics counts ${incidents} incidents (at least 5 were triggered)`);
      // Chart.js draws into a canvas inside each chart container (animation off: drawn at once).
      await page.waitForFunction(() => {
        const c = document.querySelector('[data-testid="chart-daily"] canvas, [data-testid="chart-daily"] svg');
        return !!c && c.getBoundingClientRect().width > 0 && c.getBoundingClientRect().height > 0;
      });
      await page.locator('[data-testid="chart-pages"] canvas').waitFor();
      const csv = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
      assert(csv?.startsWith('/analytics/incidents.csv?from='), `CSV link is ${csv}`);
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(artifacts, 'analytics.png'), fullPage: true });
      return `${incidents} incidents; e2e/artifacts/analytics.png`;
    });

    let integrationKey;
    await step('an admin adds an EVENTS_API_V2 integration on the schedule page; its key, URL and snippets show', async () => {
      await page.goto(`${base}/schedules/${encodeURIComponent(scheduleId)}`);
      await page.getByRole('heading', { level: 1, name: 'Checkout on call' }).waitFor();
      const section = page.getByRole('region', { name: 'Integrations' });
      await section.getByText('No integrations yet.').waitFor();
      const form = page.getByRole('form', { name: 'Add integration' });
      await form.getByLabel('Integration name').fill('Prometheus');
      await form.getByLabel('Monitor').selectOption('EVENTS_API_V2');
      await form.getByRole('button', { name: 'Add integration' }).click();
      await form.getByText('Created integration Prometheus').waitFor();
      const item = section.locator('li[data-kind="EVENTS_API_V2"]').filter({ hasText: 'Prometheus' });
      await item.waitFor();
      integrationKey = await item.getByTestId('integration-key').inputValue();
      assert(/^\S{32}$/.test(integrationKey), `the key shown is ${JSON.stringify(integrationKey)}`);
      const url = await item.getByLabel('URL', { exact: true }).inputValue();
      assert(url === `${base}/v2/enqueue`, `the integration URL is ${url}`);
      assert((await item.getByTestId('last-event').textContent()) === 'never', 'a new integration has a last event');
      await item.getByText('Set up PagerDuty Events API v2').click();
      const yaml = await item.locator('pre').first().textContent();
      assert(yaml.includes(`routing_key: "${integrationKey}"`) && yaml.includes(`url: "${base}/v2/enqueue"`), `snippet: ${yaml}`);
      await item.getByRole('button', { name: 'Rotate key of Prometheus' }).waitFor();
    });

    const pdTitle = 'Disk full on db-1 (from Alertmanager via PagerDuty)';
    let pdIncidentId;
    await step('a PagerDuty event posted to /v2/enqueue with the key reaches the board live; its page shows the alert', async () => {
      await nav(page, 'Board').click();
      await page.getByRole('heading', { level: 1, name: 'Board' }).waitFor();
      await page.locator('.conn[data-state="connected"]').waitFor();
      await armWatcher(page, 'pd', pdTitle, 'present');
      const t0 = Date.now();
      const res = await fetch(`${base}/v2/enqueue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          routing_key: integrationKey,
          event_action: 'trigger',
          dedup_key: 'disk-db-1',
          payload: {
            summary: pdTitle,
            source: 'db-1.internal',
            severity: 'critical',
            component: 'postgres',
            custom_details: { mount: '/var/lib/postgresql', free: '2%' },
          },
          links: [
            { href: 'https://grafana.example.com/d/disk', text: 'Disk dashboard' },
            { href: 'javascript:alert(1)', text: 'Sneaky link' },
          ],
        }),
      });
      const body = await res.json();
      assert(res.status === 202 && body.status === 'success', `/v2/enqueue answered ${res.status} ${JSON.stringify(body)}`);
      const seenAt = await awaitWatcher(page, 'pd', 5000);
      assert(seenAt, 'the incident from the PagerDuty event never appeared on the board');
      const card = page.getByRole('article', { name: pdTitle });
      await card.getByRole('link', { name: pdTitle }).click();
      await page.getByRole('heading', { level: 1, name: pdTitle }).waitFor();
      pdIncidentId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
      const alerts = page.getByRole('region', { name: /^Alerts/ });
      const alertCard = alerts.getByRole('article', { name: pdTitle });
      await alertCard.waitFor();
      const text = await alertCard.textContent();
      for (const want of ['Firing', 'critical', 'db-1.internal', '/var/lib/postgresql', 'Received']) {
        assert(text.includes(want), `the alert card lacks ${JSON.stringify(want)}: ${text.slice(0, 400)}`);
      }
      const dash = alertCard.getByRole('link', { name: 'Disk dashboard' });
      assert((await dash.getAttribute('href')) === 'https://grafana.example.com/d/disk', 'dashboard link href');
      assert((await dash.getAttribute('rel')) === 'noreferrer noopener', 'dashboard link rel');
      assert((await alertCard.getByRole('link', { name: 'Sneaky link' }).count()) === 0, 'a javascript: link was rendered as a link');
      assert((await page.locator('a[href^="javascript"]').count()) === 0, 'a javascript: href is on the page');
      await page.screenshot({ path: path.join(artifacts, 'incident-alerts.png'), fullPage: true });
      return `event → board ${seenAt - t0} ms; e2e/artifacts/incident-alerts.png`;
    });

    await step('a heartbeat created on the schedule page shows INACTIVE with its check-in URL', async () => {
      await page.goto(`${base}/schedules/${encodeURIComponent(scheduleId)}`);
      await page.getByRole('heading', { level: 1, name: 'Checkout on call' }).waitFor();
      const form = page.getByRole('form', { name: 'Add heartbeat' });
      await form.getByLabel('Heartbeat name').fill('Nightly backup');
      // Out of range is refused before sending.
      await form.getByLabel('Page when silent for').fill('31');
      await form.getByLabel('Unit').selectOption('d');
      await form.getByRole('button', { name: 'Add heartbeat' }).click();
      await form.getByText('Choose between 1 second and 30 days.').waitFor();
      await form.getByLabel('Page when silent for').fill('10');
      await form.getByLabel('Unit').selectOption('min');
      await form.getByRole('button', { name: 'Add heartbeat' }).click();
      await form.getByText('Created heartbeat Nightly backup').waitFor();
      const item = page.getByRole('region', { name: 'Heartbeats' }).locator('li[data-heartbeat-id]').filter({ hasText: 'Nightly backup' });
      await item.waitFor();
      assert((await item.getAttribute('data-state')) === 'INACTIVE', 'the new heartbeat is not INACTIVE');
      await item.locator('.badge', { hasText: 'Inactive' }).waitFor();
      const text = await item.textContent();
      assert(text.includes('10 min') && text.includes('never'), `heartbeat row: ${text}`);
      const url = await item.getByLabel('Check-in URL', { exact: true }).inputValue();
      assert(/\/heartbeats\/\S+$/.test(url), `check-in URL ${url}`);
      await item.locator('summary', { hasText: 'Cron example' }).click();
      const cron = await item.locator('pre').textContent();
      assert(cron.includes(`curl -fsS -X POST ${url}`), `cron example: ${cron}`);
      await page.screenshot({ path: path.join(artifacts, 'schedule-monitoring.png'), fullPage: true });
      return 'e2e/artifacts/schedule-monitoring.png';
    });

    await step('Start maintenance (1 h) shows the badge on the services list and the board; End removes it', async () => {
      await nav(page, 'Services').click();
      await page.getByRole('heading', { level: 1, name: 'Services' }).waitFor();
      const row = page.locator('li.row').filter({ hasText: 'Checkout API' });
      assert((await row.getByTestId('maintenance-badge').count()) === 0, 'a badge before maintenance started');
      await row.getByRole('button', { name: 'Start maintenance of Checkout API' }).click();
      await row.getByRole('button', { name: '1 h', exact: true }).click();
      await row.getByTestId('maintenance-badge').waitFor();
      assert((await row.getByTestId('maintenance-badge').textContent()).startsWith('In maintenance until'), 'badge text');
      await nav(page, 'Board').click();
      await page.getByRole('heading', { level: 1, name: 'Board' }).waitFor();
      const oncall = page.getByRole('region', { name: 'On call now' }).locator('.oncall').filter({ hasText: 'Checkout on call' });
      await oncall.getByTestId('maintenance-badge').waitFor();
      await page.getByRole('article', { name: pdTitle }).getByTestId('maintenance-badge').waitFor();
      await nav(page, 'Services').click();
      await row.getByRole('button', { name: 'End maintenance of Checkout API' }).click();
      await row.getByRole('button', { name: 'Start maintenance of Checkout API' }).waitFor();
      assert((await row.getByTestId('maintenance-badge').count()) === 0, 'the badge stayed after End maintenance');
      await nav(page, 'Board').click();
      await page.getByRole('article', { name: pdTitle }).waitFor();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="maintenance-badge"]').length === 0);
      return pdIncidentId ? `incident ${pdIncidentId}` : undefined;
    });

    await step('on the Account page the admin adds an EMAIL contact method and a rule "at once"; both are listed', async () => {
      await page.getByTestId('whoami').getByRole('link').click();
      await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
      const section = page.getByRole('region', { name: 'Notifications', exact: true });
      await section.getByText('No contact methods yet.').waitFor();
      const form = section.getByRole('form', { name: 'Add contact method' });
      await form.getByLabel('Kind').selectOption('EMAIL');
      await form.getByLabel('Name', { exact: true }).fill('Work');
      await form.getByLabel('Email address', { exact: true }).fill('morgan@work.example');
      await form.getByRole('button', { name: 'Add contact method' }).click();
      await form.getByText('Added email “Work”.').waitFor();
      const method = section.getByTestId('contact-methods').locator('li[data-kind="EMAIL"]').filter({ hasText: 'Work' });
      await method.getByText('morgan@work.example').waitFor();
      await method.getByRole('button', { name: 'Send test to Email Work' }).waitFor();
      const ruleForm = section.getByRole('form', { name: 'Add rule' });
      await ruleForm.getByLabel('Contact method').selectOption({ label: 'Email “Work”' });
      await ruleForm.getByLabel('Delay (minutes)').fill('0');
      await ruleForm.getByRole('button', { name: 'Add rule' }).click();
      await ruleForm.getByText('Added: Email “Work” at once.').waitFor();
      await section.getByTestId('notification-rules').getByText('Email “Work” at once', { exact: true }).waitFor();
    });

    await step('the admin creates a webhook to http://127.0.0.1:9/hook, sees its secret once, and sees it listed', async () => {
      await nav(page, 'Webhooks').click();
      await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      const list = page.getByRole('region', { name: 'Webhooks', exact: true });
      await list.getByText('No webhooks yet.').waitFor();
      const form = page.getByRole('form', { name: 'Create webhook' });
      await form.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:9/hook');
      await form.getByLabel('Service (optional)').selectOption({ label: 'Checkout API' });
      for (const name of ['Triggered', 'Acknowledged', 'Resolved', 'Escalated']) {
        assert(await form.getByRole('checkbox', { name, exact: true }).isChecked(), `${name} is not ticked by default`);
      }
      await form.getByRole('button', { name: 'Create webhook' }).click();
      const shown = page.getByTestId('new-webhook-secret');
      await shown.waitFor();
      const secret = await shown.getByLabel('Signing secret of the new webhook').inputValue();
      assert(secret.length >= 16, `the secret shown is ${JSON.stringify(secret)}`);
      assert((await shown.textContent()).includes('will not be shown again'), 'no "shown once" note by the secret');
      await shown.getByRole('button', { name: 'Copy secret' }).waitFor();
      const item = list.locator('li[data-webhook-id]').filter({ hasText: 'http://127.0.0.1:9/hook' });
      await item.waitFor();
      const text = await item.textContent();
      assert(text.includes('Checkout API') && text.includes('Triggered, Acknowledged, Resolved, Escalated'), `webhook row: ${text}`);
      await page.screenshot({ path: path.join(artifacts, 'webhooks.png'), fullPage: true });
      await shown.getByRole('button', { name: 'Done, I have copied it' }).click();
      await shown.waitFor({ state: 'detached' });
      const still = await page.locator('input').evaluateAll((els, s) => els.some((e) => e.value === s), secret);
      assert(!still && !(await page.content()).includes(secret), 'the secret is still on the page after Done');
      return 'e2e/artifacts/webhooks.png';
    });

    let missedId;
    const missed = 'Ledger writes failing (while the board was offline)';
    await step('after the server restarts empty, the board asks to log in again, then shows what it missed', async () => {
      const boardQueries = [];
      page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith('/graphql') && r.postData()?.includes('query Board')) boardQueries.push(Date.now());
      });
      await nav(page, 'Board').click();
      await page.locator('.conn[data-state="connected"]').waitFor();
      const listen = new URL(server.base).host;
      await stopServer(server);
      await page.locator('.conn[data-state="reconnecting"]').waitFor();
      const down = Date.now();
      server = await startServer(bin, listen);
      // A fresh in-memory server: it knows neither the browser's session nor anyone. Set up
      // the same people, a schedule and an incident through the API at once, racing the
      // client's reconnect.
      await seedPeople(server.base);
      const u = await gql(server.base, `mutation { createUser(input: { name: "Cy Later", email: "cy@example.com" }) { id } }`);
      const sv = await gql(server.base, `mutation { createService(input: { name: "Ledger" }) { id } }`);
      const sc = await gql(
        server.base,
        `mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { id } }`,
        {
          input: {
            name: 'Ledger on call',
            serviceId: sv.createService.id,
            rotation: [
              {
                userId: u.createUser.id,
                startTime: new Date(Date.now() - 3_600_000).toISOString(),
                endTime: new Date(Date.now() + 86_400_000).toISOString(),
              },
            ],
          },
        },
      );
      const t = await gql(server.base, TRIGGER, { input: { title: missed, scheduleId: sc.createSchedule.id, severity: 'HIGH' } });
      missedId = t.triggerIncident.id;
      // The old session cookie is unknown here: the socket is closed with 4403 (or a query
      // answers 401) and the login page takes the board's place.
      await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor({ timeout: 40_000 });
      await logIn(page, ADMIN);
      await page.locator('.conn[data-state="connected"]').waitFor({ timeout: 20_000 });
      const back = Date.now();
      await page.getByRole('heading', { level: 1, name: 'Board' }).waitFor();
      await page.getByRole('article', { name: missed }).waitFor({ timeout: 10_000 });
      assert(boardQueries.some((t) => t >= down), 'no Board query was sent after reconnecting');
      // The old server's incidents are gone from the new one; the refetch removed them.
      await page.waitForFunction(
        () => document.querySelectorAll('[data-testid="open-incidents"] article').length === 1,
      );
      return `back on the board ${back - down} ms after the restart began`;
    });

    await step('log out, log in as the VIEWER: no Acknowledge on the incident page or the board', async () => {
      await page.getByTestId('whoami').getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL((u) => u.pathname === '/login');
      await logIn(page, VIEWER);
      const who = await page.getByTestId('whoami').textContent();
      assert(who.includes('Viewer'), `header says ${JSON.stringify(who)}`);
      await page.goto(`${base}/incidents/${encodeURIComponent(missedId)}`);
      await page.getByRole('heading', { level: 1, name: missed }).waitFor();
      await page.getByRole('region', { name: 'Timeline' }).getByText('Triggered', { exact: true }).waitFor();
      for (const name of ['Acknowledge', 'Resolve', 'Escalate', 'Snooze…', 'Add note', 'Reassign']) {
        assert((await page.getByRole('button', { name, exact: true }).count()) === 0, `a VIEWER sees ${name} on the incident page`);
      }
      assert((await page.getByLabel('Add a note').count()) === 0, 'a VIEWER sees the note box');
      await nav(page, 'Board').click();
      await page.getByRole('article', { name: missed }).waitFor();
      assert((await page.getByRole('button', { name: 'Acknowledge' }).count()) === 0, 'a VIEWER sees Acknowledge on the board');
      assert((await nav(page, 'API tokens').count()) === 0, 'a VIEWER sees the API tokens link');
      assert((await nav(page, 'Webhooks').count()) === 0, 'a VIEWER sees the Webhooks link');
      await nav(page, 'Users').click();
      await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
      assert((await page.getByRole('button', { name: 'Create user' }).count()) === 0, 'a VIEWER sees the create-user form');
      await nav(page, 'Services').click();
      await page.getByRole('heading', { level: 1, name: 'Services' }).waitFor();
      await page.locator('li.row').filter({ hasText: 'Ledger' }).waitFor();
      assert((await page.getByRole('button', { name: /maintenance/i }).count()) === 0, 'a VIEWER sees Start maintenance');
    });

    await step('GET /graphql renders GraphiQL with no request leaving 127.0.0.1, and runs a query on the session', async () => {
      const outside = [];
      const csp = [];
      await page.route('**', (route) => {
        const u = new URL(route.request().url());
        if (u.protocol === 'data:' || u.protocol === 'blob:' || u.hostname === '127.0.0.1' || u.hostname === 'localhost') {
          return route.continue();
        }
        outside.push(u.href);
        return route.abort('blockedbyclient');
      });
      const onConsole = (m) => {
        if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
      };
      page.on('console', onConsole);
      try {
        await page.goto(`${base}/graphql`);
        await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });
        await page.locator('.graphiql-execute-button').waitFor();
        // The editor fills in its default query after it mounts; a click before that runs nothing.
        await page.waitForFunction(
          () => (document.querySelector('.graphiql-query-editor')?.textContent ?? '').includes('access'),
          null,
          { timeout: 10_000 },
        );
        // The default query reads `access`; with nothing typed, the session cookie answers it.
        // A click while GraphiQL is still fetching the schema can be swallowed: click again
        // (three times at most) until the result shows, and say what it showed if it never does.
        let shown = '';
        for (let attempt = 0; attempt < 3 && !shown.includes('VIEWER'); attempt += 1) {
          await page.locator('.graphiql-execute-button').click();
          await page
            .waitForFunction(
              () => (document.querySelector('.result-window')?.textContent ?? '').includes('VIEWER'),
              null,
              { timeout: 5_000 },
            )
            .catch(() => {});
          shown = (await page.locator('.result-window').textContent().catch(() => '')) ?? '';
        }
        assert(shown.includes('VIEWER'), `the result window shows ${JSON.stringify(shown.slice(0, 400))}`);
      } finally {
        page.off('console', onConsole);
        await page.unroute('**');
      }
      assert(outside.length === 0, `requests left 127.0.0.1: ${outside.join(', ')}`);
      const fatal = csp.filter((t) => /script-src|connect-src/.test(t));
      assert(fatal.length === 0, `CSP blocked scripts or connections:\n${fatal.join('\n')}`);
      await page.screenshot({ path: path.join(artifacts, 'graphiql.png') });
      return csp.length ? `note: ${csp.length} other CSP reports (${csp[0].slice(0, 120)}…)` : 'e2e/artifacts/graphiql.png';
    });

    assert(pageErrors.length === 0, `uncaught errors in the page:\n${pageErrors.join('\n')}`);
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `mutation → board latency over ${sorted.length} incidents: first ${latencies[0]} ms, median ${
        sorted[Math.floor(sorted.length / 2)]
      } ms, max ${sorted[sorted.length - 1]} ms`,
    );
  } finally {
    await context?.close().catch(() => {});
    await stopServer(server);
    rmSync(profile, { recursive: true, force: true });
    if (results.failed) console.log(server.stderr().split('\n').slice(-30).join('\n'));
  }
}

const watchdog = setTimeout(() => {
  console.log('e2e: timed out after 300 s');
  process.exit(1);
}, 300_000);

main()
  .then(() => {
    clearTimeout(watchdog);
    console.log(`e2e: ${results.passed} passed, ${results.failed} failed`);
    process.exit(results.failed ? 1 : 0);
  })
  .catch((e) => {
    clearTimeout(watchdog);
    if (!results.failed) console.log(String(e.stack || e));
    console.log(`e2e: ${results.passed} passed, ${Math.max(1, results.failed)} failed`);
    process.exit(1);
  });
