// Inbox figures for `npm run bench`: one agent's inbox socket (GET /api/v1/inbox/stream) on 200 contacts.
//  1. open: a new inbox socket subscribes 200 contacts with 20 unread entries each (after=0), timed from
//     the socket's creation until every contact's `caught_up` arrived (each of its entries received);
//  2. append → frame: entries appended one at a time across the 200 contacts (POST
//     /api/v1/contacts/{contact_id}/events, round robin), each timed from the request until its `event`
//     frame arrives on the inbox socket.
// Sockets are `ws` clients without permessage-deflate, as in the realtime scenario (the Worker declines it).
import WebSocket from 'ws';
import { percentile, round } from '../lib.mjs';

export const name = 'inbox';

const CONTACTS = 200;
const UNREAD_PER_CONTACT = 20;
const OPEN_RUNS = 3;
const LATENCY_SAMPLES = 1000;
const LATENCY_WARMUP = 30;
const STEP_TIMEOUT_MS = 30_000;

const note = (i) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: `Inbox note ${i}`, payload: { i } });

/** One inbox socket: `ready` resolves `opened`; every frame goes to `onFrame(frame, now)`. */
class InboxSocket {
  constructor(url, onFrame) {
    this.ws = new WebSocket(url, { perMessageDeflate: process.env.BENCH_WS_DEFLATE === '1' });
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('error', (e) => reject(new Error(`inbox socket error: ${e.message}`)));
      this.ws.on('close', (code) => reject(new Error(`inbox socket closed: ${code}`)));
      this.ws.on('message', (data) => {
        const now = performance.now();
        const frame = JSON.parse(data.toString());
        if (frame.type === 'ready') resolve(frame);
        else if (frame.type === 'error') reject(new Error(`inbox error frame: ${JSON.stringify(frame.problem)}`));
        else onFrame(frame, now);
      });
    });
  }

  subscribe(contactId, after) {
    this.ws.send(JSON.stringify({ type: 'subscribe', contact_id: contactId, after }));
  }

  close() {
    this.ws.removeAllListeners('close');
    this.ws.close();
  }
}

/** `promise`, or a rejection naming `what` once STEP_TIMEOUT_MS have passed. */
function bounded(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function inboxUrl(call, agentId) {
  const t = await call('POST', '/api/v1/realtime/tokens', { role: 'agent', agent_id: agentId, name: 'Bench Agent', scope: 'inbox', ttl_seconds: 600 });
  return t.url;
}

/** Opens a fresh inbox on every contact from the start; ms until each one is caught up with all its entries. */
async function openInbox(call, contacts, run) {
  const url = await inboxUrl(call, `bench-inbox-open-${run}`);
  const received = new Map(contacts.map((c) => [c, 0]));
  const unread = new Map();
  let left = contacts.length;
  let finish;
  const done = new Promise((resolve, reject) => (finish = { resolve, reject }));
  const t0 = performance.now();
  const socket = new InboxSocket(url, (frame, now) => {
    if (frame.type === 'subscribed') unread.set(frame.contact_id, frame.unread);
    else if (frame.type === 'event') received.set(frame.contact_id, received.get(frame.contact_id) + 1);
    else if (frame.type === 'caught_up') {
      if (received.get(frame.contact_id) !== UNREAD_PER_CONTACT) finish.reject(new Error(`contact caught up with ${received.get(frame.contact_id)} entries`));
      left -= 1;
      if (left === 0) finish.resolve(now);
    }
  });
  try {
    await bounded(socket.opened, 'inbox ready');
    for (const c of contacts) socket.subscribe(c, 0);
    const t1 = await bounded(done, `${contacts.length} contacts caught up`);
    const wrongUnread = contacts.filter((c) => unread.get(c) !== UNREAD_PER_CONTACT).length;
    if (wrongUnread) throw new Error(`${wrongUnread} contacts subscribed with an unread count other than ${UNREAD_PER_CONTACT}`);
    return t1 - t0;
  } finally {
    socket.close();
  }
}

/** Sequential appends, round robin across the contacts, each timed until its frame reaches the inbox. */
async function appendToFrame(call, contacts) {
  const url = await inboxUrl(call, 'bench-inbox-latency');
  const waiting = new Map();
  let caughtUp = 0;
  let allCaughtUp;
  const ready = new Promise((resolve) => (allCaughtUp = resolve));
  const socket = new InboxSocket(url, (frame, now) => {
    if (frame.type === 'caught_up' && ++caughtUp === contacts.length) allCaughtUp();
    else if (frame.type === 'event') waiting.get(frame.entry.payload.i)?.(now);
  });
  const samples = [];
  try {
    await bounded(socket.opened, 'inbox ready');
    // Subscribed after what the contacts hold: only the appends below arrive.
    for (const c of contacts) socket.subscribe(c, UNREAD_PER_CONTACT);
    await bounded(ready, 'subscriptions in effect');
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
      const arrived = new Promise((resolve) => waiting.set(i, resolve));
      const t0 = performance.now();
      await call('POST', `/api/v1/contacts/${contacts[i % contacts.length]}/events`, note(i));
      const t1 = await bounded(arrived, `frame of append ${i}`);
      waiting.delete(i);
      if (i >= LATENCY_WARMUP) samples.push(t1 - t0);
    }
    return samples;
  } finally {
    socket.close();
  }
}

/** ctx: { url, key, adminToken, tenantId, call(method, path, body) → parsed JSON, quiesce() } */
export async function run(ctx) {
  const { call } = ctx;
  const contacts = Array.from({ length: CONTACTS }, () => crypto.randomUUID());
  for (let i = 0; i < contacts.length; i += 16) {
    await Promise.all(
      contacts.slice(i, i + 16).map((c) => call('POST', `/api/v1/contacts/${c}/events/batch`, { events: Array.from({ length: UNREAD_PER_CONTACT }, (_, k) => note(k)) })),
    );
  }
  // The relay and consumers of those 4,000 appends finish first: the figure is an open, not a race with them.
  await ctx.quiesce?.();
  const opens = [];
  for (let r = 0; r < OPEN_RUNS; r++) opens.push(await openInbox(call, contacts, r));
  await ctx.quiesce?.();
  const latency = await appendToFrame(call, contacts);
  const worstOpen = Math.max(...opens);
  return [
    { metric: `open ${CONTACTS} contacts × ${UNREAD_PER_CONTACT} unread until all caught up (worst of ${OPEN_RUNS})`, value: round(worstOpen), unit: 'ms', target: '≤ 1000 ms', pass: worstOpen <= 1000 },
    { metric: `open ${CONTACTS} contacts (best of ${OPEN_RUNS})`, value: round(Math.min(...opens)), unit: 'ms' },
    { metric: `append → inbox frame p50 (${CONTACTS} contacts, n=${latency.length})`, value: round(percentile(latency, 50)), unit: 'ms', target: '≤ 5 ms', pass: percentile(latency, 50) <= 5 },
    { metric: 'append → inbox frame p99', value: round(percentile(latency, 99)), unit: 'ms', target: '≤ 25 ms', pass: percentile(latency, 99) <= 25 },
  ];
}
