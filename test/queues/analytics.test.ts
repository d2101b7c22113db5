import { allShards } from '../../src/db/shards';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { statsFromRollups } from '../../src/db/analytics';
import { floorHour } from '../../src/domain/analytics';
import { eventsCountMessages, relayMessageIds } from '../../src/domain/relay-message';
import { failedBatchRetryDelaySeconds } from '../../src/domain/queue-retry';
import { DAY_MS, HOUR_MS } from '../../src/domain/time';
import { call, eventually, json, newTenant, uuid, type Tenant, shardOf, tenantOnShard } from '../support/api';
import { chunk, deliverAnalytics, relayMessagesFromD1, sentRecords, shuffle } from '../support/analytics';

interface Groups {
  total: number;
  groups: { key: string; count: number }[];
}

const TYPES = ['message.sent', 'message.received', 'contact.created', 'session.started', 'tag.added', 'cron.cleanup.expired_sessions'] as const;
const SOURCES = ['system', 'webhook', 'manual', 'cron', 'workflow'] as const;

/** A spread of events over four days of hours, half of them on two contacts (through their hubs). */
async function seed(t: Tenant, n: number, base: number): Promise<void> {
  const contacts = [uuid(), uuid()];
  const events = Array.from({ length: n }, (_, i) => ({
    event_type: TYPES[i % TYPES.length],
    source: SOURCES[(i * 7) % SOURCES.length],
    ...(i % 2 === 0 ? { contact_id: contacts[i % 4 === 0 ? 0 : 1] } : {}),
    timestamp: new Date(base + ((i * 37) % 96) * HOUR_MS + (i % 60) * 60_000).toISOString(),
    payload: { i },
  }));
  for (const part of chunk(events, 100)) {
    const res = await call('POST', '/api/v1/events/batch', { key: t.key, body: { events: part } });
    expect(res.status).toBe(201);
  }
}

const rawCounts = async (tenantId: string, expr: string, table = 'events', time = 'timestamp', where = ''): Promise<Record<string, number>> => {
  const { results } = await (await shardOf(tenantId)).prepare(
    `SELECT ${expr} AS k, count(*) AS n FROM ${table} WHERE tenant_id = ? AND ${time} >= ? AND ${time} < ? ${where} GROUP BY k`,
  )
    .bind(tenantId, 0, Number.MAX_SAFE_INTEGER)
    .all<{ k: string | number; n: number }>();
  return Object.fromEntries(results.map((r) => [String(r.k), r.n]));
};

/**
 * An env whose D1 `batch()` fails, inside its transaction (after the rollup statements ran), whenever
 * `fails(statementCount)` says so; other batches run as they are.
 */
const failingBatches = (fails: (statements: number) => boolean, onlyShard?: number) =>
  Object.fromEntries(
    allShards(env)
      .filter((s) => onlyShard === undefined || s.index === onlyShard)
      .map((s) => [
      s.binding,
      new Proxy(s.db, {
        get(target, prop) {
          if (prop === 'batch')
            return (stmts: D1PreparedStatement[]) =>
              fails(stmts.length) ? target.batch([...stmts, target.prepare('INSERT INTO no_such_table VALUES (1)')]) : target.batch(stmts);
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
    ]),
  );

const asMap = (g: Groups) => Object.fromEntries(g.groups.map((x) => [x.key, x.count]));

async function analytics(t: Tenant, query: string): Promise<Groups> {
  const res = await call('GET', `/api/v1/analytics/events?${query}`, { key: t.key });
  expect(res.status).toBe(200);
  return json<Groups>(res);
}

describe('analytics rollups', () => {
  it('equal COUNT over the raw log and timeline after replays with duplicates and out-of-order delivery', async () => {
    const t = await newTenant();
    const base = floorHour(Date.now()) - 5 * DAY_MS;
    const N = 240;
    await seed(t, N, base);
    const range = `from=${new Date(base - DAY_MS).toISOString()}&to=${new Date(base + 6 * DAY_MS).toISOString()}`;

    // The live path: relay → analytics queue → consumer, eventually everything is counted once.
    await eventually(async () => (await analytics(t, `${range}&group_by=type`)).total === N, { timeoutMs: 15_000 });
    const entries = await eventually(async () => {
      const n = (await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n;
      return n > 0 && (await analytics(t, `${range}&group_by=category`)).total === n ? n : false;
    }, { timeoutMs: 15_000 });

    // Replay everything three more times: shuffled, with in-batch duplicates, in odd batch sizes.
    const all = await relayMessagesFromD1(t.id);
    expect(all.flatMap(relayMessageIds).length).toBe(N + entries);
    for (const [round, size] of [[1, 7], [2, 33], [3, 100]] as const) {
      const msgs = shuffle([...all, ...all.slice(0, 20)], round);
      for (const batch of chunk(msgs, size)) {
        const result = await deliverAnalytics(batch);
        expect(result.ackAll).toBe(true);
      }
    }

    expect(asMap(await analytics(t, `${range}&group_by=type`))).toEqual(await rawCounts(t.id, 'event_type'));
    expect(asMap(await analytics(t, `${range}&group_by=source`))).toEqual(await rawCounts(t.id, 'source'));
    const byHour = asMap(await analytics(t, `${range}&group_by=hour`));
    const rawHour = await rawCounts(t.id, `(timestamp / ${HOUR_MS}) * ${HOUR_MS}`);
    expect(byHour).toEqual(Object.fromEntries(Object.entries(rawHour).map(([k, n]) => [new Date(Number(k)).toISOString(), n])));
    const byDay = asMap(await analytics(t, `${range}&group_by=day`));
    const rawDay = await rawCounts(t.id, `(timestamp / ${DAY_MS}) * ${DAY_MS}`);
    expect(byDay).toEqual(Object.fromEntries(Object.entries(rawDay).map(([k, n]) => [new Date(Number(k)).toISOString(), n])));
    expect(asMap(await analytics(t, `${range}&group_by=category`))).toEqual(await rawCounts(t.id, 'category', 'contact_events', 'occurred_at'));

    // A range with ragged hour edges mixes the hourly and daily tables: still exact.
    const from = base + 5 * HOUR_MS;
    const to = base + 3 * DAY_MS + 7 * HOUR_MS;
    const edge = await analytics(t, `from=${from}&to=${to}&group_by=type&source=webhook`);
    const rawEdge = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM events WHERE tenant_id = ? AND source = 'webhook' AND timestamp >= ? AND timestamp < ?`)
      .bind(t.id, from, to)
      .first<{ n: number }>();
    expect(edge.total).toBe(rawEdge!.n);
    expect(edge.total).toBeGreaterThan(0);

    // The lead wires this into GET /events/stats: equal to SQL for hour-aligned ranges, null otherwise.
    const stats = await statsFromRollups((await shardOf(t.id)), t.id, { since: from, until: to, groupBy: 'type' });
    const rawType = await (await shardOf(t.id)).prepare(`SELECT event_type AS k, count(*) AS n FROM events WHERE tenant_id = ? AND timestamp >= ? AND timestamp < ? GROUP BY k`)
      .bind(t.id, from, to)
      .all<{ k: string; n: number }>();
    expect(Object.fromEntries(stats!.groups.map((g) => [g.key, g.count]))).toEqual(Object.fromEntries(rawType.results.map((r) => [r.k, r.n])));
    expect(await statsFromRollups((await shardOf(t.id)), t.id, { since: from, until: to - 1, groupBy: 'type' })).not.toBeNull(); // inclusive hh:59:59.999
    expect(await statsFromRollups((await shardOf(t.id)), t.id, { since: from + 1, until: to, groupBy: 'type' })).toBeNull();
    expect(await statsFromRollups((await shardOf(t.id)), t.id, { since: from, until: to - 1000, groupBy: 'source' })).toBeNull();
    expect(await statsFromRollups((await shardOf(t.id)), t.id, { since: null, until: to, groupBy: 'hour' })).toBeNull();
  });

  it("a failing shard retries only its tenants' messages; the other shard's tenants are counted", async () => {
    const [a, b] = [await tenantOnShard(0), await tenantOnShard(1)];
    const at = floorHour(Date.now()) - 2 * HOUR_MS;
    const msgs = [...sentRecords(a.id, 3, at), ...sentRecords(b.id, 4, at)];
    const result = await deliverAnalytics(msgs, failingBatches(() => true, 1));
    expect(result.ackAll).toBe(false);
    expect(result.retryMessages).toHaveLength(4);
    expect(result.explicitAcks).toHaveLength(3);
    const counted = async (t: Tenant) =>
      (await (await shardOf(t.id)).prepare(`SELECT coalesce(sum(events + entries), 0) AS n FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n;
    expect(await counted(a)).toBe(3);
    expect(await counted(b)).toBe(0);
    // Shard 1 is back: the retry counts b's, and a's are not counted twice.
    expect((await deliverAnalytics(msgs)).ackAll).toBe(true);
    expect([await counted(a), await counted(b)]).toEqual([3, 4]);
  });

  it('a batch that fails inside its D1 transaction counts nothing, and its retry counts each event once', async () => {
    const t = await newTenant();
    const at = floorHour(Date.now()) - 2 * HOUR_MS;
    const msgs = sentRecords(t.id, 5, at);
    // D1 fails after the rollup increments ran, inside the same batch: the transaction must roll back whole.
    const failing = failingBatches(() => true);
    const failed = await deliverAnalytics(msgs, failing, 3);
    expect(failed.ackAll).toBe(false);
    // Every message comes back (the harness does not record the delay: failedBatchRetryDelaySeconds(3) = 8 s).
    expect(failed.retryMessages).toHaveLength(5);
    expect(failedBatchRetryDelaySeconds(3)).toBe(8);
    expect(failedBatchRetryDelaySeconds(30)).toBe(300);
    const counted = async () => (await shardOf(t.id)).prepare(`SELECT coalesce(sum(events + entries), 0) AS n FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>();
    const markers = async () => (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM processed_events WHERE consumer = 'analytics' AND tenant_id = ?`).bind(t.id).first<{ n: number }>();
    expect((await counted())!.n).toBe(0);
    expect((await markers())!.n).toBe(0);

    // The retry (and a second copy of it) count each event exactly once.
    expect((await deliverAnalytics(msgs)).ackAll).toBe(true);
    expect((await deliverAnalytics([...msgs, msgs[0]!])).ackAll).toBe(true);
    expect((await counted())!.n).toBe(5);
    expect((await markers())!.n).toBe(5);
    // Not in the daily table: a tenant never compacted (watermark 0) has its days read from the hourly one.
    const daily = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM analytics_daily WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>();
    expect(daily!.n).toBe(0);
  });

  it('a batch larger than one D1 chunk that fails part way counts each event once after its retry', async () => {
    const t = await newTenant();
    const at = floorHour(Date.now()) - 3 * HOUR_MS;
    // 600 events in one pack: three chunks of at most 250.
    const pack = { kind: 'pack' as const, tenant_id: t.id, messages: sentRecords(t.id, 600, at) };
    const batches: number[] = [];
    // The second transaction fails: the first stays applied, the second and third never run.
    const failing = failingBatches((n) => batches.push(n) === 2);
    const counted = async () =>
      (await (await shardOf(t.id)).prepare(`SELECT coalesce(sum(events + entries), 0) AS n FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n;
    // Analytics Engine points too: the committed chunk's points are written, and none twice.
    const points: AnalyticsEngineDataPoint[] = [];
    const ae = { EVENTS_AE: { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) } };
    const failed = await deliverAnalytics([pack], { ...failing, ...ae });
    expect(failed.ackAll).toBe(false);
    expect(failed.retryMessages).toHaveLength(1);
    expect(batches).toHaveLength(2);
    expect(await counted()).toBe(250);
    expect(points).toHaveLength(250);
    // The retry, and a redelivery of it, count the other 350 once.
    expect((await deliverAnalytics([pack], ae)).ackAll).toBe(true);
    expect((await deliverAnalytics([pack], ae)).ackAll).toBe(true);
    expect(await counted()).toBe(600);
    const markers = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM processed_events WHERE consumer = 'analytics' AND tenant_id = ?`).bind(t.id).first<{ n: number }>();
    expect(markers!.n).toBe(600);
    expect(new Set(points.map((p) => p.blobs![4])).size).toBe(600);
    expect(points).toHaveLength(600);
  });

  it('counts an event and the entry it derived, sent as one message, once each under one marker, also across a chunk edge', async () => {
    const t = await newTenant();
    const at = floorHour(Date.now()) - 2 * HOUR_MS;
    const [pair] = sentRecords(t.id, 1, at);
    const derived = {
      id: uuid(), contact_id: uuid(), sequence_number: 1, session_id: null, event_type: 'session_started', category: 'session' as const, priority: 'normal' as const,
      title: 'sent', description: null, payload: {}, metadata: {}, source: 'system' as const, triggered_by: null, integration_source: null, is_realtime: false,
      delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
      // An hour after its event (a derived entry shares its event's time; this one is made to differ): the
      // pair is then two items, not one row.
      occurred_at: new Date(at + HOUR_MS).toISOString(), created_at: new Date().toISOString(), origin_event_id: pair!.event.id,
    };
    // 249 events, then the pair: the event is the 250th item (the last of the first D1 chunk), its entry the 251st.
    const pack = { kind: 'pack' as const, tenant_id: t.id, messages: [...sentRecords(t.id, 249, at), { ...pair!, derived }] };
    const db = await shardOf(t.id);
    const counts = async () =>
      Object.fromEntries(
        (await db.prepare(`SELECT 'event' AS kind, sum(events) AS n FROM analytics_hourly WHERE tenant_id = ?1 UNION ALL SELECT 'contact_event', sum(entries) FROM analytics_hourly WHERE tenant_id = ?1`).bind(t.id).all<{ kind: string; n: number }>()).results.map((r) => [r.kind, r.n]),
      );
    expect((await deliverAnalytics([pack])).ackAll).toBe(true);
    expect(await counts()).toEqual({ event: 250, contact_event: 1 });
    // A redelivery counts nothing; the pair wrote one marker.
    expect((await deliverAnalytics([pack])).ackAll).toBe(true);
    expect(await counts()).toEqual({ event: 250, contact_event: 1 });
    const markers = await db.prepare(`SELECT count(*) AS n FROM processed_events WHERE consumer = 'analytics' AND tenant_id = ?`).bind(t.id).first<{ n: number }>();
    expect(markers!.n).toBe(250);
  });

  it("counts an append's events, sent in one message, once each under one marker; a redelivery, or the same events sent one by one first, counts nothing more", async () => {
    const total = async (t: Tenant) => (await (await shardOf(t.id)).prepare(`SELECT coalesce(sum(events), 0) AS n FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n;
    const markers = async (t: Tenant) => (await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM processed_events WHERE consumer = 'analytics' AND tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n;
    const at = floorHour(Date.now()) - 2 * HOUR_MS;

    const t = await newTenant();
    const records = sentRecords(t.id, 150, at).map((r) => ({ event: r.event }));
    const messages = eventsCountMessages(t.id, records);
    expect(messages.map((m) => m.kind === 'events' && m.events.length)).toEqual([100, 50]);
    expect((await deliverAnalytics(messages)).ackAll).toBe(true);
    expect(await total(t)).toBe(150);
    expect(await markers(t)).toBe(2);
    expect((await deliverAnalytics(shuffle([...messages, ...messages]))).ackAll).toBe(true);
    expect(await total(t)).toBe(150);

    // Sent one by one first (an earlier version's relay), then in one message (this version's, after a restart).
    const u = await newTenant();
    const single = sentRecords(u.id, 5, at);
    expect((await deliverAnalytics(single)).ackAll).toBe(true);
    expect((await deliverAnalytics(eventsCountMessages(u.id, single.map((r) => ({ event: r.event }))))).ackAll).toBe(true);
    expect(await total(u)).toBe(5);
  });

  it('writes an Analytics Engine point for the event and one for its derived entry, counted in one rollup row, and none on a redelivery', async () => {
    const t = await newTenant();
    const at = floorHour(Date.now()) - HOUR_MS;
    const [pair] = sentRecords(t.id, 1, at);
    const derived = {
      id: uuid(), contact_id: uuid(), sequence_number: 1, session_id: null, event_type: 'session_started', category: 'session' as const, priority: 'normal' as const,
      title: 'sent', description: null, payload: {}, metadata: {}, source: 'system' as const, triggered_by: null, integration_source: null, is_realtime: false,
      delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
      occurred_at: new Date(at).toISOString(), created_at: new Date().toISOString(), origin_event_id: pair!.event.id,
    };
    const points: AnalyticsEngineDataPoint[] = [];
    const ae = { EVENTS_AE: { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) } };
    expect((await deliverAnalytics([{ ...pair!, derived }], ae)).ackAll).toBe(true);
    expect(points.map((p) => p.blobs)).toEqual([
      ['event', 'message.sent', 'system', '', pair!.event.id],
      ['contact_event', 'session_started', 'system', 'session', derived.id],
    ]);
    const rows = await (await shardOf(t.id)).prepare(`SELECT events, entries FROM analytics_hourly WHERE tenant_id = ?`).bind(t.id).all();
    expect(rows.results).toEqual([{ events: 1, entries: 1 }]);
    await deliverAnalytics([{ ...pair!, derived }], ae);
    expect(points).toHaveLength(2);
  });

  it('acknowledges malformed messages without failing the batch, and writes Analytics Engine points only for newly counted events', async () => {
    const t = await newTenant();
    const good = {
      kind: 'contact_event' as const,
      tenant_id: t.id,
      contact_event: {
        id: uuid(), contact_id: uuid(), sequence_number: 1, session_id: null, event_type: 'note_added', category: 'note' as const, priority: 'normal' as const,
        title: 'n', description: null, payload: {}, metadata: {}, source: 'agent' as const, triggered_by: null, integration_source: null, is_realtime: false,
        delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
        occurred_at: new Date().toISOString(), created_at: new Date().toISOString(), origin_event_id: null,
      },
    };
    const points: AnalyticsEngineDataPoint[] = [];
    const ae = { EVENTS_AE: { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) } };
    const bad = { kind: 'event', tenant_id: t.id, event: { id: 'x' } } as never;
    const first = await deliverAnalytics([good, bad], ae);
    expect(first.ackAll).toBe(true);
    expect(points).toHaveLength(1);
    expect(points[0]!.indexes).toEqual([t.id]);
    expect(points[0]!.blobs!.slice(0, 4)).toEqual(['contact_event', 'note_added', 'agent', 'note']);
    await deliverAnalytics([good], ae);
    expect(points).toHaveLength(1);
    const res = await analytics(t, 'group_by=category');
    expect(res).toMatchObject({ kind: 'contact_event', total: 1, groups: [{ key: 'note', count: 1 }] });
  });
});
