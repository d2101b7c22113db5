import { allShards } from '../../src/db/shards';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { upsertRowsStatements } from '../../src/db/projections';
import { putSnapshotStatement } from '../../src/db/snapshots';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import type { EventRecord } from '../../src/domain/schemas/events';
import type { RelayMessage } from '../../src/queues/messages';
import { call, eventually, json, newTenant, uuid, type Tenant, shardOf } from '../support/api';
import { hookPath, hookUrl, received, script, sleep, waitForRequests } from '../support/receiver';
import { deliveriesOf, subscribe } from '../support/webhooks';

interface Erased {
  contact_id: string;
  removed: Record<string, number>;
  sequence_number: number;
}

const entry = (over: Record<string, unknown> = {}) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: 'a note', ...over });

async function addEntry(t: Tenant, contact: string, over: Record<string, unknown> = {}): Promise<{ id: string; sequence_number: number }> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry(over) });
  expect(res.status).toBe(201);
  return json<{ id: string; sequence_number: number }>(res);
}

async function erase(t: Tenant, contact: string): Promise<Erased> {
  const res = await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key });
  expect(res.status).toBe(200);
  return json<Erased>(res);
}

/**
 * Every row of every D1 table (FTS shadow tables and D1's own aside) that mentions one of `needles`:
 * what an erase must leave at zero, whatever table a later change adds.
 */
async function d1Mentions(needles: string[]): Promise<string[]> {
  const found: string[] = [];
  // The control database and every shard.
  for (const db of [env.DB, ...allShards(env).map((s) => s.db)]) found.push(...(await mentionsIn(db, needles)));
  return found;
}

async function mentionsIn(db: D1Database, needles: string[]): Promise<string[]> {
  const { results: tables } = await db.prepare(
    `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'
       AND name NOT LIKE 'contact_events_fts%'`,
  ).all<{ name: string }>();
  const found: string[] = [];
  for (const { name } of tables) {
    const { results } = await db.prepare(`SELECT * FROM "${name}"`).all<Record<string, unknown>>();
    for (const row of results) {
      const text = JSON.stringify(row);
      for (const n of needles) if (text.includes(n)) found.push(`${name}: ${text.slice(0, 200)}`);
    }
  }
  return found;
}

const ftsHits = async (word: string) => {
  let n = 0;
  for (const s of allShards(env)) n += (await s.db.prepare(`SELECT count(*) AS n FROM contact_events_fts WHERE contact_events_fts MATCH ?`).bind(word).first<{ n: number }>())!.n;
  return n;
};

describe('erase: every store', () => {
  it('leaves no personal data of the contact in D1 (log, timeline, full-text index, projection, snapshots, deliveries, attempts) nor in its hub', async () => {
    const t = await newTenant();
    const contact = uuid();
    const other = uuid();
    const path = hookPath('erase');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['contact.*'], subscribe_contact_events: true });
    const word = `zyx${crypto.randomUUID().slice(0, 8)}`;
    const created = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Ada Lovelace', email: 'ada@lovelace.example', phone: '+44000111' } },
    });
    expect(created.status).toBe(201);
    await addEntry(t, contact, { title: `call with ${word}`, description: 'Ada Lovelace asked about pricing' });
    await addEntry(t, other, { title: 'kept note' });
    const snap = await call('PUT', `/api/v1/streams/contact-${contact}/snapshot`, { key: t.key, body: { version: 1, state: { name: 'Ada Lovelace' } } });
    expect(snap.status).toBe(200);

    // Everything has reached D1, the projection and the receiver (the event, its derived entry and the
    // direct entry of the contact; the other contact's entry).
    await eventually(async () => (await call('GET', `/api/v1/contacts/${contact}`, { key: t.key })).status === 200);
    await eventually(async () => (await ftsHits(word)) === 1);
    await waitForRequests(path, 4);
    await eventually(async () => (await deliveriesOf(t.id, sub.id)).filter((d) => d.status === 'succeeded').length === 4);
    expect(await d1Mentions([contact, 'Lovelace'])).not.toEqual([]);

    const out = await erase(t, contact);
    expect(out).toEqual({
      contact_id: contact,
      removed: {
        hub_events: 1,
        hub_entries: 2,
        events: 1,
        contact_events: 2,
        projections: 1,
        snapshots: 1,
        webhook_deliveries: 3,
        delivery_attempts: 3,
        archived_events: 0,
      },
      sequence_number: 2,
    });

    expect(await d1Mentions([contact, 'Lovelace', word])).toEqual([]);
    expect(await ftsHits(word)).toBe(0);
    expect((await call('GET', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(404);
    const list = await json<{ contacts: { contact_id: string }[] }>(await call('GET', '/api/v1/contacts?include_deleted=true&limit=1000', { key: t.key }));
    expect(list.contacts.map((c) => c.contact_id)).not.toContain(contact);
    const search = await json<{ events: unknown[] }>(await call('GET', `/api/v1/contact-events/search?q=${word}`, { key: t.key }));
    expect(search.events).toEqual([]);
    expect((await call('GET', `/api/v1/streams/contact-${contact}/snapshot`, { key: t.key })).status).toBe(404);
    // The other contact is untouched.
    expect((await json<{ count: number }>(await call('GET', `/api/v1/contacts/${other}/events/count`, { key: t.key }))).count).toBe(1);

    // The hub keeps only its counter (the tombstone).
    const stored = await runInDurableObject(contactHubStub(env, t.id, contact), (_hub: StreamHub, state) => {
      const sql = state.storage.sql;
      const n = (table: string) => sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n;
      return { log: n('log'), timeline: n('timeline'), outbox: n('outbox'), meta: sql.exec<{ key: string }>(`SELECT key FROM meta`).toArray().map((r) => r.key) };
    });
    expect(stored).toEqual({ log: 0, timeline: 0, outbox: 0, meta: ['seq'] });

    // Erasing again is idempotent.
    const again = await erase(t, contact);
    expect(Object.values(again.removed).every((n) => n === 0)).toBe(true);
  });
});

describe('erase: deliveries are never sent again', () => {
  it('a delivery of an erased contact answers 410 to GET and redeliver, and neither redeliver, recover nor replay sends anything', async () => {
    const t = await newTenant();
    const contact = uuid();
    const path = hookPath('erase-redeliver');
    // The endpoint fails once and has no retries: the delivery ends `failed`, which recover would pick.
    await script(path, [{ status: 500 }, { status: 200 }]);
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['contact.*'], retry_count: 0 });
    const since = new Date(Date.now() - 60_000).toISOString();
    const res = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Grace Hopper', email: 'grace@navy.example' } },
    });
    expect(res.status).toBe(201);
    await waitForRequests(path, 1);
    const [delivery] = await eventually(async () => {
      const rows = await deliveriesOf(t.id, sub.id);
      return rows.length === 1 && rows[0]!.status === 'failed' ? rows : undefined;
    });
    // Before the erase the delivery shows its payload.
    const before = await call('GET', `/api/v1/webhook-deliveries/${delivery!.id}`, { key: t.key });
    expect(before.status).toBe(200);
    expect(JSON.stringify(await json(before))).toContain('Grace Hopper');

    const out = await erase(t, contact);
    expect(out.removed).toMatchObject({ webhook_deliveries: 1, delivery_attempts: 1 });

    const got = await call('GET', `/api/v1/webhook-deliveries/${delivery!.id}`, { key: t.key });
    expect(got.status).toBe(410);
    expect(got.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.stringify(await json(got))).not.toContain('Grace');
    const redeliver = await call('POST', `/api/v1/webhook-deliveries/${delivery!.id}/redeliver`, { key: t.key });
    expect(redeliver.status).toBe(410);
    expect(redeliver.headers.get('content-type')).toContain('application/problem+json');
    const recover = await call('POST', `/api/v1/webhooks/${sub.id}/recover?from=${encodeURIComponent(since)}`, { key: t.key });
    expect(recover.status).toBe(202);
    expect(await json(recover)).toMatchObject({ recovered: 0 });
    const replay = await call('POST', '/api/v1/events/replay', { key: t.key, body: { type: 'contact.created', from: since, target: { type: 'webhooks' } } });
    expect(replay.status).toBe(202);
    expect(await json(replay)).toMatchObject({ replayed: 0 });

    // The listing shows the delivery as erased, without its payload.
    const listed = await json<{ deliveries: { id: string; status: string }[] }>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries`, { key: t.key }));
    expect(listed.deliveries).toEqual([expect.objectContaining({ id: delivery!.id, status: 'erased' })]);
    // Time for anything queued to arrive: the receiver still has only the one request of before the erase.
    await sleep(1500);
    expect(await received(path)).toHaveLength(1);
  });
});

describe('erase: sequence numbers are never reused', () => {
  it('the next entry after an erase gets last + 1, also after the hub restarts', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (const n of [1, 2, 3]) expect((await addEntry(t, contact)).sequence_number).toBe(n);
    expect((await erase(t, contact)).sequence_number).toBe(3);
    expect((await addEntry(t, contact)).sequence_number).toBe(4);

    // Erased again, then the hub is evicted: a new instance reads the tombstone.
    expect((await erase(t, contact)).sequence_number).toBe(4);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    expect((await addEntry(t, contact)).sequence_number).toBe(5);
    const page = await json<{ events: { sequence_number: number }[] }>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
    expect(page.events.map((e) => e.sequence_number)).toEqual([5]);
  });

  it('an erase right after a restart keeps the counter too', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < 3; i += 1) await addEntry(t, contact);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    expect((await erase(t, contact)).sequence_number).toBe(3);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    expect((await addEntry(t, contact)).sequence_number).toBe(4);
  });
});

describe('erase: a projection pass that read the contact just before the erase', () => {
  it('writes neither its row nor its snapshot back after the erase', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Late Larry' } },
    });
    expect(res.status).toBe(201);
    await eventually(async () => (await call('GET', `/api/v1/contacts/${contact}`, { key: t.key })).status === 200);
    await erase(t, contact);

    // What the runner would commit for a batch it read before the erase: the stale row and snapshot.
    const state = JSON.stringify({ contact_id: contact, name: 'Late Larry' });
    const row = { key: contact, state, event_count: 1, last_position: 1, updated_at: Date.now() };
    await (await shardOf(t.id)).batch([
      ...upsertRowsStatements((await shardOf(t.id)), t.id, 'contacts', 1, [row]),
      putSnapshotStatement((await shardOf(t.id)), t.id, { streamId: `contact-${contact}`, sequenceNumber: 1, state, source: 'projection:contacts', now: Date.now() }, false),
    ]);
    expect((await call('GET', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(404);
    expect(await d1Mentions([contact, 'Larry'])).toEqual([]);

    // A contact that has events is written as before.
    const other = uuid();
    await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'contact.created', source: 'system', contact_id: other, payload: { name: 'Olive' } } });
    await eventually(async () => (await call('GET', `/api/v1/contacts/${other}`, { key: t.key })).status === 200);
  });
});

describe('erase: a long delivery log', () => {
  it('finds the contact\'s deliveries however many the tenant has (paged scan)', async () => {
    const t = await newTenant();
    const contact = uuid();
    const sub = uuid();
    const rows = Array.from({ length: 12_000 }, (_, i) => {
      const mine = i === 17 || i === 6_543 || i === 11_999;
      const id = uuid();
      return { id, subscription_id: sub, event_id: uuid(), event_type: 'contact.created', status: 'succeeded', created_at: i, updated_at: i,
        body: JSON.stringify({ type: 'contact.created', timestamp: '', data: { id, contact_id: mine ? contact : uuid(), name: mine ? 'Paged Pat' : 'someone' } }) };
    });
    for (let i = 0; i < rows.length; i += 1000) {
      await (await shardOf(t.id)).prepare(
        `INSERT INTO webhook_deliveries (tenant_id, id, subscription_id, event_id, event_type, body, status, created_at, updated_at)
         SELECT ?1, j.value->>'id', j.value->>'subscription_id', j.value->>'event_id', j.value->>'event_type', j.value->>'body', j.value->>'status',
           j.value->>'created_at', j.value->>'updated_at' FROM json_each(?2) AS j`,
      ).bind(t.id, JSON.stringify(rows.slice(i, i + 1000))).run();
    }
    const out = await erase(t, contact);
    expect(out.removed.webhook_deliveries).toBe(3);
    const left = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE tenant_id = ? AND body LIKE '%Paged Pat%'`).bind(t.id).first<{ n: number }>();
    expect(left!.n).toBe(0);
    const erased = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE tenant_id = ? AND status = 'erased'`).bind(t.id).first<{ n: number }>();
    expect(erased!.n).toBe(3);
  });
});

describe('erase: records still on their way through the webhooks queue', () => {
  it('a relay message of the contact that reaches fan-out after the erase sends nothing', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Queued Quinn' } },
    });
    expect(res.status).toBe(201);
    const event = await json<EventRecord>(res);
    const entryRecord = await json<TimelineEntryRecord>(
      await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry({ title: 'Quinn called' }) }),
    );
    // The relay's own messages went through fan-out while no webhook existed; the subscription exists
    // by the time the same records come again (as a message delayed or retried in the queue would).
    await eventually(async () => (await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n === 2);
    await sleep(1000);
    const path = hookPath('erase-in-flight');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['contact.*'], subscribe_contact_events: true });
    await erase(t, contact);

    await env.WEBHOOKS_QUEUE.send({ kind: 'event', tenant_id: t.id, event } satisfies RelayMessage);
    await env.WEBHOOKS_QUEUE.send({ kind: 'contact_event', tenant_id: t.id, contact_event: entryRecord } satisfies RelayMessage);
    await sleep(1500);
    expect(await received(path)).toEqual([]);
    const rows = await deliveriesOf(t.id, sub.id);
    // The event, the entry derived from it and the direct entry: each recorded as erased, none sent.
    expect(rows.map((r) => r.status)).toEqual(['erased', 'erased', 'erased']);
    expect(await d1Mentions([contact, 'Quinn'])).toEqual([]);
  });
});
