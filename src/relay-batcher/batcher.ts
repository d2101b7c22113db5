import { isFenced } from '../db/moves';
import { forgetTenantShard, tenantDb } from '../db/shards';
import { DurableObject } from 'cloudflare:workers';
import { kickProjections } from '../projections/runner';
import { sendRelay } from '../queues/messages';
import type { AnalyticsMessage, RelayMessage } from '../domain/relay-message';
import { dropUnwanted } from './wanted';
import { d1Statements } from './statements';
import { carriesEvents, type D1Pass, type RelayFailure, type RelayQueue, type RelayRequest, type RelayResult } from './types';

/**
 * Tries the parts of a flush together, and when that fails, each part on its own: one hub's bad
 * records (any cause) then fail only that hub. A part that fails alone while another part got through
 * is marked isolated (the destination works; the records are the problem).
 */
async function isolating<P>(parts: P[], attempt: (parts: P[]) => Promise<void>): Promise<(RelayFailure | null)[]> {
  const run = (list: P[]) => attempt(list).then(
    () => null,
    (e: unknown) => String(e),
  );
  const together = await run(parts);
  if (together === null) return parts.map(() => null);
  if (parts.length === 1) return [{ error: together, isolated: false }];
  const alone = await Promise.all(parts.map((p) => run([p])));
  const someOk = alone.some((e) => e === null);
  return alone.map((error) => (error === null ? null : { error, isolated: someOk }));
}

/**
 * The queue sends of a batch start this much apart, after the D1 write has started. The three writes
 * stay concurrent, but each one's work (D1's statements; a queue's broker and then its consumer) comes
 * as its own short burst instead of one long one. Where everything shares one thread (`wrangler dev`,
 * the bench) an append that lands on a flush then waits behind one burst, not all three (docs/decisions.md
 * "The relay batcher and queue packs"). In production the destinations are remote and the stagger adds at most 12 ms of relay lag.
 */
const RELAY_STAGGER_MS = 6;

interface Job {
  request: RelayRequest;
  resolve: (r: RelayResult) => void;
}

const MAX_JOBS = 200;
/**
 * How long the first pass waits for others before a batch is written. Every D1 batch and queue send
 * has a fixed cost; when hubs relay one append each, waiting a few milliseconds turns hundreds of
 * single-row writes into a few large ones (relay lag grows by at most this much).
 */
const RELAY_LINGER_MS = 20;

/**
 * Group commit across hubs. Keeps nothing durable: the hubs keep their outbox rows until the answer
 * says a destination got them, so a batcher lost mid-flight costs a retry, never an event. The first
 * pass that arrives waits RELAY_LINGER_MS for others; passes that arrive meanwhile, or while a write is
 * in flight, are merged into one D1 batch (one transaction) and one send per queue.
 */
export class RelayBatcher extends DurableObject<Env> {
  private waiting: Job[] = [];
  private flushing = false;

  relay(request: RelayRequest): Promise<RelayResult> {
    return new Promise<RelayResult>((resolve) => {
      this.waiting.push({ request, resolve });
      if (!this.flushing) {
        this.flushing = true;
        setTimeout(() => void this.flushLoop(), RELAY_LINGER_MS);
      }
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.waiting.length > 0) await this.flush(this.waiting.splice(0, MAX_JOBS));
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Writes one batch. Resolves once D1 has it, so that the next batch can start; the queue sends go
   * on meanwhile and each pass gets its answer when all three destinations have answered. (A hub has
   * one pass in flight at a time, so two batches never carry rows of the same hub.)
   */
  private async flush(jobs: Job[]): Promise<void> {
    const results: RelayResult[] = jobs.map(() => ({}));
    const d1Jobs = jobs.flatMap((j, i) => (j.request.d1 ? [{ i, d1: j.request.d1 }] : []));
    const d1 = this.writeD1(d1Jobs, results).catch((e: unknown) => {
      for (const l of d1Jobs) results[l.i]!.d1 = { error: String(e), isolated: false };
    });
    const webhooks = jobs.flatMap((j, i) => (j.request.webhooks ? [{ i, messages: j.request.webhooks }] : []));
    const analytics = jobs.flatMap((j, i) => (j.request.analytics ? [{ i, messages: j.request.analytics }] : []));
    const queues = [
      this.sendQueue('webhooks', 1, results, webhooks, async (list) => {
        const kept = await dropUnwanted(this.env, list.map((l) => l.messages));
        // A pass left with nothing to send got through: nothing of it was wanted.
        list.forEach((l, n) => {
          if (kept[n]!.length === 0) results[l.i]!.webhooks = null;
        });
        return list.map((l, n) => ({ ...l, messages: kept[n]! })).filter((l) => l.messages.length > 0);
      }),
      this.sendQueue('analytics', 2, results, analytics, async (list) => list),
    ];
    void Promise.all([d1, ...queues]).then(() => jobs.forEach((j, i) => j.resolve(results[i]!)));
    await d1;
  }

  /** Sends one queue's passes (after `keep` has dropped what nobody wants), each pass answered on its own. */
  private async sendQueue<M extends RelayMessage | AnalyticsMessage>(
    q: RelayQueue,
    stagger: number,
    results: RelayResult[],
    jobs: { i: number; messages: M[] }[],
    keep: (jobs: { i: number; messages: M[] }[]) => Promise<{ i: number; messages: M[] }[]>,
  ): Promise<void> {
    if (jobs.length === 0) return;
    await new Promise((r) => setTimeout(r, RELAY_STAGGER_MS * stagger));
    const list = await keep(jobs);
    if (list.length === 0) return;
    const queue = q === 'webhooks' ? this.env.WEBHOOKS_QUEUE : this.env.ANALYTICS_QUEUE;
    const answers = await isolating(list, (part) => sendRelay(queue, part.flatMap((l) => l.messages)));
    list.forEach((l, n) => (results[l.i]![q] = answers[n]!));
  }

  private async writeD1(list: { i: number; d1: D1Pass }[], results: RelayResult[]): Promise<void> {
    if (list.length === 0) return;
    // Per shard, in parallel: a shard that fails fails only its tenants' passes (their hubs retry).
    const byShard = new Map<D1Database, { i: number; d1: D1Pass }[]>();
    for (const l of list) {
      let db: D1Database;
      try {
        db = await tenantDb(this.env, l.d1.tenantId);
      } catch (e) {
        results[l.i]!.d1 = { error: String(e), isolated: false };
        continue;
      }
      const group = byShard.get(db);
      if (group) group.push(l);
      else byShard.set(db, [l]);
    }
    await Promise.all(
      [...byShard].map(async ([db, group]) => {
        // One transaction for all of the shard's passes; if it fails, each pass on its own (one hub's
        // bad rows must not hold back every other hub).
        const answers = await isolating(group, async (part) => {
          await db.batch(d1Statements(db, part.map((l) => l.d1)));
        });
        group.forEach((l, n) => {
          const answer = answers[n]!;
          results[l.i]!.d1 = answer;
          // The tenant moved: this isolate's directory entry is stale; the hub's retry resolves afresh.
          if (answer && isFenced(answer.error)) forgetTenantShard(l.d1.tenantId);
        });
      }),
    );
    // New log events are in D1: their tenants' projections can fold them (not awaited; the minute
    // cron is the safety net).
    const tenants = new Set(list.filter((l) => results[l.i]!.d1 === null && l.d1.rows.some((r) => carriesEvents(r.item))).map((l) => l.d1.tenantId));
    for (const tenantId of tenants) void kickProjections(this.env, tenantId);
  }
}

