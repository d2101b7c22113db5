import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { batcherOf } from '../../src/hub/relay';
import type { OutboxItem } from '../../src/relay-batcher/types';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { call, eventually, json, newTenant, uuid, type Tenant, shardOf } from '../support/api';
import { outbox, recordedHub, type Recorder } from '../support/relay';

/** A contact of tenant `t` whose hub relays through the same RelayBatcher as `hubId`'s. */
function contactInShardOf(t: Tenant, hubId: string): string {
  for (;;) {
    const contact = uuid();
    if (batcherOf(contactHubStub(env, t.id, contact).id.toString()) === batcherOf(hubId)) return contact;
  }
}

/** Appends `n` entries in one batch (one relay pass), with client-chosen ids. */
async function appendEntries(t: Tenant, contact: string, ids: string[]): Promise<void> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
    key: t.key,
    body: { events: ids.map((id, i) => ({ id, event_type: 'note_added', category: 'note', source: 'agent', title: `n${i}` })) },
  });
  expect(res.status, await res.clone().text()).toBe(201);
}

const parked = (stub: DurableObjectStub<StreamHub>) => runInDurableObject(stub, (hub: StreamHub) => hub.parkedRows());

async function d1Entries(tenantId: string, contact: string): Promise<string[]> {
  const { results } = await (await shardOf(tenantId)).prepare('SELECT id FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind(tenantId, contact).all<{ id: string }>();
  return results.map((r) => r.id).sort();
}

interface OpsParked {
  relay: {
    hubs: { backlogged: number };
    parked: { count: number; by_reason: Record<string, number>; details: { hub: string; record_id: string; destination: string; reason: string; error: string }[] };
  };
}
const opsStats = async (t: Tenant) => json<OpsParked>(await call('GET', '/api/v1/ops/stats', { key: t.key }));

/** Holds both recorders' relays, runs `append`, then releases both at once: their passes meet in one batcher flush. */
async function together(recs: Recorder[], append: () => Promise<void>): Promise<void> {
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  for (const rec of recs) rec.hold = hold;
  await append();
  for (const rec of recs) rec.hold = null;
  release();
}

/** The other tenant's hub relayed everything on its first try: one attempt per destination, none refused. */
async function expectUnaffected(other: { stub: DurableObjectStub<StreamHub>; rec: Recorder; t: Tenant; contact: string }, ids: string[]) {
  await eventually(async () => (await outbox(other.stub)).pending === 0, { timeoutMs: 3_000 });
  expect(other.rec.attempts).toEqual({ d1: 1, webhooks: 1, analytics: 1 });
  expect(other.rec.rejected).toEqual({ d1: 0, webhooks: 0, analytics: 0 });
  expect(await d1Entries(other.t.id, other.contact)).toEqual([...ids].sort());
  expect(await parked(other.stub)).toEqual([]);
}

describe('A record that can never reach a destination is parked; the rest of the outbox and other hubs go on', () => {
  it('D1 refuses one entry (a constraint): it is parked for D1, the later entries reach D1, another tenant in the same flush is unaffected', async () => {
    const a = await recordedHub();
    const bT = await newTenant();
    const bHub = await recordedHub({ t: bT, contact: contactInShardOf(bT, a.stub.id.toString()) });
    // Contact a's D1 index already holds sequence number 1 under another id: its first entry can never be written there.
    await (await shardOf(a.t.id)).prepare(
      `INSERT INTO contact_events (tenant_id, id, contact_id, sequence_number, event_type, category, priority, payload, metadata, source,
         is_realtime, delivered, read, visible_to_client, visible_to_agent, occurred_at, created_at, revision)
       VALUES (?, ?, ?, 1, 'note_added', 'note', 'normal', '{}', '{}', 'agent', 0, 0, 0, 0, 1, 0, 0, 1)`,
    )
      .bind(a.t.id, uuid(), a.contact)
      .run();
    const aIds = [uuid(), uuid(), uuid(), uuid(), uuid()];
    const bIds = [uuid(), uuid(), uuid()];
    await together([a.rec, bHub.rec], async () => {
      await Promise.all([appendEntries(a.t, a.contact, aIds), appendEntries(bHub.t, bHub.contact, bIds)]);
    });

    await eventually(async () => (await outbox(a.stub)).pending === 0, { timeoutMs: 5_000 });
    expect(await parked(a.stub)).toEqual([
      expect.objectContaining({ destination: 'd1', kind: 'timeline', record_id: aIds[0], reason: 'rejected', error: expect.stringMatching(/UNIQUE/) }),
    ]);
    // The entries behind it reached D1; every entry (the parked one too) reached both queues.
    const inD1 = await d1Entries(a.t.id, a.contact);
    expect(inD1).toEqual(expect.arrayContaining(aIds.slice(1)));
    expect(inD1).not.toContain(aIds[0]);
    for (const id of aIds) {
      expect(a.rec.counts.webhooks.get(id), `webhooks got ${id}`).toBe(1);
      expect(a.rec.counts.analytics.get(id), `analytics got ${id}`).toBe(1);
    }
    await expectUnaffected(bHub, bIds);

    // Operations see it: counted by reason, with the record, and no backlog is left.
    const stats = await eventually(async () => {
      const s = await opsStats(a.t);
      return s.relay.parked.count === 1 && s.relay.hubs.backlogged === 0 ? s : undefined;
    });
    expect(stats.relay.parked.by_reason).toEqual({ rejected: 1 });
    expect(stats.relay.parked.details[0]).toMatchObject({ hub: `contact:${a.contact}`, record_id: aIds[0], destination: 'd1', reason: 'rejected' });
    expect((await opsStats(bHub.t)).relay.parked.count).toBe(0);

    // Later appends relay as usual.
    const later = uuid();
    await appendEntries(a.t, a.contact, [later]);
    await eventually(async () => (await d1Entries(a.t.id, a.contact)).includes(later));
    // The queue sends start after the D1 write and may answer after the row is visible there.
    await eventually(async () => a.rec.counts.webhooks.has(later) && a.rec.counts.analytics.has(later));
    expect(a.rec.counts.webhooks.get(later)).toBe(1);
    expect(a.rec.counts.analytics.get(later)).toBe(1);
  });

  it('a record over the queue message limit is parked for webhooks before any send; D1 and analytics get it; later entries and another tenant go on', async () => {
    const a = await recordedHub();
    const bT = await newTenant();
    const bHub = await recordedHub({ t: bT, contact: contactInShardOf(bT, a.stub.id.toString()) });
    const aIds = [uuid(), uuid()];
    const bIds = [uuid(), uuid()];
    // As committed by a version without the record limit: an entry of ~200 KB in the outbox.
    const big = await runInDurableObject(a.stub, (_hub: StreamHub, state) => {
      const now = new Date().toISOString();
      const record: TimelineEntryRecord = {
        id: uuid(), contact_id: a.contact, sequence_number: 1, session_id: null, event_type: 'note_added', category: 'note', priority: 'normal',
        title: 'big', description: null, payload: { blob: 'x'.repeat(200_000) }, metadata: {}, source: 'agent', triggered_by: null,
        integration_source: null, is_realtime: false, delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false,
        visible_to_agent: true, expires_at: null, occurred_at: now, created_at: now, origin_event_id: null,
      };
      const item: OutboxItem = { kind: 'timeline', record, revision: 1, announce: true };
      state.storage.sql.exec(`INSERT INTO meta (key, value) VALUES ('owner', ?), ('seq', '1')`, JSON.stringify({ tenantId: a.t.id, kind: 'contact', id: a.contact }));
      state.storage.sql.exec(`INSERT INTO outbox (kind, body, d1, wq, aq, created_at) VALUES ('timeline', ?, 1, 1, 1, ?)`, JSON.stringify(item), Date.now());
      return record.id;
    });
    // A fresh instance reads the owner and counter from storage.
    await evictDurableObject(a.stub);
    await a.rec.install(a.stub);

    await together([a.rec, bHub.rec], async () => {
      await Promise.all([appendEntries(a.t, a.contact, aIds), appendEntries(bHub.t, bHub.contact, bIds)]);
    });
    await eventually(async () => (await outbox(a.stub)).pending === 0, { timeoutMs: 5_000 });
    const rows = await parked(a.stub);
    // Parked for webhooks, which carry whole records; analytics carries only what it counts, which fits.
    expect(rows.map((r) => [r.record_id, r.destination, r.reason])).toEqual([[big, 'webhooks', 'oversized']]);
    expect(rows[0]!.error).toMatch(/bytes of JSON, over what one queue message carries/);
    // Never sent to webhooks (it would fail every send it is part of), but counted and in D1.
    expect(a.rec.counts.webhooks.has(big)).toBe(false);
    expect(a.rec.counts.analytics.get(big)).toBe(1);
    expect(await d1Entries(a.t.id, a.contact)).toEqual([big, ...aIds].sort());
    for (const id of aIds) {
      expect(a.rec.counts.webhooks.get(id)).toBe(1);
      expect(a.rec.counts.analytics.get(id)).toBe(1);
    }
    expect(a.rec.rejected).toEqual({ d1: 0, webhooks: 0, analytics: 0 });
    await expectUnaffected(bHub, bIds);
    const stats = await eventually(async () => {
      const s = await opsStats(a.t);
      return s.relay.parked.count === 1 ? s : undefined;
    });
    expect(stats.relay.parked.by_reason).toEqual({ oversized: 1 });
  });

  it('a record a destination refuses while taking others is found in a large pass and parked after 3 failures alone; the rest go through', async () => {
    const a = await recordedHub();
    const ids = Array.from({ length: 40 }, () => uuid());
    const poison = ids[26]!;
    a.rec.refuse.webhooks.add(poison);
    await appendEntries(a.t, a.contact, ids);
    await eventually(async () => (await outbox(a.stub)).pending === 0, { timeoutMs: 5_000 });
    expect(await parked(a.stub)).toEqual([expect.objectContaining({ record_id: poison, destination: 'webhooks', reason: 'failed_alone' })]);
    for (const id of ids) {
      expect(a.rec.counts.d1.get(id), `d1 got ${id}`).toBe(1);
      expect(a.rec.counts.analytics.get(id), `analytics got ${id}`).toBe(1);
      if (id !== poison) expect(a.rec.counts.webhooks.get(id), `webhooks got ${id}`).toBe(1);
    }
    expect(a.rec.counts.webhooks.has(poison)).toBe(false);
    // Narrowing halves the pass on each failure: a handful of passes, not one per row.
    console.log(`webhooks sends to isolate 1 bad record among 40: ${a.rec.attempts.webhooks}`);
    expect(a.rec.attempts.webhooks).toBeLessThan(20);
  });

  it('a record refused fewer than 3 times alone is not parked: it goes through when the refusals stop', async () => {
    const a = await recordedHub();
    const ids = Array.from({ length: 10 }, () => uuid());
    const flaky = ids[4]!;
    // Refused in the batch's row (which is then split into a row per entry), in the passes that narrow
    // down to it (rows 4-7, 4-5, 5-6), then twice alone: one short of parking.
    a.rec.refuseTimes.webhooks.set(flaky, 6);
    await appendEntries(a.t, a.contact, ids);
    await eventually(async () => (await outbox(a.stub)).pending === 0, { timeoutMs: 5_000 });
    expect(a.rec.refuseTimes.webhooks.get(flaky)).toBe(0);
    expect(await parked(a.stub)).toEqual([]);
    for (const id of ids) expect(a.rec.counts.webhooks.get(id), `webhooks got ${id}`).toBe(1);
  });

  it("a batch's row is split only when every refusal is its own: with analytics down it waits whole, then splits and counts each entry once", async () => {
    const a = await recordedHub();
    const ids = Array.from({ length: 4 }, () => uuid());
    // D1 refuses one entry for its own sake while the analytics queue is down for everybody.
    a.rec.refuse.d1.add(ids[1]!);
    a.rec.fail.analytics = true;
    await appendEntries(a.t, a.contact, ids);
    await eventually(async () => a.rec.attempts.analytics > 0);
    for (let i = 0; i < 3; i++) await runDurableObjectAlarm(a.stub);
    // Still the batch's one row: split now, its entries' own rows could count what a lost-looking send
    // of the batch's message had counted.
    expect((await outbox(a.stub)).pending).toBe(1);
    expect(await parked(a.stub)).toEqual([]);
    a.rec.fail.analytics = false;
    await runDurableObjectAlarm(a.stub);
    await eventually(async () => (await outbox(a.stub)).pending === 0, { timeoutMs: 5_000 });
    expect(await parked(a.stub)).toEqual([expect.objectContaining({ destination: 'd1', record_id: ids[1], reason: 'failed_alone' })]);
    for (const id of ids) expect(a.rec.counts.analytics.get(id), `analytics got ${id}`).toBe(1);
    expect(await d1Entries(a.t.id, a.contact)).toEqual(ids.filter((id) => id !== ids[1]).sort());
  });

  it('an outage is not a poison: nothing is parked while a destination refuses everything', async () => {
    const a = await recordedHub();
    a.rec.fail.webhooks = true;
    const ids = Array.from({ length: 5 }, () => uuid());
    await appendEntries(a.t, a.contact, ids);
    await eventually(async () => a.rec.attempts.webhooks > 0);
    for (let i = 0; i < 5; i++) await runDurableObjectAlarm(a.stub);
    expect(await parked(a.stub)).toEqual([]);
    // One row for the batch, kept whole: an outage is no reason to split it.
    expect((await outbox(a.stub)).pending).toBe(1);
    a.rec.fail.webhooks = false;
    await runDurableObjectAlarm(a.stub);
    await eventually(async () => (await outbox(a.stub)).pending === 0);
    for (const id of ids) expect(a.rec.counts.webhooks.get(id)).toBe(1);
  });
});
