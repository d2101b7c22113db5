import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { RelayBatcher } from '../../src/relay-batcher/batcher';
import type { OutboxRow, RelayRequest, RelayResult } from '../../src/relay-batcher/types';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import type { EventRecord } from '../../src/domain/schemas/events';
import { runInDurableObject } from 'cloudflare:test';
import { RelayBatcher as RelayBatcherClass } from '../../src/relay-batcher/batcher';
import { allShards } from '../../src/db/shards';
import { call, newTenant, uuid, shardOf, tenantOnShard, type Tenant } from '../support/api';

function entryRow(outboxId: number, contactId: string, seq: number): OutboxRow {
  const now = new Date().toISOString();
  const record: TimelineEntryRecord = {
    id: uuid(), contact_id: contactId, sequence_number: seq, session_id: null, event_type: 'note_added', category: 'note', priority: 'normal',
    title: 't', description: null, payload: {}, metadata: {}, source: 'agent', triggered_by: null, integration_source: null, is_realtime: false,
    delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
    occurred_at: now, created_at: now, origin_event_id: null,
  };
  return { id: outboxId, item: { kind: 'timeline', record, revision: 1, announce: true }, d1: true, wq: true, aq: true };
}

function eventRow(outboxId: number, contactId: string, seq: number): OutboxRow {
  const now = new Date().toISOString();
  const record: EventRecord = {
    id: uuid(), event_type: 'note.added', source: 'manual', contact_id: contactId, session_id: null, message_id: null, payload: { seq }, metadata: {},
    stream_id: null, sequence_number: seq, schema_version: 1, timestamp: now, created_at: now,
  };
  return { id: outboxId, item: { kind: 'event', insert: { record, idempotency_key: null, request_hash: null } }, d1: true, wq: true, aq: true };
}

const inD1 = async (tenantId: string, id: string) =>
  (await (await shardOf(tenantId)).prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND id = ?').bind(tenantId, id).first<{ n: number }>())!.n;

// These tenants are made up (not in the directory), so their shard is shard 0 (src/db/shards.ts).
/** A tenant with a subscription that takes contact events: the relay sends its records to the webhooks queue. */
async function subscribedTenant(): Promise<Tenant> {
  const t = await newTenant();
  const res = await call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'h', url: 'http://127.0.0.1:9/hook', events: [], subscribe_contact_events: true } });
  expect(res.status).toBe(201);
  return t;
}

describe('RelayBatcher', () => {
  it('writes concurrent relay passes, and one hub\'s failing rows do not hold back the others (merged or not)', async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const tenant = `t_batcher_${uuid().slice(0, 8)}`;
    const [a, b, c] = [uuid(), uuid(), uuid()];
    // Contact b's D1 index already holds sequence number 1 under another id: its row can never be written.
    await env.SHARD_0.prepare(
      `INSERT INTO contact_events (tenant_id, id, contact_id, sequence_number, event_type, category, priority, payload, metadata, source,
         is_realtime, delivered, read, visible_to_client, visible_to_agent, occurred_at, created_at, revision)
       VALUES (?, ?, ?, 1, 'note_added', 'note', 'normal', '{}', '{}', 'agent', 0, 0, 0, 0, 1, 0, 0, 1)`,
    )
      .bind(tenant, uuid(), b)
      .run();
    const rows = { a: [entryRow(1, a, 1), entryRow(2, a, 2)], b: [entryRow(1, b, 1)], c: [entryRow(1, c, 1)] };
    const req = (list: OutboxRow[]): RelayRequest => ({ d1: { tenantId: tenant, rows: list } });
    const [ra, rb, rc] = (await Promise.all([batcher.relay(req(rows.a)), batcher.relay(req(rows.b)), batcher.relay(req(rows.c))])) as RelayResult[];
    expect(ra!.d1).toBeNull();
    expect(rb!.d1!.error).toMatch(/UNIQUE/i);
    // The others got through: b's failure is its own.
    expect(rb!.d1!.isolated).toBe(true);
    expect(rc!.d1).toBeNull();
    for (const r of [...rows.a, ...rows.c]) expect(await inD1(tenant, (r.item as { record: TimelineEntryRecord }).record.id)).toBe(1);
    expect(await inD1(tenant, (rows.b[0]!.item as { record: TimelineEntryRecord }).record.id)).toBe(0);
  });

  it('answers per destination: a queue failure is reported only for that queue', async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const tenant = (await subscribedTenant()).id;
    const row = entryRow(1, uuid(), 1);
    const message = { kind: 'contact_event' as const, tenant_id: tenant, contact_event: (row.item as { record: TimelineEntryRecord }).record };
    // A message over the 128 KB queue limit makes that send fail; D1 and the other queue still answer ok.
    const huge = { ...message, contact_event: { ...message.contact_event, payload: { blob: 'x'.repeat(200_000) } } };
    const result = (await batcher.relay({ d1: { tenantId: tenant, rows: [row] }, webhooks: [huge], analytics: [message] })) as RelayResult;
    expect(result.d1).toBeNull();
    expect(result.analytics).toBeNull();
    expect(typeof result.webhooks!.error).toBe('string');
  });

  it('sends receipts to the webhooks queue only for a tenant with a subscription that takes contact events', async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const t = await newTenant();
    const row = entryRow(1, uuid(), 1);
    const entry = (row.item as { record: TimelineEntryRecord }).record;
    // Over the 128 KB queue limit: a send of it fails, so an answer of null means it was not sent.
    const huge = { ...entry, payload: { blob: 'x'.repeat(200_000) } };
    const receipt = { kind: 'contact_event_receipt' as const, tenant_id: t.id, receipt: 'read' as const, contact_event: huge };
    const relay = async () => ((await batcher.relay({ webhooks: [receipt] })) as RelayResult).webhooks;
    expect(await relay()).toBeNull();
    // A subscription to log events only still wants no receipt.
    const hook = (body: Record<string, unknown>) => call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'h', url: 'http://127.0.0.1:9/hook', ...body } });
    expect((await hook({ events: ['invoice.*'] })).status).toBe(201);
    expect(await relay()).toBeNull();
    // One that takes contact events gets it: the send is attempted (and fails on its size).
    expect((await hook({ events: [], subscribe_contact_events: true })).status).toBe(201);
    expect(typeof (await relay())!.error).toBe('string');
  });

  it('sends records to the webhooks queue only when an active subscription of their tenant matches them', async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const t = await newTenant();
    const entry = (entryRow(1, uuid(), 1).item as { record: TimelineEntryRecord }).record;
    // Over the 128 KB queue limit: a send of it fails, so an answer of null means it was not sent.
    const blob = 'x'.repeat(200_000);
    const announced = { kind: 'contact_event' as const, tenant_id: t.id, contact_event: { ...entry, payload: { blob } } };
    const event = { kind: 'event' as const, tenant_id: t.id, event: { id: uuid(), event_type: 'invoice.paid', source: 'system' as const, contact_id: null, session_id: null, message_id: null, payload: { blob }, metadata: {}, stream_id: null, sequence_number: null, schema_version: 1, timestamp: new Date().toISOString(), created_at: new Date().toISOString() } };
    const order = { ...event, event: { ...event.event, id: uuid(), event_type: 'order.placed' } };
    const relay = async (m: typeof announced | typeof event) => ((await batcher.relay({ webhooks: [m] })) as RelayResult).webhooks;
    // No subscription: neither goes.
    expect(await relay(announced)).toBeNull();
    expect(await relay(event)).toBeNull();
    const hook = (body: Record<string, unknown>) => call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'h', url: 'http://127.0.0.1:9/hook', ...body } });
    // A subscription to invoice.*: that event goes (its send is attempted and fails on its size); an order.* event and the entry do not.
    const logOnly = await hook({ events: ['invoice.*'] });
    expect(logOnly.status).toBe(201);
    expect(typeof (await relay(event))!.error).toBe('string');
    expect(await relay(order)).toBeNull();
    expect(await relay(announced)).toBeNull();
    // One that takes contact events of another category: the note still does not go.
    expect((await hook({ events: [], subscribe_contact_events: true, contact_event_categories: ['pipeline'] })).status).toBe(201);
    expect(await relay(announced)).toBeNull();
    // One that takes every contact event: the entry goes too.
    expect((await hook({ events: [], subscribe_contact_events: true })).status).toBe(201);
    expect(typeof (await relay(announced))!.error).toBe('string');
  });

  it("isolates queue sends per hub: one hub's message that fails does not fail another hub's in the same flush", async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const [t1, t2] = [(await subscribedTenant()).id, (await subscribedTenant()).id];
    const message = (tenant: string) => {
      const row = entryRow(1, uuid(), 1);
      return { kind: 'contact_event' as const, tenant_id: tenant, contact_event: (row.item as { record: TimelineEntryRecord }).record };
    };
    const good = message(t2);
    const bad = message(t1);
    const huge = { ...bad, contact_event: { ...bad.contact_event, payload: { blob: 'x'.repeat(200_000) } } };
    const [rBad, rGood] = (await Promise.all([batcher.relay({ webhooks: [huge] }), batcher.relay({ webhooks: [good] })])) as RelayResult[];
    expect(rGood!.webhooks).toBeNull();
    expect(rBad!.webhooks!.isolated).toBe(true);
  });
});

describe('d1Statements', () => {
  it('splits runs so that no statement carries more than about 1 MB of rows', async () => {
    const { d1Statements } = await import('../../src/relay-batcher/statements');
    const contact = uuid();
    const big = (i: number) => {
      const row = entryRow(i, contact, i);
      (row.item as { record: TimelineEntryRecord }).record.payload = { blob: 'x'.repeat(60_000) };
      return row;
    };
    const rows = Array.from({ length: 30 }, (_, i) => big(i + 1));
    const statements = d1Statements(env.SHARD_0, [{ tenantId: 't_split', rows }]);
    expect(statements.length).toBeGreaterThan(1);
    await env.SHARD_0.batch(statements);
    const n = await env.SHARD_0.prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind('t_split', contact).first<{ n: number }>();
    expect(n!.n).toBe(30);
    expect(d1Statements(env.SHARD_0, [{ tenantId: 't_split', rows: rows.slice(0, 3) }]).length).toBe(1);
  });

  it('applies passes in few statements: log events apart, timeline changes in their order, per tenant', async () => {
    const { d1Statements } = await import('../../src/relay-batcher/statements');
    const [t1, t2] = [`t_group_${uuid().slice(0, 8)}`, `t_group_${uuid().slice(0, 8)}`];
    const [a, b, c] = [uuid(), uuid(), uuid()];
    // Hub a: event, entry, event, entry, then the first entry deleted and a third entry (outbox order).
    const a1 = entryRow(2, a, 1);
    const a2 = entryRow(4, a, 2);
    const aDelete: OutboxRow = { id: 5, item: { kind: 'timeline_delete', id: (a1.item as { record: TimelineEntryRecord }).record.id }, d1: true, wq: false, aq: false };
    const passA = [eventRow(1, a, 1), a1, eventRow(3, a, 2), a2, aDelete, entryRow(6, a, 3)];
    // Hub b (same tenant) alternates too; hub c is another tenant's.
    const passB = [eventRow(1, b, 1), entryRow(2, b, 1), eventRow(3, b, 2), entryRow(4, b, 2)];
    const passC = [eventRow(1, c, 1), entryRow(2, c, 1)];
    const statements = d1Statements(env.SHARD_0, [{ tenantId: t1, rows: passA }, { tenantId: t2, rows: passC }, { tenantId: t1, rows: passB }]);
    // t1: one insert of its 4 events; timeline: upsert (a1, a2), delete (a1), upsert (a3, b1, b2). t2: one of each.
    expect(statements.length).toBe(4 + 2);
    await env.SHARD_0.batch(statements);
    const timeline = (tenant: string) =>
      env.SHARD_0.prepare('SELECT id FROM contact_events WHERE tenant_id = ? ORDER BY contact_id, sequence_number').bind(tenant).all<{ id: string }>();
    const ids = (rows: OutboxRow[]) => rows.flatMap((r) => (r.item.kind === 'timeline' ? [r.item.record.id] : r.item.kind === 'event' ? [r.item.insert.record.id] : []));
    const expected1 = ids([a2, passA[5]!, passB[1]!, passB[3]!]);
    expect(new Set((await timeline(t1)).results.map((r) => r.id))).toEqual(new Set(expected1));
    expect((await timeline(t2)).results.map((r) => r.id)).toEqual(ids([passC[1]!]));
    const events = (tenant: string) => env.SHARD_0.prepare('SELECT id FROM events WHERE tenant_id = ?').bind(tenant).all<{ id: string }>();
    expect(new Set((await events(t1)).results.map((r) => r.id))).toEqual(new Set(ids([passA[0]!, passA[2]!, passB[0]!, passB[2]!])));
    expect((await events(t2)).results.map((r) => r.id)).toEqual(ids([passC[0]!]));
  });

  it("a shard that fails fails only its tenants' passes (their hubs retry); the other shard's are written", async () => {
    const [a, b] = [await tenantOnShard(0), await tenantOnShard(1)];
    // Shard 1 refuses every batch; shard 0 works.
    const down = allShards(env)[1]!;
    const failingEnv = { ...env, [down.binding]: new Proxy(down.db, {
        get(target, prop) {
          if (prop === 'batch') return () => Promise.reject(new Error('injected: shard 1 down'));
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }) } as Env;
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const stub = ns.get(ns.idFromName(`test-${uuid()}`));
    const [rowA, rowB] = [entryRow(1, uuid(), 1), entryRow(1, uuid(), 1)];
    const [ra, rb] = await runInDurableObject(stub, (_, state) => {
      // The batcher of this test's object, with the failing shard in its env: both passes in one flush.
      const batcher = new RelayBatcherClass(state, failingEnv);
      return Promise.all([batcher.relay({ d1: { tenantId: a.id, rows: [rowA] } }), batcher.relay({ d1: { tenantId: b.id, rows: [rowB] } })]);
    });
    expect(ra!.d1).toBeNull();
    expect(rb!.d1!.error).toMatch(/shard 1 down/);
    expect(await inD1(a.id, (rowA.item as { record: TimelineEntryRecord }).record.id)).toBe(1);
    expect(await inD1(b.id, (rowB.item as { record: TimelineEntryRecord }).record.id)).toBe(0);
  });
});
