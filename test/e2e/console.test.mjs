// `npm run test:e2e`: the agent console in a real browser (Debian's Chromium driven by
// playwright-core) against the Worker under `wrangler dev` with local D1, Durable Objects, Queues:
// one contact's page, and the inbox view (one socket for many contacts, unread badges).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { ADMIN_TOKEN, startServer } from './server.mjs';

const root = path.resolve(import.meta.dirname, '../..');
let server;
let browser;
let key;
const contact = randomUUID();

async function api(method, route, body, auth = key) {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${route} → ${res.status} ${text}`);
  return JSON.parse(text);
}

const append = (title, visibleToClient) =>
  api('POST', `/api/v1/contacts/${contact}/events`, {
    event_type: 'note_added',
    category: 'note',
    priority: visibleToClient ? 'normal' : 'high',
    source: 'agent',
    title,
    description: `${title} — appended by the e2e test`,
    visible_to_client: visibleToClient,
    visible_to_agent: true,
  });

/** Opens the console for a token; every WebSocket it opens is routed through `sockets` so the test can cut it. */
async function openConsole(token) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const sockets = { all: [], hold: false, held: [] };
  await page.routeWebSocket(/\/stream\?/, (ws) => {
    sockets.all.push(ws);
    if (sockets.hold) sockets.held.push(ws);
    else ws.connectToServer();
  });
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}/console/#base=${encodeURIComponent(server.url)}&token=${encodeURIComponent(token)}&backoff_max_ms=300`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });
  return { page, sockets };
}

const titles = (page) => page.locator('#timeline .entry .title').allTextContents();

// The inbox view (an inbox token): one socket, many contacts, unread badges.
const appendTo = (contact, title) =>
  api('POST', `/api/v1/contacts/${contact}/events`, { event_type: 'note_added', category: 'note', source: 'agent', title, description: `${title} — appended by the e2e test` });

const contactItem = (page, contact) => page.locator(`#inbox-contacts li[data-contact-id="${contact}"]`);
/** Waits until the contact's badge says `n` (0: no badge shown). */
const badge = (page, contact, n) =>
  page.waitForSelector(`#inbox-contacts li[data-contact-id="${contact}"][data-unread="${n}"] .unread-badge${n ? `:text-is("${n}")` : '[hidden]'}`, { state: n ? 'visible' : 'attached', timeout: 5000 });

before(async () => {
  mkdirSync(path.join(root, 'test-results'), { recursive: true });
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const created = await api('POST', '/api/v1/admin/tenants', { name: 'e2e' }, ADMIN_TOKEN);
  key = created.api_key.key;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('agent and client consoles on one contact', async () => {
  await append('History before anyone connected', true);
  const agentToken = (await api('POST', '/api/v1/realtime/tokens', { contact_id: contact, role: 'agent', agent_id: randomUUID(), name: 'Ada Agent' })).token;
  const clientToken = (await api('POST', '/api/v1/realtime/tokens', { contact_id: contact, role: 'client' })).token;
  const agent = await openConsole(agentToken);
  const client = await openConsole(clientToken);

  // History arrived through the socket's catch-up.
  assert.deepEqual(await titles(agent.page), ['History before anyone connected']);
  assert.deepEqual(await titles(client.page), ['History before anyone connected']);
  await agent.page.waitForSelector('#presence:has-text("Ada Agent")');

  // An agent-only entry, then one for everybody: the hub delivers in order, so once the client page
  // shows the second, the first would have been there already if it were to come at all.
  await append('Agents only: pipeline moved', false);
  const started = Date.now();
  await append('For everyone: payment reminder', true);
  await Promise.all([
    agent.page.waitForSelector('.entry .title:text-is("For everyone: payment reminder")', { timeout: 1000 }),
    client.page.waitForSelector('.entry .title:text-is("For everyone: payment reminder")', { timeout: 1000 }),
  ]);
  const latencyMs = Date.now() - started;
  assert.ok(latencyMs < 1000, `client-visible entry took ${latencyMs} ms`);
  assert.deepEqual(await titles(agent.page), ['For everyone: payment reminder', 'Agents only: pipeline moved', 'History before anyone connected']);
  assert.deepEqual(await titles(client.page), ['For everyone: payment reminder', 'History before anyone connected']);

  // Mark read on the agent page: the receipt comes back through the hub and the entry shows as read.
  const entry = agent.page.locator('.entry', { hasText: 'For everyone: payment reminder' });
  await entry.getByRole('button', { name: /Mark .* read/ }).click();
  await agent.page.waitForSelector('.entry[data-read="true"] .title:text-is("For everyone: payment reminder")', { timeout: 2000 });
  assert.match(await entry.locator('.read-at').textContent(), /^Read /);

  // Kill the agent's socket and hold its reconnection while entries are appended meanwhile.
  agent.sockets.hold = true;
  await agent.sockets.all.at(-1).close({ code: 1006, reason: 'e2e: network cut' });
  await agent.page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 2000 });
  await agent.page.screenshot({ path: path.join(root, 'test-results', 'console-reconnecting.png') });
  const meanwhile = [];
  for (let i = 1; i <= 5; i++) meanwhile.push((await append(`Appended while disconnected ${i}`, i % 2 === 0)).title);
  await agent.page.waitForFunction(() => document.querySelector('#state')?.dataset.state === 'reconnecting');
  while (agent.sockets.held.length === 0) await new Promise((r) => setTimeout(r, 20));
  agent.sockets.hold = false;
  for (const ws of agent.sockets.held.splice(0)) ws.connectToServer();

  await agent.page.waitForSelector('.entry .title:text-is("Appended while disconnected 5")', { timeout: 5000 });
  await agent.page.waitForSelector('#state[data-state="open"]', { timeout: 5000 });
  const after = await titles(agent.page);
  for (const title of meanwhile) assert.equal(after.filter((t) => t === title).length, 1, `${title} shown once`);
  assert.deepEqual(after.slice(0, 5), [...meanwhile].reverse(), 'newest first, in order');
  assert.equal(after.length, 8);

  // Mark everything read through the API: one read_range frame, and the page shows no unread entry.
  const marked = await api('POST', `/api/v1/contacts/${contact}/events/mark-read`);
  assert.ok(marked.marked > 0, `marked ${marked.marked}`);
  await agent.page.waitForSelector('#unread-count:text-is("0 unread")', { timeout: 2000 });
  assert.equal(await agent.page.locator('.entry[data-read="false"]').count(), 0);
  const states = await agent.page.evaluate(() => window.eventline.states);
  assert.ok(states.includes('reconnecting'), `states: ${states}`);

  await agent.page.screenshot({ path: path.join(root, 'test-results', 'console-agent.png'), fullPage: true });
  await client.page.setViewportSize({ width: 390, height: 844 });
  await client.page.screenshot({ path: path.join(root, 'test-results', 'console-client-phone.png'), fullPage: true });
});

test('a refused token: the console stops, says why, and does not retry', async () => {
  const good = (await api('POST', '/api/v1/realtime/tokens', { contact_id: contact, role: 'client' })).token;
  const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const page = await browser.newPage();
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws));
  await page.goto(`${server.url}/console/#base=${encodeURIComponent(server.url)}&token=${encodeURIComponent(forged)}&backoff_max_ms=100`);
  await page.waitForSelector('#problem:not([hidden])', { timeout: 5000 });
  await page.waitForSelector('#state[data-state="closed"]', { timeout: 5000 });
  assert.match(await page.locator('#problem').textContent(), /signature is not valid.*close code 4401/);
  // With a 100 ms backoff ceiling a retrying page would have opened several sockets by now.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(sockets.length, 1, `sockets opened: ${sockets.length}`);
  const states = await page.evaluate(() => window.eventline.states);
  assert.ok(!states.includes('reconnecting'), `states: ${states}`);
  await page.screenshot({ path: path.join(root, 'test-results', 'console-refused.png') });
  await page.close();
});

test('a resume point the hub does not know: the browser client resets and shows the whole history once', async () => {
  const token = (await api('POST', '/api/v1/realtime/tokens', { contact_id: contact, role: 'agent', agent_id: randomUUID() })).token;
  const page = await browser.newPage();
  await page.goto(`${server.url}/console/`);
  const seen = await page.evaluate(async ({ base, token }) => {
    const { EventlineClient } = window.eventline;
    return new Promise((resolve, reject) => {
      const client = new EventlineClient({ baseUrl: base, token, after: 1_000_000 });
      const out = { resets: [], seqs: [] };
      client.on('reset', (r) => out.resets.push(r));
      client.on('entry', (e) => out.seqs.push(e.sequence_number));
      client.on('state', (s, d) => {
        if (s === 'open' && !d.catchingUp && out.seqs.length > 0) {
          client.close();
          resolve(out);
        }
      });
      client.on('error', (p) => reject(new Error(p.detail)));
      client.connect();
      setTimeout(() => reject(new Error(`timed out: ${JSON.stringify(out)}`)), 5000);
    });
  }, { base: server.url, token });
  assert.equal(seen.resets.length, 1);
  assert.equal(seen.resets[0].requested_after, 1_000_000);
  assert.deepEqual(seen.seqs, Array.from({ length: seen.seqs.length }, (_, i) => i + 1), `${seen.seqs}`);
  await page.close();
});

test('the console is served with a CSP that forbids framing, nosniff and a Referrer-Policy', async () => {
  for (const route of ['/console/', '/console/console.js']) {
    const res = await fetch(`${server.url}${route}`);
    assert.equal(res.status, 200, route);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/, route);
    assert.match(csp, /script-src 'self'/, route);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', route);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', route);
  }
  const docs = await fetch(`${server.url}/docs`);
  assert.match(docs.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
});

test('both crons run locally, through /cdn-cgi/handler/scheduled and /__scheduled', async () => {
  const runs = [];
  for (const trigger of ['/cdn-cgi/handler/scheduled', '/__scheduled']) {
    for (const cron of ['* * * * *', '17 3 * * *']) {
      const res = await fetch(`${server.url}${trigger}?cron=${encodeURIComponent(cron).replaceAll('%20', '+')}`);
      assert.equal(res.status, 200, `${trigger} ${cron}: ${await res.text()}`);
      runs.push(cron);
    }
  }
  const deadline = Date.now() + 5000;
  const ran = () => server.log().split('\n').filter((l) => l.includes('"msg":"cron"')).map((l) => JSON.parse(l.slice(l.indexOf('{'))));
  while (ran().length < runs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const reports = ran();
  assert.deepEqual(reports.map((r) => r.cron), runs);
  for (const daily of [reports[1], reports[3]]) assert.ok('retention' in daily && 'timeline_expired' in daily, JSON.stringify(daily));
  for (const minute of [reports[0], reports[2]]) assert.ok('deliveries_reclaimed' in minute && !('retention' in minute), JSON.stringify(minute));
});

test('inbox console: unread badges on one socket, cleared by opening the contact', async () => {
  const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await appendTo(a, 'A: before the inbox opened 1');
  await appendTo(a, 'A: before the inbox opened 2');
  // The server subscribes only contacts with a timeline in the tenant (see the refused one below).
  await appendTo(b, 'B: before');
  await appendTo(c, 'C: before');
  const { token } = await api('POST', '/api/v1/realtime/tokens', { role: 'agent', agent_id: randomUUID(), name: 'Ada Agent', scope: 'inbox' });

  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const sockets = [];
  const problems = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (e) => problems.push(String(e)));
  // A CSP violation shows up as a console error; the console must work under its own policy. (The
  // browser's own favicon request is a 404 and no concern of the page.)
  page.on('console', (m) => m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()) && problems.push(m.text()));
  await page.goto(`${server.url}/console/#base=${encodeURIComponent(server.url)}&token=${encodeURIComponent(token)}&contacts=${a},${b},${c}&backoff_max_ms=300`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });
  assert.equal(await page.locator('#inbox-contacts li').count(), 3);

  // History's unread entries count at once; entries appended over HTTP raise the badges live.
  await badge(page, a, 2);
  await badge(page, b, 1);
  await badge(page, c, 1);
  for (let i = 1; i <= 3; i++) await appendTo(b, `B: live ${i}`);
  await appendTo(c, 'C: live 1');
  await badge(page, b, 4);
  await badge(page, c, 2);
  await badge(page, a, 2);
  await page.screenshot({ path: path.join(root, 'test-results', 'console-inbox-badges.png') });

  // Opening B shows its timeline and marks its entries read: the badge clears, the others stay.
  await contactItem(page, b).locator('.open-contact').click();
  await page.waitForSelector('#contact:not([hidden]) #contact-id:text-is("' + b + '")');
  assert.deepEqual(await titles(page), ['B: live 3', 'B: live 2', 'B: live 1', 'B: before']);
  await badge(page, b, 0);
  await page.waitForFunction(() => [...document.querySelectorAll('#timeline .entry')].every((e) => e.dataset.read === 'true'), null, { timeout: 5000 });
  await badge(page, a, 2);
  await badge(page, c, 2);

  // While B is open, what arrives for it is read as it arrives; another contact's entry raises its badge.
  await appendTo(b, 'B: while open');
  await appendTo(a, 'A: while B is open');
  await page.waitForSelector('#timeline .entry[data-read="true"] .title:text-is("B: while open")', { timeout: 5000 });
  await badge(page, a, 3);
  await badge(page, b, 0);
  assert.deepEqual((await titles(page))[0], 'B: while open');

  // A contact added on the page joins the same socket; one without a timeline yet is refused, says
  // why, and is asked for again by watching it again.
  const watch = async (contact) => {
    await page.fill('#add-contact-id', contact);
    await page.click('#add-contact button[type="submit"]');
  };
  await watch(d);
  await page.waitForSelector(`#inbox-contacts li[data-contact-id="${d}"] .contact-problem:has-text("no timeline")`, { timeout: 5000 });
  await appendTo(d, 'D: its first entry');
  await watch(d);
  await badge(page, d, 1);
  await page.waitForSelector(`#inbox-contacts li[data-contact-id="${d}"] .contact-problem[hidden]`, { state: 'attached', timeout: 5000 });
  assert.equal(await page.locator('#inbox-contacts li').count(), 4);
  assert.equal(await page.locator('#problem').isHidden(), true, 'a contact refusal is not the page\'s problem');

  // Opening A clears its badge too, and the timeline switches to A's entries only.
  await contactItem(page, a).locator('.open-contact').click();
  await badge(page, a, 0);
  assert.deepEqual(await titles(page), ['A: while B is open', 'A: before the inbox opened 2', 'A: before the inbox opened 1']);

  await page.screenshot({ path: path.join(root, 'test-results', 'console-inbox.png'), fullPage: true });
  assert.deepEqual(sockets.map((u) => new URL(u).pathname), ['/api/v1/inbox/stream'], `sockets: ${sockets}`);
  assert.deepEqual(problems, []);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(root, 'test-results', 'console-inbox-phone.png'), fullPage: true });
  await page.close();
});
