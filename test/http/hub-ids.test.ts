import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { hubAddressedId, hubHashOfId, hubIdPrefix, hubKeyHash } from '../../src/domain/hub-ids';
import { Uuid } from '../../src/domain/schemas/common';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { call, json, newTenant, shardOf, uuid, type Tenant } from '../support/api';

// Server-chosen ids name their hub (src/domain/hub-ids.ts): an append writes no owner-index row for
// them, the hub's key is registered once, and routes that take only an id still find them on the next
// request, before the relay (guarantee 10), also when the hash is taken or the registration fails.

const newEntry = (t: Tenant, contact: string, body: Record<string, unknown> = {}) =>
  call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: { event_type: 'note_added', category: 'note', source: 'agent', title: 'n', ...body } });

const count = async (t: Tenant, sql: string) => (await (await shardOf(t.id)).prepare(sql).bind(t.id).first<{ n: number }>())!.n;

/** The hub relays nothing from now on: only the owner index and the hub key can find its ids. */
const stallRelay = (t: Tenant, contact: string) => runInDurableObject(contactHubStub(env, t.id, contact), (hub: StreamHub) => hub.testHooks.stallRelay());

async function readBack(t: Tenant, contact: string, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const res = await newEntry(t, contact);
    expect(res.status).toBe(201);
    const { id } = await json<{ id: string }>(res);
    expect((await call('GET', `/api/v1/contact-events/${id}`, { key: t.key })).status, `round ${i}`).toBe(200);
  }
  const event = await json<{ id: string }>(await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'note.added', source: 'system', contact_id: contact } }));
  expect((await call('GET', `/api/v1/events/${event.id}`, { key: t.key })).status).toBe(200);
}

describe('ids that name their hub', () => {
  it('are UUIDs (version 8, RFC 9562 variant) carrying the hub hash, with random bits apart from it', async () => {
    const hash = await hubKeyHash(`contact:${uuid()}`);
    expect(hash).toMatch(/^[0-9a-f]{15}$/);
    const ids = Array.from({ length: 200 }, () => hubAddressedId(hubIdPrefix(hash)));
    for (const id of ids) {
      expect(Uuid.safeParse(id).success).toBe(true);
      expect(id[14]).toBe('8');
      expect('89ab').toContain(id[19]);
      expect(hubHashOfId(id)).toBe(hash);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(hubHashOfId(crypto.randomUUID())).toBeNull();
    expect(await hubKeyHash('contact:a')).not.toBe(await hubKeyHash('contact:b'));
  });

  it('an append writes no owner-index row for them, and the hub key once; id-only routes find them before the relay', async () => {
    const t = await newTenant();
    const contact = uuid();
    const first = await json<{ id: string }>(await newEntry(t, contact));
    expect(hubHashOfId(first.id)).toBe(await hubKeyHash(`contact:${contact}`));
    await stallRelay(t, contact);
    await readBack(t, contact, 5);
    expect(await count(t, 'SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?')).toBe(1);
    expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(0);
    // A client's id still gets its row.
    const chosen = uuid();
    expect((await newEntry(t, contact, { id: chosen })).status).toBe(201);
    expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(1);
    expect((await call('GET', `/api/v1/contact-events/${chosen}`, { key: t.key })).status).toBe(200);
  });

  it('a hash another hub registered first: the ids go to the owner index, and still work on the next request', async () => {
    const t = await newTenant();
    const contact = uuid();
    const hash = await hubKeyHash(`contact:${contact}`);
    await (await shardOf(t.id)).prepare(`INSERT INTO hub_keys (tenant_id, hash, owner) VALUES (?, ?, ?)`).bind(t.id, hash, `contact:${uuid()}`).run();
    expect((await newEntry(t, contact)).status).toBe(201);
    await stallRelay(t, contact);
    await readBack(t, contact, 3);
    // 1 + 3 entries, the event and the entry it derives.
    expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(6);
    const state = await runInDurableObject(contactHubStub(env, t.id, contact), (_hub: StreamHub, state) =>
      state.storage.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'hub_key'`).one().value,
    );
    expect(state).toBe('taken');
  });

  it('a registration that fails: the ids go to the owner index, and the next append registers', async () => {
    const t = await newTenant();
    const contact = uuid();
    const db = await shardOf(t.id);
    const trigger = `test_fail_hub_keys_${t.id.replace(/\W/g, '_')}`;
    await db.prepare(`CREATE TRIGGER ${trigger} BEFORE INSERT ON hub_keys WHEN NEW.tenant_id = '${t.id}' BEGIN SELECT RAISE(ABORT, 'injected'); END`).run();
    try {
      await stallRelay(t, contact);
      await readBack(t, contact, 2);
      expect(await count(t, 'SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?')).toBe(0);
      expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(4);
    } finally {
      await db.prepare(`DROP TRIGGER ${trigger}`).run();
    }
    expect((await newEntry(t, contact)).status).toBe(201);
    expect(await count(t, 'SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?')).toBe(1);
    expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(4);
  });

  it('after an erase the hub registers its key again: new ids work on the next request', async () => {
    const t = await newTenant();
    const contact = uuid();
    expect((await newEntry(t, contact)).status).toBe(201);
    expect((await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(200);
    expect(await count(t, 'SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?')).toBe(0);
    await stallRelay(t, contact);
    await readBack(t, contact, 3);
    expect(await count(t, 'SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?')).toBe(1);
    expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(0);
  });

  it('stream appends: event ids name the stream hub', async () => {
    const t = await newTenant();
    const stream = `order-${uuid()}`;
    const res = await call('POST', `/api/v1/streams/${stream}/events`, { key: t.key, body: { events: [{ event_type: 'order.placed' }] } });
    expect(res.status).toBe(201);
    const { events } = await json<{ events: { id: string }[] }>(res);
    expect(hubHashOfId(events[0]!.id)).toBe(await hubKeyHash(`stream:${stream}`));
    expect((await call('GET', `/api/v1/events/${events[0]!.id}`, { key: t.key })).status).toBe(200);
    expect(await count(t, 'SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?')).toBe(0);
  });
});
