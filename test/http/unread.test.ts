import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { d1Statements } from '../../src/relay-batcher/statements';
import type { OutboxItem } from '../../src/relay-batcher/types';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { call, eventually, json, newTenant, shardOf, uuid, type Tenant } from '../support/api';
import { expectProblem } from '../support/problem';
import { connectAs } from '../support/sockets';

// Unread counts and POST /contacts/{contact_id}/events/mark-read, through the Worker and the contact's hub.

interface Counts {
  contact_id: string;
  count: number;
  unread: number;
}
interface Marked {
  contact_id: string;
  marked: number;
  read_at: string | null;
  up_to: number;
}

const note = (over: Record<string, unknown> = {}) => ({ event_type: 'note_added', category: 'note', source: 'agent', ...over });

async function add(t: Tenant, contact: string, over: Record<string, unknown> = {}): Promise<TimelineEntryRecord> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: note(over) });
  expect(res.status).toBe(201);
  return json<TimelineEntryRecord>(res);
}

const counts = async (t: Tenant, contact: string) => json<Counts>(await call('GET', `/api/v1/contacts/${contact}/events/count`, { key: t.key }));

function markRead(t: Tenant, contact: string, body?: unknown, headers?: Record<string, string>): Promise<Response> {
  return call('POST', `/api/v1/contacts/${contact}/events/mark-read`, { key: t.key, ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });
}

async function timeline(t: Tenant, contact: string): Promise<TimelineEntryRecord[]> {
  const page = await json<{ events: TimelineEntryRecord[] }>(await call('GET', `/api/v1/contacts/${contact}/events?limit=100`, { key: t.key }));
  return page.events.sort((a, b) => a.sequence_number - b.sequence_number);
}

const d1Rows = async (tenantId: string, contact: string) =>
  (
    await (await shardOf(tenantId)).prepare('SELECT id, read, read_at, revision FROM contact_events WHERE tenant_id = ? AND contact_id = ? ORDER BY sequence_number')
      .bind(tenantId, contact)
      .all<{ id: string; read: number; read_at: number | string | null; revision: number }>()
  ).results;

describe('unread count', () => {
  it('counts agent-visible unread entries right after the append, and after reads', async () => {
    const t = await newTenant();
    const contact = uuid();
    expect(await counts(t, contact)).toEqual({ contact_id: contact, count: 0, unread: 0 });
    const a = await add(t, contact);
    expect((await counts(t, contact)).unread).toBe(1);
    await add(t, contact);
    // Not visible to agents: in the count, not in the unread count.
    await add(t, contact, { visible_to_agent: false, visible_to_client: true });
    expect(await counts(t, contact)).toEqual({ contact_id: contact, count: 3, unread: 2 });
    expect((await call('POST', `/api/v1/contact-events/${a.id}/mark-read`, { key: t.key })).status).toBe(200);
    expect((await counts(t, contact)).unread).toBe(1);
    // A second read of the same entry changes nothing.
    await call('POST', `/api/v1/contact-events/${a.id}/mark-read`, { key: t.key });
    expect((await counts(t, contact)).unread).toBe(1);
  });

  it('does not count an entry that expired', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact);
    await add(t, contact, { expires_at: new Date(Date.now() + 300).toISOString() });
    expect((await counts(t, contact)).unread).toBe(2);
    await new Promise((r) => setTimeout(r, 400));
    expect(await counts(t, contact)).toMatchObject({ count: 1, unread: 1 });
  });
});

describe('POST /contacts/{contact_id}/events/mark-read', () => {
  it('marks up to a sequence number, then everything; a replay marks 0 and keeps the first read times', async () => {
    const t = await newTenant();
    const contact = uuid();
    const [e1, e2, e3, e4] = [await add(t, contact), await add(t, contact), await add(t, contact), await add(t, contact)];
    const early = await json<{ read_at: string }>(await call('POST', `/api/v1/contact-events/${e1!.id}/mark-read`, { key: t.key }));

    const res = await markRead(t, contact, { up_to: 3 });
    expect(res.status).toBe(200);
    const first = await json<Marked>(res);
    expect(first).toMatchObject({ contact_id: contact, marked: 2, up_to: 3 });
    expect(Date.parse(first.read_at!)).not.toBeNaN();
    expect((await counts(t, contact)).unread).toBe(1);
    const after = await timeline(t, contact);
    expect(after.map((e) => [e.id, e.read, e.read_at])).toEqual([
      [e1!.id, true, early.read_at],
      [e2!.id, true, first.read_at],
      [e3!.id, true, first.read_at],
      [e4!.id, false, null],
    ]);

    const replay = await json<Marked>(await markRead(t, contact, { up_to: 3 }));
    expect(replay).toEqual({ contact_id: contact, marked: 0, read_at: null, up_to: 3 });

    // No body: everything, up to the contact's last sequence number.
    const all = await json<Marked>(await markRead(t, contact));
    expect(all).toMatchObject({ marked: 1, up_to: 4 });
    expect((await counts(t, contact)).unread).toBe(0);
    // An empty body that says it is JSON means the same.
    expect(await json<Marked>(await markRead(t, contact, '', { 'content-type': 'application/json' }))).toMatchObject({ marked: 0, up_to: 4 });
    expect(await json<Marked>(await markRead(t, contact, {}))).toMatchObject({ marked: 0, up_to: 4 });
  });

  it('leaves entries that agents cannot see and entries that expired unread', async () => {
    const t = await newTenant();
    const contact = uuid();
    const hidden = await add(t, contact, { visible_to_agent: false, visible_to_client: true });
    const expiring = await add(t, contact, { expires_at: new Date(Date.now() + 300).toISOString() });
    await add(t, contact);
    await new Promise((r) => setTimeout(r, 400));
    expect(await json<Marked>(await markRead(t, contact))).toMatchObject({ marked: 1, up_to: 3 });
    const hub = await json<{ events: TimelineEntryRecord[] }>(await call('GET', `/api/v1/contacts/${contact}/events?include_expired=true`, { key: t.key }));
    const byId = new Map(hub.events.map((e) => [e.id, e]));
    expect(byId.get(hidden.id)!.read).toBe(false);
    expect(byId.get(expiring.id)!.read).toBe(false);
  });

  it('refuses a bad up_to or an unknown field with a 422 naming it, and marks nothing', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact);
    await add(t, contact);
    for (const up_to of [-1, 1.5, '2', null, true]) await expectProblem(await markRead(t, contact, { up_to }), 422, ['up_to']);
    await expectProblem(await markRead(t, contact, { up_to: 1, upto: 2 }), 422, ['upto']);
    // Above the last sequence number: no entry was seen there.
    const above = await markRead(t, contact, { up_to: 3 });
    await expectProblem(above, 422, ['up_to']);
    await expectProblem(await markRead(t, contact, [1]), 422);
    expect((await markRead(t, contact, 'up_to=1', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await counts(t, contact)).unread).toBe(2);
    expect((await timeline(t, contact)).every((e) => !e.read)).toBe(true);
  });

  it('answers 401 without a key, and a contact with no entries marks 0 (as its other routes, no 404)', async () => {
    const t = await newTenant();
    expect((await call('POST', `/api/v1/contacts/${uuid()}/events/mark-read`, { body: {} })).status).toBe(401);
    const contact = uuid();
    expect(await json<Marked>(await markRead(t, contact))).toEqual({ contact_id: contact, marked: 0, read_at: null, up_to: 0 });
  });

  it("marks nothing of another tenant's contact with the same id", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const contact = uuid();
    await add(a, contact);
    expect(await json<Marked>(await markRead(b, contact))).toMatchObject({ marked: 0, up_to: 0 });
    expect((await counts(a, contact)).unread).toBe(1);
  });

  it('tells every agent socket on the contact with one read_range frame (clients do not hear reads)', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact);
    await add(t, contact);
    await add(t, contact);
    const agent1 = await connectAs(t, contact, { role: 'agent', agent_id: 'a1' });
    const agent2 = await connectAs(t, contact, { role: 'agent', agent_id: 'a2' });
    const client = await connectAs(t, contact, { role: 'client' });
    try {
      await Promise.all([agent1.next('caught_up'), agent2.next('caught_up'), client.next('caught_up')]);
      const from = [agent1.frames.length, agent2.frames.length];
      const res = await json<Marked>(await markRead(t, contact, { up_to: 2 }));
      for (const [i, s] of [agent1, agent2].entries()) {
        const frame = await s.next('read_range', from[i]);
        expect(frame).toEqual({ type: 'read_range', up_to: 2, read_at: res.read_at, marked: 2 });
      }
      // A replay marks nothing and announces nothing.
      await markRead(t, contact, { up_to: 2 });
      await agent1.settle(150);
      expect(agent1.of('read_range')).toHaveLength(1);
      expect(agent1.of('read')).toHaveLength(0);
      expect(client.of('read_range')).toHaveLength(0);
    } finally {
      agent1.close();
      agent2.close();
      client.close();
    }
  });

  it('brings the read flags to D1 through the relay', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < 5; i++) await add(t, contact);
    const res = await json<Marked>(await markRead(t, contact));
    expect(res.marked).toBe(5);
    const rows = await eventually(async () => {
      const r = await d1Rows(t.id, contact);
      return r.length === 5 && r.every((x) => x.read === 1) && r;
    });
    expect(new Set(rows.map((r) => new Date(r.read_at!).toISOString()))).toEqual(new Set([res.read_at]));
    expect(rows.every((r) => r.revision === 2)).toBe(true);
  });

  it('commits one outbox row per entry marked, in one transaction, bound for D1 and webhooks but not analytics', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < 3; i++) await add(t, contact);
    const stub = contactHubStub(env, t.id, contact);
    // Relayed rows are cleared a second later; with the relay stalled, the mark-read's rows stay to be read.
    await new Promise((r) => setTimeout(r, 1200));
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());
    expect((await json<Marked>(await markRead(t, contact))).marked).toBe(3);
    const rows = await runInDurableObject(stub, (_hub: StreamHub, state) =>
      state.storage.sql.exec<{ kind: string; d1: number; wq: number; aq: number; created_at: number; body: string }>(`SELECT kind, d1, wq, aq, created_at, body FROM outbox WHERE body LIKE '%"receipt"%' ORDER BY id`).toArray(),
    );
    expect(rows.map((r) => [r.kind, r.d1, r.wq, r.aq, (JSON.parse(r.body) as { receipt: string }).receipt])).toEqual([
      ['timeline', 1, 1, 0, 'read'],
      ['timeline', 1, 1, 0, 'read'],
      ['timeline', 1, 1, 0, 'read'],
    ]);
    expect(new Set(rows.map((r) => r.created_at)).size).toBe(1);
    // The relay writes the range to D1 as one statement, not one per entry.
    const pass = rows.map((r, i) => ({ id: i + 1, item: JSON.parse(r.body) as OutboxItem, d1: true, wq: true, aq: false }));
    expect(d1Statements(env.DB, [{ tenantId: t.id, rows: pass }])).toHaveLength(1);
  });

  it('refuses the entry types that the receipt webhooks take', async () => {
    const t = await newTenant();
    for (const event_type of ['read', 'delivered']) {
      await expectProblem(await call('POST', `/api/v1/contacts/${uuid()}/events`, { key: t.key, body: note({ event_type }) }), 422, ['event_type']);
    }
  });
});
