#!/usr/bin/env node
// `node bench/append-ab.mjs <rootA> <rootB> [--rounds=6] [--n=50]`: sequential append latency of two
// checkouts of Eventline side by side (e.g. before and after a change to the append path). Each root
// is bundled with its own wrangler (`wrangler deploy --dry-run`) and run on its own Miniflare
// (state on tmpfs, requests to the Worker's own socket, as bench/run.mjs does). Rounds interleave the
// two, alternating which goes first, so that load from anything else on the machine falls on both.
// Per round and root: `n` sequential requests of each kind, one connection. Prints p50/p90/p99 in ms.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [rootA, rootB] = process.argv.slice(2).filter((a) => !a.startsWith('--')).map((p) => path.resolve(p));
if (!rootA || !rootB) throw new Error('usage: node bench/append-ab.mjs <rootA> <rootB> [--rounds=6] [--n=50]');
const arg = (name, def) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const ROUNDS = arg('rounds', 6);
const N = arg('n', 50);

async function start(root) {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'eventline-ab-'));
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'wrangler'), ['deploy', '--dry-run', '--outdir', outdir], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
  });
  if (r.status !== 0) throw new Error(`bundling ${root} failed:\n${r.stdout}\n${r.stderr}`);
  const req = createRequire(path.join(root, 'node_modules', 'wrangler', 'package.json'));
  const { Miniflare, Log, LogLevel } = req('miniflare');
  const wrangler = await import(pathToFileURL(path.join(root, 'node_modules', 'wrangler', 'wrangler-dist', 'cli.js')).href);
  const { workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(path.join(root, 'wrangler.toml'));
  const { assets: _assets, ...apiOptions } = workerOptions;
  const state = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'eventline-ab-state-'));
  const adminToken = randomBytes(24).toString('hex');
  const mf = new Miniflare({
    host: '127.0.0.1',
    port: 0,
    log: new Log(LogLevel.WARN),
    durableObjectsPersist: path.join(state, 'do'),
    d1Persist: path.join(state, 'd1'),
    r2Persist: path.join(state, 'r2'),
    cachePersist: path.join(state, 'cache'),
    kvPersist: path.join(state, 'kv'),
    cf: false,
    workers: [
      {
        ...apiOptions,
        name: 'eventline',
        modules: true,
        modulesRoot: outdir,
        scriptPath: path.join(outdir, 'index.js'),
        unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        bindings: {
          ...workerOptions.bindings,
          ADMIN_TOKEN: adminToken,
          TOKEN_SIGNING_SECRET: randomBytes(24).toString('hex'),
          RATE_LIMIT_PER_MINUTE: '0',
          LOG_REQUESTS: 'false',
        },
      },
    ],
  });
  await mf.ready;
  const url = (await mf.unsafeGetDirectURL('eventline')).toString().replace(/\/$/, '');
  const db = await mf.getD1Database('DB');
  // A checkout with shards migrates every database its own way (src/dev/runtime.mjs); an older one has
  // one database and one migrations folder.
  const runtime = path.join(root, 'src', 'dev', 'runtime.mjs');
  const own = existsSync(runtime) ? await import(pathToFileURL(runtime).href) : {};
  if (own.shardBindings) await own.applyMigrations(mf);
  else {
    const dir = path.join(root, 'migrations');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
      for (const sql of readFileSync(path.join(dir, file), 'utf8').split('--> statement-breakpoint').map((s) => s.trim()).filter(Boolean)) await db.prepare(sql).run();
    }
  }
  const t = await request(url, 'POST', '/api/v1/admin/tenants', { authorization: `Bearer ${adminToken}` }, { name: 'ab' });
  const key = JSON.parse(t.text).api_key.key;
  return { root, mf, url, key, db, cleanup: () => [outdir, state].forEach((d) => rmSync(d, { recursive: true, force: true })) };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function request(base, method, p, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) };
    const r = http.request(`${base}${p}`, { method, agent, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
    });
    r.on('error', reject);
    if (payload) r.write(payload);
    r.end();
  });
}

const KINDS = {
  'timeline entry (POST /contacts/{id}/events)': (contact) => ['POST', `/api/v1/contacts/${contact}/events`, { event_type: 'note_added', category: 'note', source: 'agent', title: 'n' }],
  'log event naming a contact (POST /events)': (contact) => ['POST', '/api/v1/events', { event_type: 'note.added', source: 'system', contact_id: contact }],
  'log event with a derived entry (contact.created)': () => ['POST', '/api/v1/events', { event_type: 'contact.created', source: 'system', contact_id: randomUUID(), payload: { name: 'A B' } }],
  'log event, no contact (POST /events)': () => ['POST', '/api/v1/events', { event_type: 'note.added', source: 'system' }],
};

const lat = new Map();
async function measure(side, label) {
  const contact = randomUUID();
  for (const [kind, make] of Object.entries(KINDS)) {
    const list = lat.get(`${label}|${kind}`) ?? [];
    for (let i = 0; i < N; i++) {
      const [m, p, b] = make(contact);
      const t0 = performance.now();
      const res = await request(side.url, m, p, { authorization: `Bearer ${side.key}` }, b);
      list.push(performance.now() - t0);
      if (res.status !== 201) throw new Error(`${label} ${kind}: ${res.status} ${res.text}`);
    }
    lat.set(`${label}|${kind}`, list);
  }
  // Let the relay and the consumers of this round finish before the other side measures.
  await new Promise((r) => setTimeout(r, 500));
}

const q = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)].toFixed(2);

const a = await start(rootA);
const b = await start(rootB);
try {
  // Warm-up: first requests pay module and Durable Object start-up.
  for (const side of [a, b]) {
    for (const make of Object.values(KINDS)) {
      const [m, p, body] = make(randomUUID());
      await request(side.url, m, p, { authorization: `Bearer ${side.key}` }, body);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? [[a, 'A'], [b, 'B']] : [[b, 'B'], [a, 'A']];
    for (const [side, label] of order) await measure(side, label);
  }
  console.log(`A = ${rootA}\nB = ${rootB}\n${ROUNDS} interleaved rounds × ${N} sequential requests per kind and side (one connection)\n`);
  console.log('kind | side | n | p50 ms | p90 ms | p99 ms');
  for (const kind of Object.keys(KINDS)) {
    for (const label of ['A', 'B']) {
      const s = [...lat.get(`${label}|${kind}`)].sort((x, y) => x - y);
      console.log(`${kind} | ${label} | ${s.length} | ${q(s, 0.5)} | ${q(s, 0.9)} | ${q(s, 0.99)}`);
    }
  }
  // What one owner-index insert writes, as D1 counts it (rows written include index entries).
  const probe = await b.db.prepare(`INSERT INTO id_owners (tenant_id, kind, id, owner) VALUES ('probe', 'entry', ?, 'contact:x')`).bind(randomUUID()).run().catch(() => null);
  if (probe) console.log(`\nB: one id_owners row insert: rows_written = ${probe.meta.rows_written}`);
} finally {
  await a.mf.dispose();
  await b.mf.dispose();
  a.cleanup();
  b.cleanup();
}
