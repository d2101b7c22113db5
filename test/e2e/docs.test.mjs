// `npm run test:e2e`: the /docs API reference (Swagger UI from the Worker's own assets) in Debian's
// Chromium against the Worker under `wrangler dev`: every operation is listed, nothing is requested
// from another host, the CSP lets the page work, Markdown renders, and "Try it out" with a key appends.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { ADMIN_TOKEN, startServer } from './server.mjs';

let server;
let browser;
let key;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const res = await fetch(`${server.url}/api/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'e2e-docs' }),
  });
  assert.equal(res.status, 201);
  key = (await res.json()).api_key.key;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens /docs with every request recorded; any request to a host other than the Worker's is refused. */
async function openDocs() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const requests = [];
  const foreign = [];
  const problems = [];
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    requests.push(url.href);
    if (url.hostname !== '127.0.0.1') {
      foreign.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    // Chromium reports a CSP refusal as a console error; the page must need none of what it refuses.
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  await page.goto(`${server.url}/docs`);
  await page.waitForSelector('.opblock', { timeout: 20_000 });
  return { page, requests, foreign, problems };
}

test('/docs lists every operation of /openapi.json, from the Worker only, under its CSP', async () => {
  const doc = await (await fetch(`${server.url}/openapi.json`)).json();
  const operationIds = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId)).sort();
  const { page, requests, foreign, problems } = await openDocs();

  const res = await fetch(`${server.url}/docs`);
  assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);
  assert.equal(res.headers.get('content-security-policy')?.includes('unsafe-inline'), false);

  const shown = (await page.locator('.opblock .opblock-summary-operation-id').allTextContents()).map((s) => s.trim()).sort();
  assert.deepEqual(shown, operationIds);
  assert.ok(operationIds.length > 40, `only ${operationIds.length} operations`);
  // The two auth schemes are offered by the Authorize dialog.
  await page.locator('.auth-wrapper .authorize').click();
  const schemes = await page.locator('.modal-ux .auth-container h4').allTextContents();
  assert.deepEqual(schemes.map((s) => s.replace(/\s*\(.*$/, '').trim()).sort(), ['adminToken', 'apiKey']);
  await page.locator('.modal-ux .close-modal').click();

  assert.deepEqual(foreign, []);
  assert.ok(requests.some((u) => u.endsWith('/openapi.json')), 'the page read /openapi.json');
  assert.deepEqual(problems, []);
  await page.close();
});

test('/docs renders Markdown in descriptions, with schemas and examples', async () => {
  const { page, foreign, problems } = await openDocs();
  const op = page.locator('#operations-Events-appendEvent');
  await op.locator('.opblock-summary').click();
  // appendEvent's description has `sequence_number` in backticks: Markdown makes it <code>.
  await op.locator('.opblock-description .renderedMarkdown code', { hasText: 'sequence_number' }).waitFor();
  // The request body's example and the responses (201, problems) are shown.
  assert.ok((await op.locator('.opblock-section-request-body').count()) === 1);
  assert.ok((await op.locator('.responses-table .response[data-code="201"]').count()) === 1);
  assert.ok((await op.locator('.responses-table .response[data-code="422"]').count()) === 1);
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('"Try it out" with an API key appends an event (201)', async () => {
  const { page, foreign, problems } = await openDocs();
  await page.locator('.auth-wrapper .authorize').click();
  const apiKey = page.locator('.modal-ux .auth-container', { has: page.locator('h4', { hasText: 'apiKey' }) });
  await apiKey.locator('input').fill(key);
  await apiKey.locator('button.authorize').click();
  await page.locator('.modal-ux .close-modal').click();

  const op = page.locator('#operations-Events-appendEvent');
  await op.locator('.opblock-summary').click();
  await op.locator('.try-out__btn').click();
  const marker = randomUUID();
  await op.locator('textarea.body-param__text').fill(JSON.stringify({ event_type: 'docs.tried', source: 'manual', payload: { marker } }));
  await op.locator('.execute').click();
  const status = op.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout: 10_000 });
  const answer = await op.locator('.live-responses-table').innerText();
  assert.equal((await status.textContent()).trim().slice(0, 3), '201', answer);

  // The event is really in the log, under the key's tenant.
  const listed = await fetch(`${server.url}/api/v1/events?type=docs.tried`, { headers: { authorization: `Bearer ${key}` } });
  const body = await listed.json();
  assert.ok(body.events.some((e) => e.payload.marker === marker), JSON.stringify(body));
  assert.deepEqual(foreign, []);
  assert.deepEqual(problems, []);
  await page.close();
});
