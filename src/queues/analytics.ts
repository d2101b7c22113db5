import { tenantDb } from '../db/shards';
import { ANALYTICS_CONSUMER, rollupStatements } from '../db/analytics';
import { rollupItems, uniqueItems, type RollupItem } from '../domain/analytics';
import { failedBatchRetryDelaySeconds } from '../domain/queue-retry';
import { unpackRelay, type QueueRecord, type RelayQueueBody } from './messages';

/** The optional Workers Analytics Engine binding (see docs/analytics.md); absent → skipped. */
type WithAnalyticsEngine = Env & { EVENTS_AE?: AnalyticsEngineDataset };

/**
 * Events per D1 transaction. A batch of 100 packs can hold thousands of events, and one transaction
 * over all of them would hold the database (which runs one query at a time) for hundreds of ms,
 * delaying every append's relay and every read meanwhile.
 */
const CHUNK_ITEMS = 250;
/**
 * A pause between chunks. Back to back, a backlog's chunks keep the runtime's event loop busy and its
 * timers (the relay batcher's linger among them) fire hundreds of ms late; locally, where one thread
 * runs everything, idle relay lag then had outliers of 270-920 ms (docs/decisions.md "Counted exactly once").
 */
const CHUNK_PAUSE_MS = 5;

/**
 * The `analytics` queue: counts each event once in the D1 rollups (idempotent by event id, see
 * rollupStatements) and, when an Analytics Engine dataset is bound, writes one data point per
 * newly counted event. Events commit in chunks of CHUNK_ITEMS, each one D1 transaction with its
 * processed markers; a failed chunk retries the batch, whose committed chunks then count nothing.
 */
export async function consumeAnalytics(batch: MessageBatch<RelayQueueBody<QueueRecord>>, env: Env, _ctx: ExecutionContext): Promise<void> {
  const started = Date.now();
  const items: RollupItem[] = [];
  let malformed = 0;
  let records = 0;
  for (const message of batch.messages) {
    // A pack holds many records; anything unreadable counts as one malformed record.
    for (const record of unpackRelay(message.body)) {
      records += 1;
      const got = rollupItems(record);
      if (got) items.push(...got);
      else malformed += 1;
    }
  }
  const unique = uniqueItems(items);
  let counted = 0;
  let written = 0;
  // Each shard on its own: a shard that fails retries only its tenants' messages, the others count.
  const failedTenants = new Set<string>();
  let failure: unknown;
  for (const [db, list] of await byShard(env, unique)) {
    try {
      for (const [i, part] of chunks(list).entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, CHUNK_PAUSE_MS));
        const returning = (env as WithAnalyticsEngine).EVENTS_AE !== undefined;
        const results = await db.batch<{ tenant_id: string; event_id: string }>(rollupStatements(db, part, started, { returning }));
        const markers = results[results.length - 1]!;
        const now = markers.results;
        counted += returning ? now.length : markers.meta.changes;
        // Right after the chunk commits: a later chunk that fails must not lose these points (its retry
        // finds these events counted and writes no point for them).
        written += writeDataPoints(env as WithAnalyticsEngine, part, now);
      }
    } catch (error) {
      for (const item of list) failedTenants.add(item.tenant_id);
      failure ??= error;
    }
  }
  if (failedTenants.size > 0) {
    // The failed chunk was not applied (one transaction); earlier chunks were, with their markers, so
    // the retry counts only the rest. The failed shard's messages come back, each after a backoff on
    // its own attempt count.
    const failed = batch.messages.filter((m) => failedTenants.has(m.body.tenant_id));
    for (const m of batch.messages) {
      if (failedTenants.has(m.body.tenant_id)) m.retry({ delaySeconds: failedBatchRetryDelaySeconds(m.attempts) });
      else m.ack();
    }
    const attempts = Math.max(...failed.map((m) => m.attempts));
    console.error(JSON.stringify({ msg: 'queue batch failed', queue: batch.queue, messages: failed.length, attempts, retry_in_s: failedBatchRetryDelaySeconds(attempts), error: String(failure) }));
    return;
  }
  batch.ackAll();
  console.log(
    JSON.stringify({
      msg: 'queue batch',
      queue: batch.queue,
      consumer: ANALYTICS_CONSUMER,
      messages: batch.messages.length,
      records,
      counted,
      duplicates: unique.length - counted + (items.length - unique.length),
      malformed,
      ae_points: written,
      ms: Date.now() - started,
    }),
  );
}

/**
 * The items in chunks of about CHUNK_ITEMS, never splitting the items of one marker (they are adjacent:
 * an event and its derived entry come from one message): a chunk that counted the event would leave
 * the entry, in the next chunk, finding its marker already set and counted never.
 */
function chunks(list: RollupItem[]): RollupItem[][] {
  const out: RollupItem[][] = [];
  let start = 0;
  while (start < list.length) {
    let end = Math.min(start + CHUNK_ITEMS, list.length);
    while (end < list.length && list[end]!.marker === list[end - 1]!.marker && list[end]!.tenant_id === list[end - 1]!.tenant_id) end += 1;
    out.push(list.slice(start, end));
    start = end;
  }
  return out;
}

/** The items grouped by their tenant's shard (the directory lookups are cached). */
async function byShard(env: Env, items: RollupItem[]): Promise<Map<D1Database, RollupItem[]>> {
  const out = new Map<D1Database, RollupItem[]>();
  for (const item of items) {
    const db = await tenantDb(env, item.tenant_id);
    const list = out.get(db);
    if (list) list.push(item);
    else out.set(db, [item]);
  }
  return out;
}

/**
 * One Analytics Engine data point per event counted just now (redeliveries are skipped, as in D1).
 * Best effort: after the D1 commit, so a crash here loses points, never doubles them.
 */
function writeDataPoints(env: WithAnalyticsEngine, items: RollupItem[], counted: { tenant_id: string; event_id: string }[]): number {
  const dataset = env.EVENTS_AE;
  if (!dataset || counted.length === 0) return 0;
  // The markers inserted now: each names the items it guards.
  const fresh = new Set(counted.map((c) => `${c.tenant_id}\u0000${c.event_id}`));
  let n = 0;
  for (const i of items) {
    if (!fresh.has(`${i.tenant_id}\u0000${i.marker}`)) continue;
    try {
      // An item may count a log event and its entry: a point for each.
      if (i.events) dataset.writeDataPoint({ indexes: [i.tenant_id], blobs: ['event', i.event_type, i.source, '', i.event_id], doubles: [1, i.hour] });
      if (i.entries) dataset.writeDataPoint({ indexes: [i.tenant_id], blobs: ['contact_event', i.entry_type, i.entry_source, i.category, i.entry_id ?? i.event_id], doubles: [1, i.hour] });
      n += i.events + i.entries;
    } catch (error) {
      console.error(JSON.stringify({ msg: 'analytics engine write failed', error: String(error) }));
      break;
    }
  }
  return n;
}
