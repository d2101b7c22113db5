import { call, json, shardOf, uuid, type Tenant } from './api';
import { env } from 'cloudflare:workers';
import { createExecutionContext, createMessageBatch, getQueueResult, type QueueResult } from 'cloudflare:test';
import { timelineEntryFromRow, type TimelineEntryRow } from '../../src/db/contact-events';
import { eventFromRow, type EventRow } from '../../src/db/events';
import { QUEUES, handleQueue } from '../../src/queues';
import type { AnalyticsMessage, QueueRecord, RelayQueueBody } from '../../src/queues/messages';
import { entryCountMessage, eventCountMessage, eventsCountMessages } from '../../src/domain/relay-message';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import type { EventRecord } from '../../src/domain/schemas/events';
import { DAY_MS, HOUR_MS } from '../../src/domain/time';

let seq = 0;

/** Runs the real queue handler on a batch of the analytics queue, as the runtime would deliver it. */
export async function deliverAnalytics(messages: RelayQueueBody<QueueRecord>[], over: Partial<Env> & Record<string, unknown> = {}, attempts = 1): Promise<QueueResult> {
  const batch = createMessageBatch<RelayQueueBody<QueueRecord>>(
    QUEUES.analytics,
    messages.map((body) => ({ id: `m${(seq += 1)}`, timestamp: Date.now(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await handleQueue(batch as MessageBatch<unknown>, { ...env, ...over } as Env, ctx);
  return getQueueResult(batch, ctx);
}

/**
 * Everything the relay would have sent to `analytics` for this tenant, rebuilt from D1: as the relay
 * does, an entry derived from a log event travels inside its event's message, and the events one
 * append committed to a hub (its stream, its one commit time) share messages, in stream order.
 */
export async function relayMessagesFromD1(tenantId: string): Promise<AnalyticsMessage[]> {
  const events = await (await shardOf(tenantId)).prepare(`SELECT * FROM events WHERE tenant_id = ? ORDER BY stream_id, stream_version`).bind(tenantId).all<EventRow>();
  const entries = await (await shardOf(tenantId)).prepare(`SELECT * FROM contact_events WHERE tenant_id = ?`).bind(tenantId).all<TimelineEntryRow>();
  const all = entries.results.map(timelineEntryFromRow);
  const derived = new Map(all.filter((e) => e.origin_event_id !== null).map((e) => [e.origin_event_id!, e]));
  const appends = new Map<string, { event: EventRecord; derived?: TimelineEntryRecord | undefined }[]>();
  for (const r of events.results) {
    const event = eventFromRow(r);
    // Events no hub committed were sent one by one.
    const key = event.stream_id === null ? `direct:${event.id}` : `${event.stream_id}\u0000${event.created_at}`;
    const list = appends.get(key) ?? [];
    list.push({ event, derived: derived.get(event.id) });
    appends.set(key, list);
  }
  return [
    ...[...appends.values()].flatMap((list) => (list.length === 1 ? [eventCountMessage(tenantId, list[0]!.event, list[0]!.derived)] : eventsCountMessages(tenantId, list))),
    ...all.filter((e) => e.origin_event_id === null).map((e) => entryCountMessage(tenantId, e)),
  ];
}

/** Deterministic shuffle (a seeded LCG), so a failure can be replayed. */
export function shuffle<T>(items: T[], seed = 42): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const chunk = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

/** `n` relayed log-event records of one tenant (`message.sent` unless told), a millisecond apart from `at`. */
export const sentRecords = (tenantId: string, n: number, at: number, eventType = 'message.sent') =>
  Array.from({ length: n }, (_, i) => ({
    kind: 'event' as const,
    tenant_id: tenantId,
    event: {
      id: uuid(), event_type: eventType, source: 'system' as const, contact_id: null, session_id: null, message_id: null,
      payload: { i }, metadata: {}, stream_id: null, sequence_number: null, schema_version: 1,
      timestamp: new Date(at + i).toISOString(), created_at: new Date().toISOString(),
    },
  }));

/** Day `k` days before `today` (a day start). */
export const dayBefore = (today: number, k: number) => today - k * DAY_MS;

/**
 * Log events spread over the days before `today` and today itself, with empty days between them:
 * 3 on day -5, 2 on day -3, 4 late on day -1, 1 early today.
 */
export const spreadRecords = (tenantId: string, today: number) => [
  ...sentRecords(tenantId, 3, dayBefore(today, 5) + 10 * HOUR_MS),
  ...sentRecords(tenantId, 2, dayBefore(today, 3) + 5 * HOUR_MS, 'contact.created'),
  ...sentRecords(tenantId, 4, dayBefore(today, 1) + 23 * HOUR_MS),
  ...sentRecords(tenantId, 1, today + 10 * 60_000, 'tag.added'),
];

/**
 * What GET /analytics/events answers for the tenant's last week, grouped every way that reads the
 * rollups differently: by day, by type and by hour, and over two ranges with ragged hour edges.
 */
export type RollupAnswers = Record<'day' | 'type' | 'hour' | 'ragged' | 'raggedDays', Record<string, number>>;

export async function rollupAnswers(t: Tenant, today: number): Promise<RollupAnswers> {
  const get = async (from: number, to: number, groupBy: string) => {
    const res = await call('GET', `/api/v1/analytics/events?from=${from}&to=${to}&group_by=${groupBy}`, { key: t.key });
    if (res.status !== 200) throw new Error(`GET /analytics/events: ${res.status}`);
    const body = await json<{ total: number; groups: { key: string; count: number }[] }>(res);
    return { total: body.total, ...Object.fromEntries(body.groups.map((g) => [g.key, g.count])) };
  };
  const [from, to] = [dayBefore(today, 6), today + DAY_MS];
  return {
    day: await get(from, to, 'day'),
    type: await get(from, to, 'type'),
    hour: await get(from, to, 'hour'),
    ragged: await get(dayBefore(today, 5) + 11 * HOUR_MS, today + HOUR_MS, 'type'),
    raggedDays: await get(dayBefore(today, 3) + 5 * HOUR_MS, dayBefore(today, 1) + 23 * HOUR_MS, 'day'),
  };
}

/** The tenant's daily rows, summed per day (ISO). */
export async function dailyCounts(tenantId: string): Promise<Record<string, number>> {
  const { results } = await (await shardOf(tenantId))
    .prepare(`SELECT day, sum(events + entries) AS n FROM analytics_daily WHERE tenant_id = ? GROUP BY day ORDER BY day`)
    .bind(tenantId)
    .all<{ day: number; n: number }>();
  return Object.fromEntries(results.map((r) => [new Date(r.day).toISOString(), r.n]));
}

/** The tenant's compaction watermark (null: no row). */
export async function watermarkOf(db: D1Database, tenantId: string): Promise<number | null> {
  const row = await db.prepare(`SELECT through_day FROM analytics_compacted WHERE tenant_id = ?`).bind(tenantId).first<{ through_day: number }>();
  return row?.through_day ?? null;
}
