#!/usr/bin/env node
// `npm run bench:cost`: the billable operations of one event of each kind, counted by the local
// Workers runtime itself, and their price (bench/prices.mjs).
//
// The runtime is bench/run.mjs's (a copy of its few lines: the wrangler-bundled Worker on workerd via
// Miniflare's API, on the Worker's own socket, local D1/Durable Objects/Queues on tmpfs) with one more
// var, COST_COUNTERS=true, which makes the Worker count (src/cost/counters.ts): D1 `meta.rows_read` /
// `rows_written` of every statement, the `rowsRead`/`rowsWritten` of every Durable Object SQL cursor,
// every call on a Durable Object stub and every alarm, every Worker request and queue consumer
// invocation, and 3 queue operations (write, read, delete) per 64 KB of each message sent.
//
// Counts, not timings: each sample is one event appended alone to a warm hub, then the runtime is left
// until nothing moves (relay, queue consumers, projections done), so the figures do not depend on the
// machine. Every kind is sampled SAMPLES times; a kind whose samples differ is reported as an error.
// A queue batch of one message is the worst case: under load the consumers' invocations are shared.
// Two kinds are batch appends of BATCH records (one request: entries, log events), reported per record: what a batch shares.
//
// Then bytes per event in D1: N realistic events (each naming a contact, ~300 B payload, two thirds
// of a type that derives a timeline entry), D1's used pages ((page_count - freelist_count) × page_size)
// before and after.
//
// `--check` compares the counts with bench/cost-ceilings.json and exits 1 above a ceiling.
// `--events=N` sets N for the bytes figure (default 2,000; 0 skips it).
// `--breakdown=<kind>,…` (default log_event_with_contact; `all`) lists those kinds' rows written per statement.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import WebSocket from 'ws';
import { applyMigrations, bundle, root, startEventline, tempState } from '../src/dev/runtime.mjs';
import { HOSTED, PRICES, usdPerMillion } from './prices.mjs';
import { caller, closeConnections, request } from './http.mjs';

const CHECK = process.argv.includes('--check');
const EVENTS = Number(process.argv.find((a) => a.startsWith('--events='))?.slice(9) ?? 2000);
const SAMPLES = Number(process.env.COST_SAMPLES ?? 2);
// Kinds whose rows are listed per statement (`--breakdown=all` for every kind).
const BREAKDOWN_ARG = process.argv.find((a) => a.startsWith('--breakdown='))?.slice(12) ?? 'log_event_with_contact';
// Nothing counted for this long: the event's work (relay, consumers, projections) is over.
const QUIET_MS = 1500;
const FANOUT_SOCKETS = 10;
const BATCH = 100;
// The hub's relay safety alarm fires this long after an append (src/hub/outbox.ts SAFETY_ALARM_MS).
const SAFETY_ALARM_MS = 5000;

// ---------------------------------------------------------------- the runtime (src/dev/runtime.mjs, as npm start and npm run bench)

// Miniflare's synchronous proxy (what mf.getD1Database's prepare() goes through) has been seen, rarely,
// to fail an assertion while the migrations are applied: the runtime is started afresh once.
async function startRuntime(adminToken, attempts = 2) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startRuntimeOnce(adminToken);
    } catch (error) {
      if (attempt >= attempts) throw error;
      console.error(`runtime start failed (attempt ${attempt} of ${attempts}), starting afresh: ${error?.stack ?? error}`);
    }
  }
}

async function startRuntimeOnce(adminToken) {
  const stateDir = tempState('tmpfs').dir;
  const rt = await startEventline({
    persistRoot: stateDir,
    assets: false,
    // The Worker's own log lines (queue batches, crons) are not the bench's output.
    stdio(stdout, stderr) { stdout.resume(); stderr.pipe(process.stderr); },
    bindings: {
      ADMIN_TOKEN: adminToken,
      TOKEN_SIGNING_SECRET: randomBytes(24).toString('hex'),
      // The per-key limiter's leases depend on time windows: off, so the counts are the event's own.
      RATE_LIMIT_PER_MINUTE: '0',
      ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
      LOG_REQUESTS: 'false',
      COST_COUNTERS: 'true',
    },
    bundled: bundle({ entry: path.join(root, 'src', 'index.ts') }),
  });
  try {
    await applyMigrations(rt.mf);
    return { ...rt, db: await rt.mf.getD1Database('DB'), stateDir };
  } catch (error) {
    await rt.dispose().catch(() => {});
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------- counting

const COUNTERS = ['d1_rows_written', 'do_rows_written', 'do_alarm_sets', 'd1_rows_read', 'do_rows_read', 'd1_queries', 'do_requests', 'worker_requests', 'queue_invocations', 'queue_ops'];

async function counters(url, reset = false) {
  const res = await request(url, reset ? 'POST' : 'GET', '/__cost');
  if (res.status !== 200) throw new Error(`/__cost: ${res.status} (is COST_COUNTERS set?)`);
  return JSON.parse(res.text);
}

/**
 * Waits until no counter moved for QUIET_MS and at least `minMs` have passed since `from`, then
 * returns the totals (and zeroes them).
 */
async function settle(url, from = performance.now(), minMs = 0) {
  let last = JSON.stringify(await counters(url));
  let quietSince = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const now = JSON.stringify(await counters(url));
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= QUIET_MS && performance.now() - from >= minMs) break;
  }
  return counters(url, true);
}

/**
 * Counts one run of `act` alone (the previous one has settled, see `kinds`): everything it caused is in —
 * including the hub's safety alarm, which an append sets SAFETY_ALARM_MS later (src/hub/outbox.ts).
 */
async function measure(url, act, refresh) {
  // The Worker caches an API key for 10 s (src/http/auth.ts): one authenticated read just before,
  // left out of the count, so that no sample pays the cache's refresh (one D1 read per key, isolate
  // and 10 s: nothing per event).
  await refresh();
  await counters(url, true);
  const from = performance.now();
  await act();
  return settle(url, from, SAFETY_ALARM_MS + 500);
}

const minus = (a, b) => Object.fromEntries(COUNTERS.map((k) => [k, a[k] - b[k]]));


// ---------------------------------------------------------------- the mix

// Every event of the mix happens at the run's start: the rollups' hourly buckets the warm-up creates are
// the ones every sample counts into, even when the clock passes an hour during the run (a sample that
// opened a new hour's bucket would write its row and primary-key entry, 2 rows instead of 1).
const AT = new Date().toISOString();
const note = (contactId, i) => ({ event_type: 'note.added', timestamp: AT, source: 'manual', contact_id: contactId, payload: { i, text: 'Called about the renewal' } });

function openSocket(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error('socket did not become ready')), 15_000);
    ws.on('error', () => reject(new Error('socket error')));
    ws.on('message', (data) => {
      if (JSON.parse(data.toString()).type === 'ready') {
        clearTimeout(timer);
        resolve(ws);
      }
    });
  });
}

let refreshKey = async () => undefined;

async function sampled(url, act) {
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) samples.push(await measure(url, () => act(i), refreshKey));
  return samples;
}

async function kinds(url, adminToken) {
  const admin = caller(url, adminToken);
  const created = await admin('POST', '/api/v1/admin/tenants', { name: 'cost' });
  const call = caller(url, created.api_key.key);
  refreshKey = () => call('GET', '/api/v1/settings');
  const contact = randomUUID();
  const stream = `order-${randomUUID()}`;
  const fanContact = randomUUID();
  const receiptContact = randomUUID();
  // A webhook receiver on loopback, subscribed to invoice.* (order.* events match no subscription).
  const received = [];
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(Date.now());
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const sockets = [];
  const out = {};
  try {
    await call('POST', '/api/v1/webhooks', { name: 'cost', url: `http://127.0.0.1:${receiver.address().port}/hook`, events: ['invoice.*'], retry_count: 0 });
    // Warm: the hubs exist, the API key is cached, the first-time work of each path is done, the
    // sockets are open; then one settle long enough for every safety alarm the warm-up set.
    await call('POST', '/api/v1/events', note(contact, -1));
    await call('POST', '/api/v1/events', { event_type: 'order.noted', timestamp: AT, source: 'system', payload: { i: -1 } });
    await call('POST', '/api/v1/events', { event_type: 'invoice.noted', timestamp: AT, source: 'system', payload: { i: -1 } });
    await call('POST', `/api/v1/contacts/${contact}/events`, { event_type: 'note_added', occurred_at: AT, category: 'note', source: 'agent', title: 'warm' });
    await call('POST', `/api/v1/streams/${stream}/events`, { events: [{ event_type: 'order.placed', timestamp: AT, payload: { i: -1 } }] });
    await call('POST', `/api/v1/contacts/${fanContact}/events`, { event_type: 'note_added', occurred_at: AT, category: 'note', source: 'agent', title: 'warm' });
    for (let s = 0; s < FANOUT_SOCKETS; s++) {
      const t = await call('POST', '/api/v1/realtime/tokens', { contact_id: fanContact, role: 'agent', agent_id: `agent-${s}`, ttl_seconds: 600 });
      sockets.push(await openSocket(t.url));
    }
    let frames = 0;
    for (const ws of sockets) ws.on('message', (d) => (frames += JSON.parse(d.toString()).type === 'event' ? 1 : 0));
    await settle(url, performance.now(), SAFETY_ALARM_MS + 500);

    out.log_event_with_contact = await sampled(url, (i) => call('POST', '/api/v1/events', note(contact, i)));
    out.log_event_without_contact = await sampled(url, (i) => call('POST', '/api/v1/events', { event_type: 'order.noted', timestamp: AT, source: 'system', payload: { i } }));
    out.timeline_entry = await sampled(url, (i) =>
      call('POST', `/api/v1/contacts/${contact}/events`, { event_type: 'note_added', occurred_at: AT, category: 'note', source: 'agent', title: `Note ${i}` }),
    );
    // A batch append of BATCH entries to one contact (one request), counted per entry: the totals / BATCH.
    const perEntry = (s) => ({ ...s, ...Object.fromEntries(COUNTERS.map((k) => [k, Number((s[k] / BATCH).toFixed(2))])) });
    const batch = (i) => Array.from({ length: BATCH }, (_, k) => ({ event_type: 'note_added', occurred_at: AT, category: 'note', source: 'agent', title: `Batch ${i}.${k}` }));
    out[`timeline_entry_in_a_batch_of_${BATCH}`] = (await sampled(url, (i) => call('POST', `/api/v1/contacts/${contact}/events/batch`, { events: batch(i) }))).map(perEntry);
    // A batch of BATCH log events naming the contact (each deriving an entry), counted per event.
    const notes = (i) => Array.from({ length: BATCH }, (_, k) => note(contact, `${i}.${k}`));
    out[`log_event_with_contact_in_a_batch_of_${BATCH}`] = (await sampled(url, (i) => call('POST', '/api/v1/events/batch', { events: notes(i) }))).map(perEntry);
    out.stream_append = await sampled(url, (i) => call('POST', `/api/v1/streams/${stream}/events`, { events: [{ event_type: 'order.placed', timestamp: AT, payload: { i } }] }));
    // A webhook delivery: the same kind of event with one matching subscription, minus it without.
    const withHook = await sampled(url, (i) => call('POST', '/api/v1/events', { event_type: 'invoice.noted', timestamp: AT, source: 'system', payload: { i } }));
    if (received.length !== SAMPLES + 1) throw new Error(`the receiver got ${received.length} deliveries, expected ${SAMPLES + 1}`);
    // A counter that varied in either kind's samples varies in their difference too.
    const variedIn = (samples) => COUNTERS.filter((c) => samples.some((x) => x[c] !== samples[0][c]));
    const inputsVaried = [...new Set([...variedIn(withHook), ...variedIn(out.log_event_without_contact)])];
    out.webhook_delivery = withHook.map((s, k) => ({ ...minus(s, out.log_event_without_contact[k]), inputsVaried }));
    // One timeline entry to a contact with 10 agent sockets open (the entry's cost and its fan-out).
    out.entry_fanned_out_to_10_sockets = await sampled(url, (i) =>
      call('POST', `/api/v1/contacts/${fanContact}/events`, { event_type: 'note_added', occurred_at: AT, category: 'note', source: 'agent', title: `Fan ${i}` }),
    );
    if (frames !== SAMPLES * FANOUT_SOCKETS) throw new Error(`the sockets got ${frames} event frames, expected ${SAMPLES * FANOUT_SOCKETS}`);
    // Receipts: realtime entries appended before the window (after the kinds above, so that their
    // hub's timer-driven work is not counted there), then acknowledged and read on an agent's socket.
    const receiptEntries = [];
    for (let i = 0; i < SAMPLES; i++) {
      receiptEntries.push(
        await call('POST', `/api/v1/contacts/${receiptContact}/events`, { event_type: 'note_added', occurred_at: AT, category: 'note', source: 'agent', title: `Receipt ${i}`, is_realtime: true }),
      );
    }
    const rt = await call('POST', '/api/v1/realtime/tokens', { contact_id: receiptContact, role: 'agent', agent_id: 'agent-receipts', ttl_seconds: 600 });
    const receiptSocket = await openSocket(rt.url);
    sockets.push(receiptSocket);
    await settle(url, performance.now(), SAFETY_ALARM_MS + 500);
    // One entry delivered (`ack`) and read (`read`) on a socket: the hub's two receipts, to D1 and webhooks.
    out.entry_delivered_and_read_on_socket = await sampled(url, (i) => {
      const entry = receiptEntries[i];
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no read frame for the entry')), 15_000);
        const onFrame = (d) => {
          const f = JSON.parse(d.toString());
          if (f.type !== 'read' || f.id !== entry.id) return;
          clearTimeout(timer);
          receiptSocket.off('message', onFrame);
          resolve();
        };
        receiptSocket.on('message', onFrame);
        receiptSocket.send(JSON.stringify({ type: 'ack', sequence_number: entry.sequence_number }));
        receiptSocket.send(JSON.stringify({ type: 'read', id: entry.id }));
      });
    });
  } finally {
    receiver.close();
    for (const ws of sockets) ws.terminate();
  }
  return out;
}

// ---------------------------------------------------------------- bytes per event in D1

/**
 * D1's used bytes, (page_count - freelist_count) × page_size summed over the local database files (the
 * control database and every shard), read with Python's sqlite3 (D1 refuses these PRAGMAs; Node 20 has
 * no SQLite). A WAL reader sees what workerd has committed. Null without python3.
 */
function usedBytes(stateDir) {
  const dir = path.join(stateDir, 'd1', 'miniflare-D1DatabaseObject');
  const files = readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  const py = `import sqlite3,sys\nt=0\nfor f in sys.argv[1:]:\n  c=sqlite3.connect(f)\n  q=lambda p:c.execute('PRAGMA '+p).fetchone()[0]\n  t+=(q('page_count')-q('freelist_count'))*q('page_size')\nprint(t)`;
  const r = spawnSync('python3', ['-c', py, ...files.map((f) => path.join(dir, f))], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

async function bytesPerEvent(url, adminToken, stateDir, n) {
  const admin = caller(url, adminToken);
  const created = await admin('POST', '/api/v1/admin/tenants', { name: 'cost-bytes' });
  const call = caller(url, created.api_key.key);
  const contacts = Array.from({ length: 200 }, () => randomUUID());
  const filler = 'x'.repeat(200);
  const event = (i) => {
    const contact_id = contacts[i % contacts.length];
    // Two thirds note.added (derives a timeline entry), one third message.sent (derives none).
    const event_type = i % 3 === 2 ? 'message.sent' : 'note.added';
    return { event_type, source: 'system', contact_id, payload: { i, channel: 'email', subject: `Renewal ${i}`, body: filler } };
  };
  await settle(url);
  const before = usedBytes(stateDir);
  const BATCH = 100;
  for (let i = 0; i < n; i += BATCH * 2) {
    await Promise.all(
      [i, i + BATCH].filter((s) => s < n).map((s) => call('POST', '/api/v1/events/batch', { events: Array.from({ length: Math.min(BATCH, n - s) }, (_, k) => event(s + k)) })),
    );
  }
  await settle(url);
  const after = usedBytes(stateDir);
  if (before === null || after === null) return null;
  return { events: n, bytes: after - before, per_event: (after - before) / n, payload_bytes: JSON.stringify(event(0).payload).length };
}

// ---------------------------------------------------------------- where the rows go

const WRITE_TARGET = /^(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+[`"]?(\w+)/i;

/** What each table keeps per row besides itself: its indexes (D1's from sqlite_master, the hub's from its schema). */
async function indexLists(db) {
  const out = { d1: {}, do: {} };
  const { results } = await db.prepare(`SELECT tbl_name, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') ORDER BY tbl_name, name`).all();
  for (const r of results) {
    const partial = /\bWHERE\b(.*)$/is.exec(r.sql ?? '')?.[1]?.trim();
    const label = r.sql === null ? `${r.name} (primary key / UNIQUE)` : /^CREATE TRIGGER/i.test(r.sql) ? `trigger ${r.name}` : partial ? `${r.name} WHERE ${partial}` : r.name;
    (out.d1[r.tbl_name] ??= []).push(label);
  }
  const hub = readFileSync(path.join(root, 'src', 'hub', 'storage.ts'), 'utf8');
  for (const m of hub.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(([^`]*)\)`/g)) {
    const uniques = [...m[2].matchAll(/^\s*(\w+) [A-Z ]*\b(UNIQUE|PRIMARY KEY)\b/gm)].filter((u) => !/INTEGER PRIMARY KEY/.test(u[0])).map((u) => `${u[1]} ${u[2]}`);
    out.do[m[1]] = uniques;
  }
  for (const m of hub.matchAll(/CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+) ON (\w+) \(([^)]*)\)([^`]*)`/g)) (out.do[m[2]] ??= []).push(`${m[1]} (${m[3]})${m[4].trim() ? ` ${m[4].trim()}` : ''}`);
  return out;
}

/** Rows written per statement of one kind, with the target table's indexes: every row accounted for. */
function breakdown(name, c, indexes) {
  const lines = [`\nwhere ${name}'s rows go (rows written per statement; a table row plus one per index entry, trigger and FTS row):`];
  const entries = Object.entries(c.writes).sort((a, b) => a[0].localeCompare(b[0]));
  for (const store of ['d1', 'do']) {
    let sum = 0;
    for (const [key, w] of entries.filter(([k]) => k.startsWith(`${store} `))) {
      const query = key.slice(store.length + 1);
      const table = WRITE_TARGET.exec(query)?.[1] ?? '?';
      sum += w.rows_written;
      lines.push(`  ${store === 'd1' ? 'D1 ' : 'hub'} ${String(w.rows_written).padStart(3)} rows  ${w.statements}× ${table.padEnd(22)} ${query.slice(0, 110)}`);
      // A Durable Object's setAlarm is billed as one row written (it names no table).
      if (table !== '?') lines.push(`  ${' '.repeat(14)}indexes of ${table}: ${(indexes[store][table] ?? []).join('; ') || 'none'}`);
    }
    lines.push(`  ${store === 'd1' ? 'D1 ' : 'hub'} ${String(sum).padStart(3)} rows in all (counter: ${c[store === 'd1' ? 'd1_rows_written' : 'do_rows_written']})`);
    if (store === 'do') lines.push(`  DOs ${String(c.do_alarm_sets).padStart(3)} setAlarm on any Durable Object (hub, relay batcher, projection runner; each billed as a row written; the highest sample)`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- output

// Rows written, queue operations and Worker requests are exact: every sample must agree. Reads and
// Durable Object requests include the hub's timer-driven alarm work (relay safety alarm, key checks),
// which a sample window may catch once more than another: the highest sample is reported and the
// kind is marked `varied` when they differ.
const EXACT = ['d1_rows_written', 'do_rows_written', 'worker_requests', 'queue_invocations', 'queue_ops'];

function exact(name, samples) {
  if (process.env.COST_DEBUG) console.error(name, samples.map((s) => JSON.stringify(s)).join('\n'));
  for (const k of EXACT) {
    if (samples.some((s) => s[k] !== samples[0][k])) throw new Error(`${name}: the samples differ in ${k}: ${samples.map((s) => JSON.stringify(s)).join(' | ')}`);
  }
  const out = Object.fromEntries(COUNTERS.map((k) => [k, Math.max(...samples.map((s) => s[k]))]));
  out.writes = samples[0].writes ?? {};
  out.varied = COUNTERS.filter((k) => samples.some((s) => s[k] !== samples[0][k] || s.inputsVaried?.includes(k)));
  return out;
}

function table(rows) {
  const head = ['kind', ...COUNTERS, 'usd/M', 'varied'];
  const cells = rows.map(([k, c]) => [k, ...COUNTERS.map((n) => String(c[n])), c.usd_per_million.toFixed(4), c.varied.join(',') || '-']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => String(c[i]).length)));
  const line = (c) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

async function main() {
  const adminToken = randomBytes(24).toString('hex');
  process.stderr.write('Bundling the Worker and starting workerd (Miniflare, COST_COUNTERS=true)…\n');
  const rt = await startRuntime(adminToken);
  let result;
  let bytes = null;
  let indexes;
  try {
    const raw = await kinds(rt.url, adminToken);
    indexes = await indexLists(rt.db);
    result = Object.entries(raw).map(([k, samples]) => {
      const c = exact(k, samples);
      // A queue consumer's invocation is billed as a Worker request, a setAlarm as a row written.
      const priced = { ...c, worker_requests: c.worker_requests + c.queue_invocations, do_rows_written: c.do_rows_written + c.do_alarm_sets };
      return [k, { ...c, usd_per_million: usdPerMillion(priced) }];
    });
    if (EVENTS > 0) bytes = await bytesPerEvent(rt.url, adminToken, rt.stateDir, EVENTS);
  } finally {
    closeConnections();
    await rt.dispose();
    rmSync(rt.stateDir, { recursive: true, force: true });
  }
  console.log(`\nEventline cost of an event — counts from the local runtime, ${SAMPLES} samples per kind (rows written, queue ops and requests identical in all)`);
  console.log(`prices: Workers Paid list prices as known on ${PRICES.as_known_on} (${PRICES.status}), bench/prices.mjs\n`);
  console.log(table(result));
  console.log('\nworker_requests: HTTP requests; queue_invocations: consumer batches (one message each here, billed as Worker requests and in usd/M).');
  console.log('varied: counters whose samples differed (timer-driven hub alarm work); the highest is shown.');
  console.log('do_alarm_sets: setAlarm calls, billed as Durable Object rows written (in usd/M), apart from the exact SQL rows.');
  console.log('webhook_delivery is the same log event with one matching subscription minus it without one (a varied counter of either is varied in it, and may come out negative).');
  const total = (k) => result.find(([n]) => n === k)[1];
  const BREAKDOWN = BREAKDOWN_ARG === 'all' ? result.map(([k]) => k) : BREAKDOWN_ARG.split(',').filter(Boolean);
  const lec = total('log_event_with_contact');
  for (const k of BREAKDOWN) console.log(breakdown(k, total(k), indexes));
  console.log(`\nlog_event_with_contact rows written, D1 + hub: ${lec.d1_rows_written} + ${lec.do_rows_written} = ${lec.d1_rows_written + lec.do_rows_written}, and ${lec.do_alarm_sets} setAlarm billed as a row`);
  console.log(`log_event_with_contact: $${lec.usd_per_million.toFixed(2)} per million events; hosted services of the same kind, per million messages (bench/prices.mjs):`);
  for (const h of HOSTED) console.log(`  ${h.service.padEnd(36)} ${h.usd_per_million === null ? 'not found' : `$${h.usd_per_million.toFixed(2)}`}  (${h.what})`);
  if (bytes) console.log(`D1 bytes per event: ${bytes.per_event.toFixed(1)} (${bytes.bytes} bytes of used pages over ${bytes.events} events naming a contact, ${bytes.payload_bytes} B payload, 2/3 deriving an entry)`);
  const kindsJson = Object.fromEntries(
    result.map(([k, c]) => [
      k,
      {
        d1_rows_written: c.d1_rows_written,
        do_rows_written: c.do_rows_written,
        do_alarm_sets: c.do_alarm_sets,
        d1_rows_read: c.d1_rows_read,
        do_rows_read: c.do_rows_read,
        do_requests: c.do_requests,
        worker_requests: c.worker_requests + c.queue_invocations,
        queue_ops: c.queue_ops,
        usd_per_million: Number(c.usd_per_million.toFixed(4)),
      },
    ]),
  );
  let failed = false;
  if (CHECK) {
    const ceilings = JSON.parse(readFileSync(path.join(root, 'bench', 'cost-ceilings.json'), 'utf8'));
    for (const [k, c] of Object.entries(kindsJson)) {
      for (const [n, max] of Object.entries(ceilings[k] ?? {})) {
        if (c[n] > max) {
          failed = true;
          console.log(`CEILING: ${k}.${n} = ${c[n]} > ${max}`);
        }
      }
    }
    console.log(failed ? 'cost check: FAILED' : 'cost check: ok (bench/cost-ceilings.json)');
  }
  console.log(JSON.stringify({ kinds: kindsJson, d1_bytes_per_event: bytes ? Number(bytes.per_event.toFixed(1)) : null }));
  if (failed) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
