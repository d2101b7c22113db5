// Realtime figures for `npm run bench`.
//  1. append → frame received on a subscribed agent socket (p50, p99);
//  2. one append fanned out to 1,000 sockets on one contact: time until the last socket has it;
//  3. resume: a socket connecting with after=0 to a contact with 10,000 entries receives them all.
// Appends go through POST /api/v1/events with a type that has a timeline mapping (note.added), so
// each one commits a log event and its derived timeline entry (agent-visible) in the contact's hub.
// Loops are bounded by count and by time; everything talks to the loopback Worker only.
//
// Sockets are `ws` clients that do not offer permessage-deflate. The Worker declines it
// (`no_web_socket_compression` in wrangler.toml, docs/realtime.md), so a browser gets uncompressed
// frames; so does the bench on the Worker's own socket. Through Miniflare's entry worker (`--via-entry`)
// the offer would be accepted whatever the Worker's flags say, and the per-message inflate then costs
// the client about 0.1 ms per frame. BENCH_WS_DEFLATE=1 makes the sockets offer it (for comparison).
import WebSocket from 'ws';
import { percentile, round } from '../lib.mjs';

export const name = 'realtime';

// p99 of 1,000 samples is their 10th worst: one GC pause or one analytics batch does not decide it.
const LATENCY_SAMPLES = 1000;
const LATENCY_WARMUP = 30;
const FANOUT_SOCKETS = 1000;
const FANOUT_ROUNDS = 30;
const RESUME_ENTRIES = 10_000;
const RESUME_RUNS = 3;
const STEP_TIMEOUT_MS = 30_000;


/** Opens a socket, resolves once `ready` arrived; `onEvent(frame, now)` sees every event frame. */
function open(url, onEvent) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: process.env.BENCH_WS_DEFLATE === '1' });
    const timer = setTimeout(() => reject(new Error('socket did not become ready')), STEP_TIMEOUT_MS);
    ws.on('error', () => reject(new Error('socket error')));
    ws.on('message', (data) => {
      const now = performance.now();
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ready') {
        clearTimeout(timer);
        resolve(ws);
      } else if (frame.type === 'event') onEvent(frame, now);
    });
  });
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

function within(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer));
}

async function streamUrl(call, contactId, agentId, after) {
  const t = await call('POST', '/api/v1/realtime/tokens', { contact_id: contactId, role: 'agent', agent_id: agentId, ttl_seconds: 600 });
  return after === undefined ? t.url : `${t.url}&after=${after}`;
}

const note = (contactId, i) => ({ id: crypto.randomUUID(), event_type: 'note.added', source: 'manual', contact_id: contactId, payload: { i } });

/**
 * Sequential appends to one contact, each timed until its frame arrives. With `clientIds` every append
 * carries its own id, which costs a D1 read in the Worker (an id already used with another contact is
 * a 409); without, the hub chooses the id and frames are matched by payload.
 */
async function appendLatency(call, clientIds) {
  const contact = crypto.randomUUID();
  const waiting = new Map();
  const ws = await open(await streamUrl(call, contact, 'bench-latency'), (frame, now) => {
    waiting.get(frame.entry.payload.i)?.resolve(now);
  });
  const samples = [];
  try {
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
      const body = note(contact, i);
      if (!clientIds) delete body.id;
      const arrived = deferred();
      waiting.set(i, arrived);
      const t0 = performance.now();
      await call('POST', '/api/v1/events', body);
      const t1 = await within(arrived.promise, 'latency frame');
      waiting.delete(i);
      if (i >= LATENCY_WARMUP) samples.push(t1 - t0);
    }
  } finally {
    ws.close();
  }
  return samples;
}

async function fanOut(call) {
  const contact = crypto.randomUUID();
  // One token, one agent id: presence is announced once, not a thousand times.
  const url = await streamUrl(call, contact, 'bench-fanout');
  let current = null;
  const sockets = [];
  try {
    for (let i = 0; i < FANOUT_SOCKETS; i += 100) {
      sockets.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(100, FANOUT_SOCKETS - i) }, () =>
            open(url, (frame, now) => {
              if (current && frame.entry.origin_event_id === current.id) {
                current.left -= 1;
                current.last = now;
                if (current.left === 0) current.done.resolve(now);
              }
            }),
          ),
        )),
      );
    }
    const samples = [];
    for (let r = 0; r < FANOUT_ROUNDS; r++) {
      const body = note(contact, r);
      current = { id: body.id, left: sockets.length, last: 0, done: deferred() };
      const t0 = performance.now();
      await call('POST', '/api/v1/events', body);
      const t1 = await within(current.done.promise, `fan-out to ${sockets.length} sockets`);
      samples.push(t1 - t0);
    }
    return samples;
  } finally {
    for (const ws of sockets) ws.close();
  }
}

async function resume(call, quiesce) {
  const contact = crypto.randomUUID();
  for (let i = 0; i < RESUME_ENTRIES; i += 1000) {
    await call('POST', '/api/v1/events/batch', { events: Array.from({ length: 1000 }, (_, k) => note(contact, i + k)) });
  }
  // The relay, the consumers and the projections of those 10,000 appends finish first: the figure is
  // a resume against a contact that has the entries, not one competing with their relay.
  await quiesce?.();
  const runs = [];
  for (let r = 0; r < RESUME_RUNS; r++) {
    const url = await streamUrl(call, contact, `bench-resume-${r}`, 0);
    let received = 0;
    let expected = 1;
    let outOfOrder = 0;
    const done = deferred();
    const t0 = performance.now();
    const ws = await open(url, (frame, now) => {
      if (frame.sequence_number !== expected) outOfOrder += 1;
      expected = frame.sequence_number + 1;
      received += 1;
      if (received === RESUME_ENTRIES) done.resolve(now);
    });
    try {
      const t1 = await within(done.promise, `resume of ${RESUME_ENTRIES} entries`);
      if (outOfOrder) throw new Error(`resume delivered ${outOfOrder} entries out of order`);
      runs.push(t1 - t0);
    } finally {
      ws.close();
    }
  }
  return runs;
}

/** ctx: { url, key, adminToken, tenantId, call(method, path, body) → parsed JSON, quiesce() } */
export async function run(ctx) {
  const { call } = ctx;
  const latency = await appendLatency(call, false);
  const latencyIds = await appendLatency(call, true);
  const fan = await fanOut(call);
  const res = await resume(call, ctx.quiesce);
  return [
    { metric: 'append → frame p50', value: round(percentile(latency, 50)), unit: 'ms', target: '≤ 3 ms', pass: percentile(latency, 50) <= 3 },
    { metric: 'append → frame p99', value: round(percentile(latency, 99)), unit: 'ms', target: '≤ 15 ms', pass: percentile(latency, 99) <= 15 },
    { metric: 'append (client-chosen id) → frame p50', value: round(percentile(latencyIds, 50)), unit: 'ms' },
    { metric: 'append (client-chosen id) → frame p99', value: round(percentile(latencyIds, 99)), unit: 'ms' },
    { metric: `fan-out to ${FANOUT_SOCKETS} sockets p50`, value: round(percentile(fan, 50)), unit: 'ms', target: '—' },
    { metric: `fan-out to ${FANOUT_SOCKETS} sockets p99`, value: round(percentile(fan, 99)), unit: 'ms', target: '≤ 250 ms', pass: percentile(fan, 99) <= 250 },
    { metric: `resume after=0 of ${RESUME_ENTRIES} entries (worst of ${RESUME_RUNS})`, value: round(Math.max(...res)), unit: 'ms', target: '≤ 2000 ms', pass: Math.max(...res) <= 2000 },
  ];
}
