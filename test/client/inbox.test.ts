import { describe, expect, it } from 'vitest';
import { EventlineInbox, type EventlineInboxOptions } from '../../packages/client/src/inbox';
import type { ConnectionState, TimelineEntry } from '../../packages/client/src/realtime';
import { BASE, call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';
import { FetchWebSocket } from '../support/fetch-websocket';

async function inboxToken(t: Tenant, agentId = uuid(), ttlSeconds = 3600): Promise<string> {
  const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { role: 'agent', agent_id: agentId, name: 'Ada', scope: 'inbox', ttl_seconds: ttlSeconds } });
  expect(res.status).toBe(201);
  return (await json<{ token: string }>(res)).token;
}

async function append(t: Tenant, contactId: string, n: number): Promise<TimelineEntry> {
  const res = await call('POST', `/api/v1/contacts/${contactId}/events`, {
    key: t.key,
    body: { event_type: 'note_added', category: 'note', source: 'agent', title: `note ${n}` },
  });
  expect(res.status).toBe(201);
  return json<TimelineEntry>(res);
}

/** An inbox client through the Worker's own fetch handler, with what it hands over recorded per contact. */
function inbox(options: Omit<EventlineInboxOptions, 'WebSocket'>) {
  const client = new EventlineInbox({ baseUrl: BASE, WebSocket: FetchWebSocket, ...options });
  const seen = new Map<string, number[]>();
  const unread = new Map<string, number>();
  const caughtUp: string[] = [];
  const states: ConnectionState[] = [];
  client.on('event', (e, { contact_id }) => seen.set(contact_id, [...(seen.get(contact_id) ?? []), e.sequence_number]));
  client.on('unread', (u) => unread.set(u.contact_id, u.unread));
  client.on('caught_up', (c) => caughtUp.push(c.contact_id));
  client.on('state', (s) => states.push(s));
  return { client, seen, unread, caughtUp, states };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const socketsOf = (token: string) => FetchWebSocket.opened.filter((ws) => ws.url.includes(token.slice(-16))).length;

describe('inbox client against the real server', () => {
  it('watches many contacts on one socket: each contact\'s history, then live entries, once and in order', async () => {
    const t = await newTenant();
    const contacts = Array.from({ length: 6 }, () => uuid());
    for (const c of contacts) for (let i = 1; i <= 3; i++) await append(t, c, i);
    const token = await inboxToken(t);
    const { client, seen, unread, caughtUp, states } = inbox({ token, contacts });
    client.connect();
    await eventually(async () => caughtUp.length === contacts.length);
    for (const c of contacts) await append(t, c, 4);
    await eventually(async () => contacts.every((c) => seen.get(c)?.length === 4));
    for (const c of contacts) {
      expect(seen.get(c)).toEqual([1, 2, 3, 4]);
      expect(client.lastSequence(c)).toBe(4);
    }
    await eventually(async () => contacts.every((c) => unread.get(c) === 4));
    expect(states).toContain('open');
    expect(socketsOf(token)).toBe(1);
    client.close();
    expect(client.state).toBe('closed');
  });

  it('subscribes every contact again with its own resume point after each reconnect: no gap, no repeat', async () => {
    const t = await newTenant();
    const contacts = Array.from({ length: 4 }, () => uuid());
    const token = await inboxToken(t);
    const { client, seen, states } = inbox({ token, contacts, backoff: { initialMs: 5, maxMs: 30 } });
    client.connect();
    await eventually(async () => client.state === 'open');
    const perContact = 12;
    for (let i = 1; i <= perContact; i++) {
      for (const c of contacts) await append(t, c, i);
      if (i % 4 === 2) client.disconnect();
    }
    await eventually(async () => contacts.every((c) => (seen.get(c)?.length ?? 0) >= perContact), { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    for (const c of contacts) expect(seen.get(c)).toEqual(range(1, perContact));
    expect(states.filter((s) => s === 'reconnecting').length).toBeGreaterThanOrEqual(3);
    expect(socketsOf(token)).toBeGreaterThanOrEqual(4);
    client.close();
  });

  it('subscribes and unsubscribes on the open socket; read frames lower the unread count', async () => {
    const t = await newTenant();
    const [a, b] = [uuid(), uuid()];
    const first = await append(t, a, 1);
    await append(t, a, 2);
    await append(t, b, 1);
    const { client, seen, unread, caughtUp } = inbox({ token: await inboxToken(t), contacts: [a] });
    const reads: string[] = [];
    client.on('read', (r) => reads.push(r.id));
    client.connect();
    await eventually(async () => caughtUp.includes(a));
    expect(unread.get(a)).toBe(2);

    client.subscribe(b);
    await eventually(async () => caughtUp.includes(b));
    expect(seen.get(b)).toEqual([1]);

    client.markRead(a, first.id);
    await eventually(async () => reads.includes(first.id) && unread.get(a) === 1);

    client.unsubscribe(b);
    expect([...client.contacts.keys()]).toEqual([a]);
    await new Promise((r) => setTimeout(r, 50));
    await append(t, b, 2);
    await append(t, a, 3);
    await eventually(async () => seen.get(a)?.length === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.get(b)).toEqual([1]);
    client.close();
  });

  it('hears a mark-read over HTTP: the unread count drops to 0 without a reload', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 1; i <= 3; i++) await append(t, contact, i);
    const { client, unread, caughtUp } = inbox({ token: await inboxToken(t), contacts: [contact] });
    client.connect();
    await eventually(async () => caughtUp.includes(contact));
    expect(unread.get(contact)).toBe(3);
    const res = await call('POST', `/api/v1/contacts/${contact}/events/mark-read`, { key: t.key, body: {} });
    expect(res.status).toBe(200);
    await eventually(async () => unread.get(contact) === 0);
    client.close();
  });

  it("resets a contact's resume point the server does not know, and hands over its whole history once", async () => {
    const t = await newTenant();
    const [known, stale] = [uuid(), uuid()];
    for (let i = 1; i <= 3; i++) {
      await append(t, known, i);
      await append(t, stale, i);
    }
    // An id in upper case is the same contact (the server canonicalizes UUIDs; frames name them in lower case).
    const { client, seen, caughtUp } = inbox({ token: await inboxToken(t), contacts: { [known.toUpperCase()]: 2, [stale]: 50 } });
    const resets: unknown[] = [];
    client.on('reset', (r) => resets.push(r));
    client.connect();
    await eventually(async () => caughtUp.length === 2);
    expect(resets).toEqual([{ contact_id: stale, requested_after: 50, last_sequence_number: 3 }]);
    expect(seen.get(stale)).toEqual([1, 2, 3]);
    expect(seen.get(known)).toEqual([3]);
    client.close();
  });

  it('reports a refused subscription with its contact, and subscribe asks again', async () => {
    const t = await newTenant();
    const fresh = uuid();
    const { client, seen, caughtUp } = inbox({ token: await inboxToken(t), contacts: [fresh] });
    const errors: { contact_id?: string; status: number }[] = [];
    client.on('error', (p) => errors.push({ contact_id: p.contact_id, status: p.status }));
    client.connect();
    // No timeline in this tenant yet: the server refuses the subscription, the socket stays open.
    await eventually(async () => errors.length === 1);
    expect(errors).toEqual([{ contact_id: fresh, status: 404 }]);
    expect(client.contacts.get(fresh)?.status).toBe('idle');
    await append(t, fresh, 1);
    client.subscribe(fresh);
    await eventually(async () => caughtUp.includes(fresh));
    expect(seen.get(fresh)).toEqual([1]);
    expect(client.state).toBe('open');
    client.close();
  });

  it('gives up with the server\'s problem on a contact token, without retrying', async () => {
    const t = await newTenant();
    const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { contact_id: uuid(), role: 'agent', agent_id: uuid() } });
    const { token } = await json<{ token: string }>(res);
    const { client } = inbox({ token, contacts: [uuid()], backoff: { initialMs: 5, maxMs: 10 } });
    const errors: (number | undefined)[] = [];
    client.on('error', (p) => errors.push(p.close_code));
    client.connect();
    await eventually(async () => client.state === 'closed');
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeGreaterThanOrEqual(4400);
    expect(socketsOf(token)).toBe(1);
  });
});
