import { shardOf } from './api';
import { env } from 'cloudflare:workers';
import { createExecutionContext, createMessageBatch, getQueueResult, type QueueResult } from 'cloudflare:test';
import { timelineEntryFromRow, type TimelineEntryRow } from '../../src/db/contact-events';
import { eventFromRow, type EventRow } from '../../src/db/events';
import { QUEUES, handleQueue } from '../../src/queues';
import type { AnalyticsMessage, QueueRecord, RelayQueueBody } from '../../src/queues/messages';
import { entryCountMessage, eventCountMessage } from '../../src/domain/relay-message';

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
 * does, an entry derived from a log event travels inside its event's message.
 */
export async function relayMessagesFromD1(tenantId: string): Promise<AnalyticsMessage[]> {
  const events = await (await shardOf(tenantId)).prepare(`SELECT * FROM events WHERE tenant_id = ?`).bind(tenantId).all<EventRow>();
  const entries = await (await shardOf(tenantId)).prepare(`SELECT * FROM contact_events WHERE tenant_id = ?`).bind(tenantId).all<TimelineEntryRow>();
  const all = entries.results.map(timelineEntryFromRow);
  const derived = new Map(all.filter((e) => e.origin_event_id !== null).map((e) => [e.origin_event_id!, e]));
  return [
    ...events.results.map((r) => {
      const event = eventFromRow(r);
      return eventCountMessage(tenantId, event, derived.get(event.id));
    }),
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
