import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { call, eventually, json, newTenant, shardOf, uuid } from '../support/api';
import { drainByAlarm } from '../support/relay';

// The outbox rows an append writes (src/hub/outbox.ts): each is an insert and, once relayed, a delete.

describe('hub outbox: a derived entry rides its log event’s row', () => {
  it('stores one outbox row for a log event and the entry it derives, and relays both from it', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stub = contactHubStub(env, t.id, contact);
    // Nothing is relayed by this instance: the rows stay stored, as after a crash before the relay.
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());
    const res = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'session.started', source: 'system', contact_id: contact, payload: { channel: 'whatsapp' } },
    });
    expect(res.status).toBe(201);
    const event = await json<{ id: string }>(res);
    const rows = await runInDurableObject(stub, (_hub: StreamHub, state) =>
      state.storage.sql.exec<{ kind: string; body: string; wq: number; aq: number }>(`SELECT kind, body, wq, aq FROM outbox`).toArray(),
    );
    expect(rows).toHaveLength(1);
    const body = JSON.parse(rows[0]!.body) as { insert: { record: { id: string } }; derived?: { id: string; origin_event_id: string } };
    expect(body.insert.record.id).toBe(event.id);
    expect(body.derived?.origin_event_id).toBe(event.id);
    expect(rows[0]).toMatchObject({ kind: 'event', wq: 1, aq: 1 });

    // A new instance relays the row: the event and its entry reach D1, and both are counted, under the
    // event's one processed marker.
    await evictDurableObject(stub);
    await drainByAlarm(stub);
    const db = await shardOf(t.id);
    const entryId = body.derived!.id;
    await eventually(async () => {
      const e = await db.prepare(`SELECT count(*) AS n FROM events WHERE tenant_id = ? AND id = ?`).bind(t.id, event.id).first<{ n: number }>();
      const c = await db.prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND id = ?`).bind(t.id, entryId).first<{ n: number }>();
      return e?.n === 1 && c?.n === 1;
    });
    const counted = await eventually(async () => {
      const r = await db.prepare(`SELECT events, entries FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).all<{ events: number; entries: number }>();
      return r.results.length > 0 ? r.results : undefined;
    });
    // The event and its derived entry, counted in one row.
    expect(counted).toEqual([{ events: 1, entries: 1 }]);
    const markers = await db.prepare(`SELECT event_id FROM processed_events WHERE tenant_id = ?`).bind(t.id).all<{ event_id: string }>();
    expect(markers.results.map((m) => m.event_id)).toEqual([event.id]);
  });
});

describe('hub outbox: a batch append is one row', () => {
  it('stores one outbox row for a batch of entries; a new instance relays every entry from it, counted under one marker, and the next append takes an id above its range', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stub = contactHubStub(env, t.id, contact);
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());
    const res = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
      key: t.key,
      body: { events: Array.from({ length: 5 }, (_, i) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: `n${i}` })) },
    });
    expect(res.status).toBe(201);
    const ids = (await json<{ events: { id: string }[] }>(res)).events.map((e) => e.id);
    const rows = await runInDurableObject(stub, (_hub: StreamHub, state) =>
      state.storage.sql.exec<{ id: number; kind: string; body: string }>(`SELECT id, kind, body FROM outbox`).toArray(),
    );
    expect(rows.map((r) => r.kind)).toEqual(['entries']);
    expect((JSON.parse(rows[0]!.body) as { records: { id: string }[] }).records.map((r) => r.id)).toEqual(ids);
    // The row holds the last id of a range as long as its entries (kept free for a split).
    expect(rows[0]!.id).toBe(5);

    await evictDurableObject(stub);
    await drainByAlarm(stub);
    const db = await shardOf(t.id);
    await eventually(async () => {
      const c = await db.prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?`).bind(t.id, contact).first<{ n: number }>();
      return c?.n === 5;
    });
    await eventually(async () => {
      const r = await db.prepare(`SELECT sum(entries) AS n FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>();
      return r?.n === 5;
    });
    // Counted under one processed marker, the first entry's id.
    const markers = await db.prepare(`SELECT event_id FROM processed_events WHERE tenant_id = ?`).bind(t.id).all<{ event_id: string }>();
    expect(markers.results.map((m) => m.event_id)).toEqual([ids[0]]);
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());
    const one = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: { event_type: 'note_added', category: 'note', source: 'agent', title: 'next' } });
    expect(one.status).toBe(201);
    const next = await runInDurableObject(stub, (_hub: StreamHub, state) => state.storage.sql.exec<{ id: number; kind: string }>(`SELECT id, kind FROM outbox WHERE kind = 'timeline'`).toArray());
    expect(next).toEqual([{ id: 6, kind: 'timeline' }]);
  });
});
