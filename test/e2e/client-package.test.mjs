// `npm run test:e2e`: the client package as an application gets it. `npm pack` makes the tarball,
// `npm install` puts it in a scratch project, and Node imports it from there and calls the Worker
// under `wrangler dev`: it must install without Eventline's server dependencies (wrangler, workerd),
// and its generated REST types must be what the running Worker's /openapi.json gives.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SCHEMA_FILE, schemaSource } from '../../src/dev/client-schema.mjs';
import { ADMIN_TOKEN, startServer } from './server.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let server;
let scratch;
let key;
let tenantId;
let doc;

/** Every package name under a node_modules tree (scoped ones as @scope/name). */
function installed(dir) {
  const names = [];
  const walk = (nm) => {
    let entries;
    try {
      entries = readdirSync(nm, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory() && !e.isSymbolicLink()) continue;
      if (e.name.startsWith('.')) continue;
      if (e.name.startsWith('@')) {
        for (const s of readdirSync(path.join(nm, e.name))) {
          names.push(`${e.name}/${s}`);
          walk(path.join(nm, e.name, s, 'node_modules'));
        }
      } else {
        names.push(e.name);
        walk(path.join(nm, e.name, 'node_modules'));
      }
    }
  };
  walk(path.join(dir, 'node_modules'));
  return names;
}

before(async () => {
  server = await startServer();
  const res = await fetch(`${server.url}/api/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'e2e-client-package' }),
  });
  assert.equal(res.status, 201);
  const created = await res.json();
  key = created.api_key.key;
  tenantId = created.tenant.id;
  doc = await (await fetch(`${server.url}/openapi.json`)).json();

  // `npm run test:e2e` has just built packages/client/dist; pack it as a publish would.
  scratch = mkdtempSync(path.join(tmpdir(), 'eventline-client-'));
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', scratch], { cwd: path.join(root, 'packages/client'), encoding: 'utf8' }));
  const tarball = path.join(scratch, packed[0].filename);
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: scratch, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
});

after(async () => {
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the package installs without wrangler, workerd or any server dependency', () => {
  const manifest = JSON.parse(readFileSync(path.join(scratch, 'node_modules/@eventline/client/package.json'), 'utf8'));
  assert.deepEqual(Object.keys(manifest.dependencies ?? {}).sort(), ['jose', 'openapi-fetch']);
  assert.equal(manifest.devDependencies, undefined);
  assert.equal(manifest.peerDependencies, undefined);
  const names = installed(scratch);
  assert.ok(names.includes('@eventline/client') && names.includes('openapi-fetch'), names.join(', '));
  for (const server of ['wrangler', 'workerd', 'miniflare', 'hono', '@hono/zod-openapi', 'zod', 'drizzle-orm', 'esbuild']) {
    assert.equal(names.includes(server), false, `${server} was installed`);
  }
  // What the application pulls in, all told: the package, openapi-fetch and its types helper, jose.
  assert.ok(names.length <= 4, names.join(', '));
});

test('Node imports the REST client from the installed package and appends an event (201)', () => {
  const script = `
    import { createEventlineApi } from '@eventline/client/api';
    const api = createEventlineApi({ baseUrl: process.env.BASE, apiKey: process.env.KEY });
    const { data, error, response } = await api.POST('/api/v1/events', { body: { event_type: 'package.installed', source: 'manual', payload: { ok: true } } });
    const bad = await api.POST('/api/v1/events', { body: { event_type: 'package.installed' } });
    console.log(JSON.stringify({ status: response.status, data, error, bad: { status: bad.response.status, paths: bad.error.errors.map((e) => e.path) } }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: scratch, env: { ...process.env, BASE: server.url, KEY: key }, encoding: 'utf8' }));
  assert.equal(out.status, 201, JSON.stringify(out));
  assert.equal(out.data.event_type, 'package.installed');
  assert.deepEqual(out.data.payload, { ok: true });
  assert.equal(out.error, undefined);
  assert.deepEqual(out.bad, { status: 422, paths: ['source'] });
});

test('Node imports the realtime client from the installed package and gets a contact\'s entry live', () => {
  const script = `
    import { EventlineClient } from '@eventline/client/realtime';
    import { createEventlineApi } from '@eventline/client';
    const api = createEventlineApi({ baseUrl: process.env.BASE, apiKey: process.env.KEY });
    const contact = crypto.randomUUID();
    const { data: token } = await api.POST('/api/v1/realtime/tokens', { body: { contact_id: contact, role: 'client' } });
    const client = new EventlineClient({ baseUrl: process.env.BASE, token: token.token });
    const entry = new Promise((resolve, reject) => {
      client.on('entry', (e, info) => resolve({ title: e.title, sequence_number: e.sequence_number, live: info.live }));
      client.on('error', (p) => reject(new Error(JSON.stringify(p))));
      setTimeout(() => reject(new Error('no entry in 10 s')), 10_000).unref();
    });
    await new Promise((resolve) => client.on('ready', resolve) && client.connect());
    const appended = await api.POST('/api/v1/contacts/{contact_id}/events', {
      params: { path: { contact_id: contact } },
      body: { event_type: 'note_added', category: 'note', source: 'agent', title: 'From the package', visible_to_client: true },
    });
    if (appended.response.status !== 201) throw new Error(JSON.stringify(appended.error));
    console.log(JSON.stringify(await entry));
    client.close();
  `;
  const out = JSON.parse(
    execFileSync(process.execPath, ['--experimental-websocket', '--no-warnings', '--input-type=module', '-e', script], { cwd: scratch, env: { ...process.env, BASE: server.url, KEY: key }, encoding: 'utf8' }),
  );
  assert.deepEqual(out, { title: 'From the package', sequence_number: 1, live: true });
});

test('Node imports the inbox client from the installed package: unread counts and a live entry on the agent socket', () => {
  const script = `
    import { EventlineInbox } from '@eventline/client/inbox';
    import { createEventlineApi } from '@eventline/client';
    const api = createEventlineApi({ baseUrl: process.env.BASE, apiKey: process.env.KEY });
    const contact = crypto.randomUUID();
    const append = async (title) => {
      const res = await api.POST('/api/v1/contacts/{contact_id}/events', { params: { path: { contact_id: contact } }, body: { event_type: 'note_added', category: 'note', source: 'agent', title } });
      if (res.response.status !== 201) throw new Error(JSON.stringify(res.error));
    };
    await append('Before the inbox');
    const { data: grant } = await api.POST('/api/v1/realtime/tokens', { body: { role: 'agent', agent_id: 'package-agent', scope: 'inbox' } });
    const inbox = new EventlineInbox({ url: grant.url, token: grant.token, contacts: [contact] });
    const unread = [];
    inbox.on('unread', (u) => unread.push(u.unread));
    inbox.on('error', (p) => { throw new Error(JSON.stringify(p)); });
    const live = new Promise((resolve, reject) => {
      inbox.on('event', (e, info) => info.live && resolve({ title: e.title, sequence_number: e.sequence_number, contact: info.contact_id === contact }));
      setTimeout(() => reject(new Error('no live entry in 10 s')), 10_000).unref();
    });
    await new Promise((resolve) => inbox.on('caught_up', resolve) && inbox.connect());
    await append('From the package');
    const entry = await live;
    while (unread.at(-1) !== 2) await new Promise((r) => setTimeout(r, 20));
    console.log(JSON.stringify({ entry, unread }));
    inbox.close();
  `;
  const out = JSON.parse(
    execFileSync(process.execPath, ['--experimental-websocket', '--no-warnings', '--input-type=module', '-e', script], { cwd: scratch, env: { ...process.env, BASE: server.url, KEY: key }, encoding: 'utf8' }),
  );
  assert.deepEqual(out, { entry: { title: 'From the package', sequence_number: 2, contact: true }, unread: [1, 2] });
});

test('Node signs a realtime token with a signing key through the installed package, and the token opens the stream', () => {
  const script = `
    import { createEventlineApi } from '@eventline/client/api';
    import { signRealtimeToken } from '@eventline/client/tokens';
    const api = createEventlineApi({ baseUrl: process.env.BASE, apiKey: process.env.KEY });
    const { data: key } = await api.POST('/api/v1/realtime/signing-keys', { body: { name: 'package-test' } });
    const contact = crypto.randomUUID();
    const token = await signRealtimeToken(key, { tenantId: process.env.TENANT, contactId: contact, role: 'client' });
    const ws = new WebSocket(process.env.BASE.replace('http', 'ws') + '/api/v1/contacts/' + contact + '/stream?token=' + token);
    const first = await new Promise((resolve, reject) => {
      ws.addEventListener('message', (e) => resolve(JSON.parse(e.data)), { once: true });
      ws.addEventListener('close', (e) => reject(new Error('closed ' + e.code)), { once: true });
    });
    ws.close();
    console.log(JSON.stringify({ first: first.type, kid: JSON.parse(atob(token.split('.')[0])).kid === key.id }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--experimental-websocket', '--no-warnings', '--input-type=module', '-e', script], { cwd: scratch, env: { ...process.env, BASE: server.url, KEY: key, TENANT: tenantId }, encoding: 'utf8' }));
  assert.deepEqual(out, { first: 'ready', kid: true });
});

test('the installed type declarations compile for a TypeScript application', () => {
  writeFileSync(
    path.join(scratch, 'app.ts'),
    `import { createEventlineApi, type ApiProblem } from '@eventline/client/api';
import { EventlineClient, type TimelineEntry } from '@eventline/client/realtime';
const api = createEventlineApi({ baseUrl: 'http://127.0.0.1:8787', apiKey: 'evl_x' });
export async function run(): Promise<string | undefined> {
  const { data, error } = await api.POST('/api/v1/events', { body: { event_type: 'x', source: 'manual' } });
  const problem: ApiProblem | undefined = error;
  // @ts-expect-error: 'nowhere' is not a source the document allows.
  await api.POST('/api/v1/events', { body: { event_type: 'x', source: 'nowhere' } });
  const client = new EventlineClient({ baseUrl: 'http://127.0.0.1:8787', token: 't' });
  client.on('entry', (entry: TimelineEntry) => entry.sequence_number);
  return data?.id ?? problem?.detail;
}
`,
  );
  writeFileSync(
    path.join(scratch, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023', 'DOM'], types: [], strict: true, noEmit: true }, files: ['app.ts'] }),
  );
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', scratch], { cwd: scratch, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc: ${e.stdout}${e.stderr}`);
  }
});

test('the checked-in REST types are what the running Worker\'s /openapi.json gives (npm run generate:client)', async () => {
  const expected = await schemaSource(doc);
  assert.ok(readFileSync(SCHEMA_FILE, 'utf8') === expected, 'packages/client/src/schema.ts is stale: run `npm run generate:client` and commit it');
});
