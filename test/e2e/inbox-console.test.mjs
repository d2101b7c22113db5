// `npm run test:e2e`: the console's inbox view in a real browser (Debian's Chromium driven by
// playwright-core) against the Worker as `npm start` runs it: one inbox socket for many contacts,
// unread badges that follow entries appended over HTTP, and clear when the agent opens the contact.
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

const append = (contact, title) =>
  api('POST', `/api/v1/contacts/${contact}/events`, { event_type: 'note_added', category: 'note', source: 'agent', title, description: `${title} — appended by the e2e test` });

const contactItem = (page, contact) => page.locator(`#inbox-contacts li[data-contact-id="${contact}"]`);
/** Waits until the contact's badge says `n` (0: no badge shown). */
const badge = (page, contact, n) =>
  page.waitForSelector(`#inbox-contacts li[data-contact-id="${contact}"][data-unread="${n}"] .unread-badge${n ? `:text-is("${n}")` : '[hidden]'}`, { state: n ? 'visible' : 'attached', timeout: 5000 });
const titles = (page) => page.locator('#timeline .entry .title').allTextContents();

before(async () => {
  mkdirSync(path.join(root, 'test-results'), { recursive: true });
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  key = (await api('POST', '/api/v1/admin/tenants', { name: 'e2e-inbox' }, ADMIN_TOKEN)).api_key.key;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('inbox console: unread badges on one socket, cleared by opening the contact', async () => {
  const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await append(a, 'A: before the inbox opened 1');
  await append(a, 'A: before the inbox opened 2');
  // The server subscribes only contacts with a timeline in the tenant (see the refused one below).
  await append(b, 'B: before');
  await append(c, 'C: before');
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
  for (let i = 1; i <= 3; i++) await append(b, `B: live ${i}`);
  await append(c, 'C: live 1');
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
  await append(b, 'B: while open');
  await append(a, 'A: while B is open');
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
  await append(d, 'D: its first entry');
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
