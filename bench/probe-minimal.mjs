#!/usr/bin/env node
// `node bench/probe-minimal.mjs [--state=disk] [--via-entry]`: what the local runtime itself allows, without Eventline.
// A twenty-line Worker on the same workerd (Miniflare API, same client as bench/run.mjs, 16 connections
// and 1 connection): a no-op, a Worker → Durable Object RPC that does nothing, a Worker → Durable
// Object RPC that commits one SQLite row (the least any durable per-contact append can do), and the
// same commit followed by the Durable Object's RPC that hands the body to one of 4 other Durable
// Objects, which answer after a 20 ms linger shared by their callers (the least Eventline's append and
// its hand-off to a relay batcher can do). Eventline's own figures (npm run bench) are read against
// these. Like the bench, requests go to the Worker's own socket unless --via-entry sends them through
// Miniflare's entry worker.
import { rmSync } from 'node:fs';
import http from 'node:http';
import { miniflare, tempState } from '../src/dev/runtime.mjs';

const disk = process.argv.includes('--state=disk');
const viaEntry = process.argv.includes('--via-entry');
// --connections=16 runs only the loaded half (what `npm run bench -- --peer` prints).
const connectionCounts = (process.argv.find((a) => a.startsWith('--connections='))?.slice(14) ?? '16,1').split(',').map(Number);
const { Miniflare, Log, LogLevel } = miniflare();

const script = `import { DurableObject } from 'cloudflare:workers';
export class Hub extends DurableObject {
  constructor(ctx, env) { super(ctx, env); ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, body TEXT)'); this.seq = 0; }
  append(body, handOff) {
    this.seq += 1;
    this.ctx.storage.transactionSync(() => this.ctx.storage.sql.exec('INSERT INTO t VALUES (?, ?)', this.seq, JSON.stringify(body)));
    if (handOff) void this.env.BATCHER.get(this.env.BATCHER.idFromName('b' + (this.seq % 4))).take(body);
    return { seq: this.seq };
  }
  nothing() { return 1; }
}
export class Batcher extends DurableObject {
  take(body) {
    return new Promise((resolve) => {
      (this.waiting ??= []).push(resolve);
      this.timer ??= setTimeout(() => { const w = this.waiting; this.waiting = []; this.timer = null; for (const r of w) r(1); }, 20);
    });
  }
}
export default { async fetch(req, env) {
  const u = new URL(req.url);
  if (u.pathname === '/noop') return new Response('ok');
  const stub = env.HUB.get(env.HUB.idFromName(u.pathname.split('/')[2]));
  if (u.pathname.startsWith('/rpc/')) { await stub.nothing(); return new Response('ok'); }
  return Response.json(await stub.append(await req.json(), u.pathname.startsWith('/hand-off/')), { status: 201 });
} }`;

const { dir: state, kind: stateKind } = tempState(disk ? 'disk' : 'tmpfs');
const mf = new Miniflare({
  host: '127.0.0.1',
  port: 0,
  log: new Log(LogLevel.WARN),
  cf: false,
  modules: true,
  script,
  compatibilityDate: '2026-05-01',
  durableObjects: { HUB: { className: 'Hub', useSQLite: true }, BATCHER: { className: 'Batcher', useSQLite: true } },
  durableObjectsPersist: state,
  ...(viaEntry ? {} : { unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }] }),
});
const entryUrl = await mf.ready;
const url = (viaEntry ? entryUrl : await mf.unsafeGetDirectURL()).toString().replace(/\/$/, '');
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const call = (method, p, body) =>
  new Promise((resolve, reject) => {
    const payload = body && JSON.stringify(body);
    const headers = payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {};
    const r = http.request(url + p, { method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    r.on('error', reject);
    if (payload) r.write(payload);
    r.end();
  });
const entry = (i) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: `Note ${i}`, description: 'bench', payload: { i } });

async function load(seconds, connections, make) {
  let n = 0;
  let ok = 0;
  const lat = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const [m, p, b] = make(n++);
        const t0 = performance.now();
        if ((await call(m, p, b)) < 300) ok += 1;
        lat.push(performance.now() - t0);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const at = (q) => Number(lat[Math.min(lat.length - 1, Math.ceil(q * lat.length) - 1)].toFixed(2));
  return { rps: Math.round(ok / seconds), p50: at(0.5), p99: at(0.99) };
}

const cases = [
  ['no-op', () => ['GET', '/noop']],
  ['Worker → DO RPC (no storage)', (i) => ['GET', `/rpc/c${i % 100}`]],
  ['Worker → DO RPC + one SQLite commit', (i) => ['POST', `/append/c${i % 100}`, entry(i)]],
  ['… + DO → DO hand-off (20 ms linger)', (i) => ['POST', `/hand-off/c${i % 100}`, entry(i)]],
];
console.log(`minimal Worker on workerd (Miniflare API), ${viaEntry ? 'through the entry worker' : "on the Worker's own socket"}, Durable Object state on ${stateKind}`);
try {
  for (const connections of connectionCounts) {
    for (const [name, make] of cases) {
      await load(1, connections, make);
      const r = await load(3, connections, make);
      console.log(`${connections} conn  ${name.padEnd(36)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms`);
    }
  }
} finally {
  agent.destroy();
  await mf.dispose();
  rmSync(state, { recursive: true, force: true });
}
