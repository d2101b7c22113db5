#!/usr/bin/env node
// `npm run bench`: load and latency of Eventline on the local Workers runtime.
//
// The Worker is bundled by wrangler (`wrangler deploy --dry-run`, the same bundle `wrangler deploy`
// uploads, from src/dev/local-entry.ts) and run by Miniflare's API on workerd as `npm start` runs it
// (src/dev/runtime.mjs), with the bindings wrangler.toml declares (local D1 with the migrations applied,
// SQLite Durable Objects, Queues with their consumers, R2; the [assets] with --server=start; their
// files on tmpfs, or on disk with --state=disk). `--peer` measures Eventline side by side with the
// PostgreSQL outbox in bench/peer/ instead (bench/peer.mjs). There is no `wrangler dev` in front:
// no ProxyWorker, no inspector proxy — requests go from Node's HTTP client over loopback straight to
// the Worker's own socket in workerd (`--via-entry`: through Miniflare's entry worker). Built-in
// scenarios measure the contact hub and the timeline; then every bench/scenarios/*.mjs runs (each
// exports `name` and `run(ctx)`, ctx as built in pluggedIn), each with a fresh tenant, after workerd
// has gone idle. Prints a table and JSON, and writes the JSON to bench/results/.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { applyMigrations, shardBindings, startEventline, tempState } from '../src/dev/runtime.mjs';
import { percentile, round, runProbe } from './lib.mjs';
import { peerComparison } from './peer.mjs';
import { caller, closeConnections, load as loadRequests, newTenant, request } from './http.mjs';

const root = path.resolve(import.meta.dirname, '..');
const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const SECONDS = quick ? 1.5 : 4;
const WARMUP_SECONDS = quick ? 0.5 : 1;
const CONNECTIONS = 16;
// Where Miniflare keeps the local D1, Durable Object, R2 and cache files: `--state=disk` (the OS temp
// directory, here ext4 on a virtual disk) or, by default, tmpfs (/dev/shm) when the machine has one.
// With --peer the default is disk: `npm start` keeps its state in .wrangler/ on disk, and PostgreSQL
// fsyncs its commits to the same disk.
const STATE = process.argv.find((a) => a.startsWith('--state='))?.slice(8) ?? (process.argv.includes('--peer') ? 'disk' : 'tmpfs');
const SCENARIO_TIMEOUT_MS = 90_000;
// Requests reach the Worker on a socket of its own (Miniflare's `unsafeDirectSockets`), as on Cloudflare,
// where the edge hands a request straight to the Worker. `--via-entry` sends them through Miniflare's
// entry worker instead (what `wrangler dev` serves): one more worker hop on the same thread per request
// and per WebSocket message, which is Miniflare's emulation, not Eventline (docs/performance.md).
const VIA_ENTRY = process.argv.includes('--via-entry');

// ---------------------------------------------------------------- the runtime

// Which server is measured: `--server=bench` (default) is the bench's own — the Worker without the
// [assets] and without per-request log lines; `--server=start` is what `npm start` runs (assets served
// beside the Worker, wrangler.toml's [vars] including LOG_REQUESTS). Both come from src/dev/runtime.mjs.
const SERVER = process.argv.find((a) => a.startsWith('--server='))?.slice(9) ?? (process.argv.includes('--peer') ? 'start' : 'bench');
if (!['bench', 'start'].includes(SERVER)) throw new Error(`--server=${SERVER}: bench or start`);

/** The runtime's D1 database (Miniflare's handle), for the bench's own bookkeeping queries. */
/** Every local event-store shard: a bench tenant lives on any of them. */
let shards;

async function startRuntime(adminToken) {
  const state = tempState(STATE);
  const rt = await startEventline({
    persistRoot: state.dir,
    assets: SERVER === 'start',
    // The bench measures the system, not the per-key rate limit; scenarios may target loopback receivers.
    bindings: {
      ADMIN_TOKEN: adminToken,
      TOKEN_SIGNING_SECRET: randomBytes(24).toString('hex'),
      RATE_LIMIT_PER_MINUTE: '0',
      ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
      ...(SERVER === 'bench' ? { LOG_REQUESTS: 'false' } : {}),
    },
    // The Worker's log lines are produced (that cost is measured) but not printed.
    stdio(stdout, stderr) {
      stdout.resume();
      stderr.resume();
    },
  });
  // The bench's one tenant is the first one created: placement puts it on shard 0 (src/db/shards.ts).
  shards = await Promise.all(shardBindings().map((b) => rt.mf.getD1Database(b)));
  await applyMigrations(rt.mf);
  return { ...rt, url: VIA_ENTRY ? rt.entryUrl : rt.url, state };
}

// ---------------------------------------------------------------- quiet between measurements

/** The workerd processes Miniflare started (children of this process), from /proc. */
function workerdPids() {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return Number(fields[1]) === process.pid && stat.includes('(workerd)');
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

function cpuTicks(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks;
}

/**
 * Waits until workerd has been nearly idle (< 5% of a core) for 500 ms: the relay, the queue consumers
 * and the projections of one scenario finish before the next one measures. Returns the seconds waited
 * (null where /proc is not available).
 */
async function quiesce(timeoutMs = 60_000) {
  const pids = workerdPids();
  if (pids.length === 0) return null;
  const t0 = performance.now();
  let quiet = 0;
  let last = cpuTicks(pids);
  while (performance.now() - t0 < timeoutMs && quiet < 2) {
    await new Promise((r) => setTimeout(r, 250));
    const now = cpuTicks(pids);
    // Clock ticks are 10 ms: at most one tick in 250 ms is under 5%.
    quiet = now - last <= 1 ? quiet + 1 : 0;
    last = now;
  }
  return (performance.now() - t0) / 1000;
}

/** Closed-loop load with this run's connections, duration and warm-up unless a scenario says otherwise. */
const load = (o) => loadRequests({ connections: CONNECTIONS, seconds: SECONDS, warmup: WARMUP_SECONDS, ...o });

// ---------------------------------------------------------------- built-in scenarios (StreamHub and timeline)

/** One append per contact before measuring, so that the measured window holds no hub's first start. */
async function prewarm(url, key, contacts) {
  for (let i = 0; i < contacts.length; i += CONNECTIONS) {
    await Promise.all(
      contacts.slice(i, i + CONNECTIONS).map(async (c) => {
        const res = await request(url, 'POST', `/api/v1/contacts/${c}/events`, { key, body: entry(0) });
        if (res.status !== 201) throw new Error(`prewarm append failed: ${res.status} ${res.text}`);
      }),
    );
  }
}

/**
 * Waits until D1 holds `expected` timeline entries of the tenant (the relay has caught up), so that one
 * scenario's backlog does not load the next one. Returns the seconds it took, or null on timeout.
 */
async function settle(tenantId, expected, timeoutMs = 30_000) {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    // Counted in the local D1 itself (the tenant's shard, whichever it is): the API's tenant-wide list
    // pages by cursor and has no total.
    const counts = await Promise.all(shards.map((d) => d.prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ?').bind(tenantId).first()));
    if (counts.reduce((n, r) => n + r.n, 0) >= expected) return (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

const entry = (i) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: `Note ${i}`, description: 'bench', payload: { i } });
const batchBody = { events: Array.from({ length: 100 }, (_, i) => entry(i)) };
/** The loads' requests: one entry appended to a contact, or a batch of 100 (batchBody). */
const appendRequest = (key, contact, i) => ({ method: 'POST', path: `/api/v1/contacts/${contact}/events`, key, body: entry(i) });
const batchRequest = (key, contact) => ({ method: 'POST', path: `/api/v1/contacts/${contact}/events/batch`, key, body: batchBody });

async function builtIn(url, adminToken) {
  const rows = [];
  const add = (scenario, metric, value, unit, target = '', pass = null) => rows.push({ scenario, metric, value: round(value), unit, target, pass });

  // 1. The runtime's floor.
  await quiesce();
  const noop = await load({ base: url, make: () => ({ method: 'GET', path: '/__noop' }), check: (r) => r.status === 200 });
  add('floor', 'no-op GET /__noop, 16 conns', noop.rps, 'req/s');
  add('floor', 'no-op p50', noop.p50, 'ms');
  // What the runtime itself allows (bench/probe-minimal.mjs, its own workerd, while this one idles).
  const probe = await runProbe(STATE);
  add('floor', 'probe: Worker → DO RPC + one SQLite commit, 16 conns', probe.commit, 'req/s');
  add('floor', 'probe: the same + DO → DO hand-off (20 ms linger)', probe.handOff, 'req/s');

  // 2. Single-event appends to 100 contacts (timeline entries through the hubs).
  const t1 = await newTenant(url, adminToken, 'bench-single');
  const contacts = Array.from({ length: 100 }, () => randomUUID());
  await prewarm(url, t1.key, contacts);
  await quiesce();
  const single = await load({
    base: url,
    make: (i) => appendRequest(t1.key, contacts[i % 100], i),
    check: (r) => r.status === 201,
  });
  const share = (single.rps / noop.rps) * 100;
  add('appends', 'single appends, 100 contacts, 16 conns', single.rps, 'events/s', '≥ 2,000', single.rps >= 2000);
  add('appends', 'single appends vs no-op floor', share, '%', '≥ 40%', share >= 40);
  add('appends', 'single appends / probe commit', single.rps / probe.commit, '×');
  add('appends', 'single appends / probe commit + hand-off', single.rps / probe.handOff, '×');
  add('appends', 'single append p50', single.p50, 'ms', '≤ 2 ms', single.p50 <= 2);
  add('appends', 'single append p99', single.p99, 'ms');
  if (single.failed) add('appends', `single append failures (${single.firstFailure})`, single.failed, 'requests', '0', false);
  const singleDrain = await settle(t1.tenantId, contacts.length + single.okAll);
  if (singleDrain === null) add('appends', 'D1 did not catch up within 30 s of the single-append load', null, '', '', false);
  else add('appends', 'D1 caught up after the single-append load', singleDrain, 's');

  // Unloaded: one connection, one append at a time (at 16 connections in a closed loop, p50 is about
  // 16 / throughput by Little's law — the no-op floor's own p50 shows it).
  await quiesce();
  const unloaded = await load({
    base: url,
    connections: 1,
    make: (i) => appendRequest(t1.key, contacts[i % 100], i),
    check: (r) => r.status === 201,
  });
  add('appends', 'single append p50, 1 connection', unloaded.p50, 'ms');
  add('appends', 'single append p99, 1 connection', unloaded.p99, 'ms');
  await quiesce();

  // The log path: POST /events naming a contact (sequenced by the same hubs; message.sent derives no entry).
  const logSingle = await load({
    base: url,
    make: (i) => ({
      method: 'POST',
      path: '/api/v1/events',
      key: t1.key,
      body: { event_type: 'message.sent', source: 'system', contact_id: contacts[(i + 50) % 100], payload: { i } },
    }),
    check: (r) => r.status === 201,
  });
  add('appends', 'log appends with contact_id, 16 conns', logSingle.rps, 'events/s');
  add('appends', 'log append p50', logSingle.p50, 'ms');
  if (logSingle.failed) add('appends', `log append failures (${logSingle.firstFailure})`, logSingle.failed, 'requests', '0', false);

  await quiesce();

  // 3. Batch appends, 100 entries per request.
  const t2 = await newTenant(url, adminToken, 'bench-batch');
  const batchContacts = Array.from({ length: 100 }, () => randomUUID());
  await prewarm(url, t2.key, batchContacts);
  // 4 connections, time-bounded, at most 400 requests (40,000 entries). The relay packs a tenant's
  // records into queue messages of up to 96 KB (about 100 entries each), so this stays far below the
  // local Queues simulator's limit of 10,000 pending messages (a Miniflare limit, not a platform one).
  const batch = await load({
    base: url,
    connections: 4,
    warmup: 0,
    maxRequests: 400,
    make: (i) => batchRequest(t2.key, batchContacts[i % 100]),
    check: (r) => r.status === 201,
  });
  add('batch', 'batch appends (100/request), 4 conns', batch.rps * 100, 'events/s', '≥ 20,000', batch.rps * 100 >= 20000);
  add('batch', 'batch request p50', batch.p50, 'ms');
  if (batch.failed) add('batch', `batch failures (${batch.firstFailure})`, batch.failed, 'requests', '0', false);
  const batchDrain = await settle(t2.tenantId, batchContacts.length + batch.okAll * 100, 60_000);
  if (batchDrain === null) add('batch', 'D1 did not catch up within 60 s of the batch load', null, '', '', false);
  else add('batch', 'D1 caught up after the batch load', batchDrain, 's');

  // 4. Relay lag: from the append's 201 to the entry being returned by a D1 query (GET /contact-events),
  //    idle, with 8 connections appending in the background, and under the batch load of section 3.
  //    Each background load: its connections, entries per request and request (appendRequest, batchRequest).
  const backgrounds = [
    { name: 'idle', connections: 0, entries: 0, unit: '', request: null },
    { name: '8-conn append load', connections: 8, entries: 1, unit: 'appends', request: appendRequest },
    { name: 'the batch load (4 conns × 100 entries)', connections: 4, entries: 100, unit: 'batch entries', request: batchRequest },
  ];
  for (const background of backgrounds) {
    await quiesce();
    const t = await newTenant(url, adminToken, `bench-lag-${background.connections}-${background.entries}`);
    const lags = [];
    let timeouts = 0;
    const bgContacts = Array.from({ length: 50 }, () => randomUUID());
    if (background.connections > 0) await prewarm(url, t.key, bgContacts);
    const deadline = performance.now() + (quick ? 2000 : 4000);
    const bg =
      background.connections > 0
        ? load({
            base: url,
            connections: background.connections,
            warmup: 0,
            seconds: (deadline - performance.now()) / 1000,
            make: (i) => background.request(t.key, bgContacts[i % 50], i),
            check: (r) => r.status === 201,
          })
        : Promise.resolve(null);
    const probeContact = randomUUID();
    while (performance.now() < deadline) {
      const res = await request(url, 'POST', `/api/v1/contacts/${probeContact}/events`, { key: t.key, body: entry(lags.length) });
      const acked = performance.now();
      if (res.status !== 201) throw new Error(`relay-lag append failed: ${res.status} ${res.text}`);
      const id = JSON.parse(res.text).id;
      for (;;) {
        const q = await request(url, 'GET', `/api/v1/contact-events?contact_id=${probeContact}&limit=1`, { key: t.key });
        if (q.status === 200 && JSON.parse(q.text).events[0]?.id === id) {
          lags.push(performance.now() - acked);
          break;
        }
        if (performance.now() - acked > 5000) {
          timeouts += 1;
          break;
        }
      }
    }
    const bgResult = await bg;
    if (bgResult) await settle(t.tenantId, bgContacts.length + bgResult.okAll * background.entries + lags.length + timeouts, 60_000);
    lags.sort((a, b) => a - b);
    const label = background.connections > 0 ? `relay lag under ${background.name}` : 'relay lag, idle';
    add('relay', `${label} p50 (n=${lags.length})`, percentile(lags, 50), 'ms');
    add('relay', `${label} p99`, percentile(lags, 99), 'ms', '≤ 250 ms', percentile(lags, 99) <= 250);
    if (bgResult) add('relay', `background ${background.unit} during lag probe`, bgResult.rps * background.entries, 'events/s');
    if (timeouts) add('relay', 'relay lag probes not visible within 5 s', timeouts, 'probes', '0', false);
  }
  return rows;
}

// ---------------------------------------------------------------- other helpers' scenarios

async function pluggedIn(url, adminToken) {
  const dir = path.join(root, 'bench', 'scenarios');
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort();
  } catch {
    return [];
  }
  const rows = [];
  for (const file of files) {
    let name = file.replace(/\.mjs$/, '');
    try {
      const mod = await import(pathToFileURL(path.join(dir, file)).href);
      name = mod.name ?? name;
      if (only && !only.includes(name)) continue;
      const tenant = await newTenant(url, adminToken, `bench-${name}`);
      const ctx = { url, key: tenant.key, adminToken, tenantId: tenant.tenantId, call: caller(url, tenant.key), quiesce };
      await quiesce();
      const started = performance.now();
      let timer;
      const result = await Promise.race([
        mod.run(ctx),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      for (const r of result ?? []) {
        rows.push({ scenario: name, metric: r.metric, value: round(r.value), unit: r.unit ?? '', target: r.target ?? '', pass: r.pass ?? null });
      }
      process.stderr.write(`  scenario ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (e) {
      rows.push({ scenario: name, metric: `error: ${e instanceof Error ? e.message : String(e)}`, value: null, unit: '', target: '', pass: false });
    }
  }
  return rows;
}

// ---------------------------------------------------------------- output

function table(rows) {
  const head = ['scenario', 'metric', 'value', 'unit', 'target', ''];
  const cells = rows.map((r) => [
    r.scenario,
    r.metric,
    r.value === null || r.value === undefined ? '—' : Number(r.value).toLocaleString('en-US', { maximumFractionDigits: 2 }),
    r.unit,
    r.target,
    r.pass === true ? 'ok' : r.pass === false ? 'MISS' : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => String(c[i]).length)));
  const line = (c) => c.map((v, i) => (i === 2 ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

async function main() {
  const adminToken = randomBytes(24).toString('hex');
  const started = new Date();
  const loadBefore = os.loadavg();
  process.stderr.write('Bundling the Worker and starting workerd (Miniflare, no wrangler dev proxy)…\n');
  const rt = await startRuntime(adminToken);
  const { url, miniflareVersion, state } = rt;
  const cleanup = async () => {
    closeConnections();
    await rt.dispose();
    rmSync(state.dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => cleanup().finally(() => process.exit(130)));
  let rows = [];
  try {
    process.stderr.write(`workerd listening on ${url}\n`);
    if (process.argv.includes('--peer')) {
      rows = rows.concat(await peerComparison({ url, adminToken, newTenant, quiesce, stateKind: STATE }));
    } else {
      if (!only || only.includes('builtin')) rows = rows.concat(await builtIn(url, adminToken));
      rows = rows.concat(await pluggedIn(url, adminToken));
    }
  } finally {
    await cleanup();
  }
  const result = {
    started_at: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    server: SERVER === 'start' ? "npm start's runtime (assets beside the Worker, wrangler.toml [vars] incl. LOG_REQUESTS, rate limit off)" : "the bench's own (no [assets], LOG_REQUESTS=false, rate limit off)",
    runtime: `workerd via Miniflare ${miniflareVersion} API (src/dev/runtime.mjs, no wrangler dev proxy, ${VIA_ENTRY ? "through Miniflare's entry worker" : "on the Worker's own socket"}), loopback HTTP/1.1 keep-alive; local state on ${state.kind}`,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadavg_before: loadBefore.map((v) => round(v)), loadavg_after: os.loadavg().map((v) => round(v)) },
    settings: { seconds_per_load: SECONDS, warmup_seconds: WARMUP_SECONDS, connections: CONNECTIONS },
    results: rows,
  };
  console.log(`\nEventline bench — server measured: ${result.server}\n${result.runtime}`);
  console.log(`${result.machine.cpus} CPUs (${result.machine.cpu}), Node ${result.machine.node}, load average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}\n`);
  console.log(table(rows));
  const dir = path.join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${JSON.stringify(result, null, 2)}`);
  console.log(`\nWritten to ${path.relative(root, file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
