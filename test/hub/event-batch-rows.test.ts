import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { call, eventually, json, shardOf, uuid, type Tenant } from '../support/api';
import { drainByAlarm, outbox, recordedHub } from '../support/relay';

// A batch of log events to one contact is one outbox row (src/hub/writer.ts, kind 'events'): one insert
// and one delete for the request, relayed as the rows of each event and the entry it derives.

const note = (contact: string, i: number, id?: string) => ({ ...(id ? { id } : {}), event_type: 'note.added', source: 'manual', contact_id: contact, payload: { i } });

async function appendBatch(t: Tenant, contact: string, n: number, ids: string[] = []): Promise<string[]> {
  const res = await call('POST', '/api/v1/events/batch', { key: t.key, body: { events: Array.from({ length: n }, (_, i) => note(contact, i, ids[i])) } });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await json<{ events: { id: string }[] }>(res)).events.map((e) => e.id);
}

const outboxRows = (stub: DurableObjectStub<StreamHub>) =>
  runInDurableObject(stub, (_hub: StreamHub, state) => state.storage.sql.exec<{ id: number; kind: string; body: string }>(`SELECT id, kind, body FROM outbox ORDER BY id`).toArray());

const count = async (t: Tenant, sql: string, ...args: unknown[]) => (await (await shardOf(t.id)).prepare(sql).bind(t.id, ...args).first<{ n: number }>())!.n;

describe('hub outbox: a batch of log events is one row', () => {
  it('stores one outbox row for the batch; id-only reads find its events before the relay; a new instance relays every event and entry from it, each counted once under one marker; the next append takes an id above its range', async () => {
    const { t, contact, stub } = await recordedHub();
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());
    const ids = await appendBatch(t, contact, 4);
    const rows = await outboxRows(stub);
    expect(rows.map((r) => r.kind)).toEqual(['events']);
    const body = JSON.parse(rows[0]!.body) as { items: { insert: { record: { id: string } }; derived?: { origin_event_id: string } }[] };
    expect(body.items.map((i) => i.insert.record.id)).toEqual(ids);
    expect(body.items.map((i) => i.derived?.origin_event_id)).toEqual(ids);
    // The last id of a range as long as its events (kept free for a split).
    expect(rows[0]!.id).toBe(4);
    // Pending for D1 inside the batch's row: GET /events/{id} asks the hub.
    for (const id of ids) expect((await call('GET', `/api/v1/events/${id}`, { key: t.key })).status).toBe(200);

    await evictDurableObject(stub);
    await drainByAlarm(stub);
    await eventually(async () => (await count(t, 'SELECT count(*) AS n FROM events WHERE tenant_id = ? AND contact_id = ?', contact)) === 4);
    await eventually(async () => (await count(t, 'SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?', contact)) === 4);
    await eventually(async () => (await count(t, `SELECT coalesce(sum(events), 0) AS n FROM analytics_hourly WHERE tenant_id = ?`)) === 4);
    expect(await count(t, `SELECT sum(entries) AS n FROM analytics_hourly WHERE tenant_id = ?`)).toBe(4);
    // One processed marker for the append's four events and their derived entries (a marker per event wrote four).
    expect(await count(t, 'SELECT count(*) AS n FROM processed_events WHERE tenant_id = ?')).toBe(1);

    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());
    await appendBatch(t, contact, 1);
    expect((await outboxRows(stub)).map((r) => [r.id, r.kind])).toEqual([[5, 'event']]);
  });

  it("once D1 has the batch's row, the tenant's projections fold its events without waiting for the cron", async () => {
    const { t } = await recordedHub();
    const contact = uuid();
    const res = await call('POST', '/api/v1/events/batch', {
      key: t.key,
      body: {
        events: [
          { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Ada' } },
          { event_type: 'contact.tag_added', source: 'system', contact_id: contact, payload: { tag: 'vip' } },
        ],
      },
    });
    expect(res.status).toBe(201);
    const view = await eventually(async () => {
      const r = await call('GET', `/api/v1/contacts/${contact}`, { key: t.key });
      return r.status === 200 ? json<{ tags: string[] }>(r) : undefined;
    });
    expect(view.tags).toEqual(['vip']);
  });

  it('D1 refuses one event of the batch (a constraint): the row splits, only that event is parked for D1, the others reach D1 and every event both queues', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    const ids = [uuid(), uuid(), uuid(), uuid()];
    const db = await shardOf(t.id);
    await db.prepare(`CREATE TRIGGER refuse_one BEFORE INSERT ON events WHEN NEW.id = '${ids[2]}' BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: refuse_one'); END`).run();
    try {
      await appendBatch(t, contact, 4, ids);
      await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 5_000 });
      expect(await runInDurableObject(stub, (hub: StreamHub) => hub.parkedRows())).toEqual([
        expect.objectContaining({ destination: 'd1', kind: 'event', record_id: ids[2], reason: 'rejected' }),
      ]);
      const inD1 = (await db.prepare('SELECT id FROM events WHERE tenant_id = ? AND contact_id = ?').bind(t.id, contact).all<{ id: string }>()).results.map((r) => r.id);
      expect(inD1.sort()).toEqual([ids[0], ids[1], ids[3]].sort());
      for (const id of ids) {
        expect(rec.counts.webhooks.get(id), `webhooks got ${id}`).toBe(1);
        expect(rec.counts.analytics.get(id), `analytics got ${id}`).toBe(1);
      }
    } finally {
      await db.prepare('DROP TRIGGER refuse_one').run();
    }
  });

  it("analytics refuses the batch's shared message for its own sake: the row splits, and each event and its entry is counted once, under a marker of its own", async () => {
    const { t, contact, stub, rec } = await recordedHub();
    const ids = [uuid(), uuid(), uuid(), uuid()];
    // Refused once, isolated (the queue took other hubs' messages): the shared message put nothing on the queue.
    rec.refuseTimes.analytics.set(ids[1]!, 1);
    await appendBatch(t, contact, 4, ids);
    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 5_000 });
    expect(await runInDurableObject(stub, (hub: StreamHub) => hub.parkedRows())).toEqual([]);
    // The pack was tried once and refused; after the split only the analytics sends were made again, one per event.
    expect(rec.attempts.d1).toBe(1);
    expect(rec.attempts.webhooks).toBe(1);
    for (const id of ids) {
      expect(rec.counts.d1.get(id), `D1 got ${id}`).toBe(1);
      expect(rec.counts.webhooks.get(id), `webhooks got ${id}`).toBe(1);
      expect(rec.counts.analytics.get(id), `analytics got ${id}`).toBe(1);
    }
    await eventually(async () => (await count(t, `SELECT coalesce(sum(events), 0) AS n FROM analytics_hourly WHERE tenant_id = ?`)) === 4);
    expect(await count(t, `SELECT sum(entries) AS n FROM analytics_hourly WHERE tenant_id = ?`)).toBe(4);
    // A marker per event: the split's rows are relayed as events appended one by one are.
    const markers = await (await shardOf(t.id)).prepare(`SELECT event_id FROM processed_events WHERE tenant_id = ? AND consumer = 'analytics'`).bind(t.id).all<{ event_id: string }>();
    expect(markers.results.map((r) => r.event_id).sort()).toEqual([...ids].sort());
  });
});
