import { DurableObject } from 'cloudflare:workers';
import { deleteContactEventsStatement, upsertContactEventsStatement } from '../db/contact-events';
import { insertEventsStatement, type EventInsert } from '../db/events';
import type { ContactEventRecord } from '../domain/schemas/contact-events';
import { kickProjections } from '../projections/runner';
import { sendRelay, type RelayMessage } from '../queues/messages';

/** An outbox row's body, by kind. */
export type OutboxItem =
  | { kind: 'event'; insert: EventInsert }
  | { kind: 'timeline'; record: ContactEventRecord; revision: number; announce: boolean }
  | { kind: 'timeline_delete'; id: string };

export interface OutboxRow {
  id: number;
  item: OutboxItem;
  /** Length of the stored body (UTF-16 units), when read from the outbox: a cheap bound of its size. */
  chars?: number;
  d1: boolean;
  wq: boolean;
  aq: boolean;
}

export type RelayQueue = 'webhooks' | 'analytics';

// Rows travel as one JSON parameter per statement (src/db/bulk.ts); D1 caps a string value at 2 MB.
const STATEMENT_ROWS = 200;
const STATEMENT_BYTES = 1_000_000;

/** One hub's outbox rows bound for D1. */
export interface D1Pass {
  tenantId: string;
  rows: OutboxRow[];
}

/**
 * The D1 statements that apply relay passes, as few as possible: every statement has a fixed cost
 * (measured locally: ten event + timeline pairs cost 5.5 ms as twenty one-row statements, 2.7 ms as
 * two ten-row ones), and a hub's outbox alternates a log event with the timeline entry derived from it.
 *
 * Per tenant, log events go in their own statements: inserts that only ever add rows (idempotent by
 * id), so their order relative to timeline changes is free. Timeline changes keep their outbox order
 * within a pass (an upsert then a delete of the same entry must stay so); passes are of different
 * contacts, so theirs is free, and their changes are concatenated into runs of one kind.
 */
export function d1Statements(db: D1Database, passes: D1Pass[]): D1PreparedStatement[] {
  const byTenant = new Map<string, OutboxRow[]>();
  for (const p of passes) {
    const list = byTenant.get(p.tenantId);
    if (list) list.push(...p.rows);
    else byTenant.set(p.tenantId, [...p.rows]);
  }
  const statements: D1PreparedStatement[] = [];
  for (const [tenantId, rows] of byTenant) {
    statements.push(...runStatements(db, tenantId, rows.filter((r) => r.item.kind === 'event')));
    statements.push(...runStatements(db, tenantId, rows.filter((r) => r.item.kind !== 'event')));
  }
  return statements;
}

/** Consecutive rows of a kind in one statement, bounded in rows and bytes. */
function runStatements(db: D1Database, tenantId: string, rows: OutboxRow[]): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  let run: OutboxRow[] = [];
  let runBytes = 0;
  const flush = () => {
    const first = run[0];
    if (!first) return;
    const kind = first.item.kind;
    if (kind === 'event') {
      statements.push(insertEventsStatement(db, tenantId, run.map((r) => (r.item as Extract<OutboxItem, { kind: 'event' }>).insert)));
    } else if (kind === 'timeline') {
      const items = run.map((r) => r.item as Extract<OutboxItem, { kind: 'timeline' }>);
      statements.push(upsertContactEventsStatement(db, tenantId, items));
    } else {
      statements.push(deleteContactEventsStatement(db, tenantId, run.map((r) => (r.item as Extract<OutboxItem, { kind: 'timeline_delete' }>).id)));
    }
    run = [];
    runBytes = 0;
  };
  for (const row of rows) {
    // An upper bound of the UTF-8 size: no UTF-16 code unit takes more than 3 bytes.
    const bytes = JSON.stringify(row.item).length * 3;
    if (run.length > 0 && (run[0]!.item.kind !== row.item.kind || run.length >= STATEMENT_ROWS || runBytes + bytes > STATEMENT_BYTES)) flush();
    run.push(row);
    runBytes += bytes;
  }
  flush();
  return statements;
}

/** One hub's relay pass, as handed to a RelayBatcher: any of the three destinations. */
export interface RelayRequest {
  d1?: D1Pass;
  webhooks?: RelayMessage[];
  analytics?: RelayMessage[];
}
/**
 * Why a destination refused a pass. `isolated`: the same destination accepted other hubs' records in
 * the same batcher flush, so the failure is this pass's own (its records), not an outage.
 */
export interface RelayFailure {
  error: string;
  isolated: boolean;
}
/** Per destination: null when it got through, else why not. */
export type RelayResult = { [K in keyof RelayRequest]?: RelayFailure | null };

/**
 * What a RelaySink call rejects with: the batcher's answer for that destination. A sink replaced in
 * tests may reject with any Error, which counts as not isolated (as an outage would).
 */
export class RelayError extends Error {
  constructor(readonly failure: RelayFailure) {
    super(failure.error);
  }
}

/** The failure a sink call rejected with (by shape: a RelayError may come from another module instance). */
export function relayFailureOf(reason: unknown): RelayFailure {
  const f = reason !== null && typeof reason === 'object' ? (reason as { failure?: Partial<RelayFailure> }).failure : undefined;
  return f && typeof f.error === 'string' ? { error: f.error, isolated: f.isolated === true } : { error: String(reason), isolated: false };
}

const RELAY_SHARDS = 4;
const RELAY_TIMEOUT_MS = 30_000;

/** Which of the RELAY_SHARDS batchers a hub (by its Durable Object id) relays through. */
export function shardOf(key: string): number {
  // FNV-1a: stable, cheap, and spreads hub ids evenly.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % RELAY_SHARDS;
}

type Staged = { [K in keyof Required<RelayRequest>]?: { value: RelayRequest[K]; resolve: () => void; reject: (e: Error) => void } };

/**
 * Where a hub's relay sends outbox rows: D1 and the two queues. Kept as an object of its own so that
 * tests can make a destination fail for a while (fault injection) without touching the hub.
 *
 * The calls of one relay pass (made in the same tick) travel together as one RPC to a RelayBatcher,
 * which merges the passes of many hubs into one D1 batch and one send per queue (group commit across
 * contacts): without it every append would cost its own D1 write and two queue sends.
 */
export class RelaySink {
  private staged: Staged | null = null;

  constructor(
    private readonly env: Env,
    private readonly hubKey: string,
  ) {}

  writeD1(tenantId: string, rows: OutboxRow[]): Promise<void> {
    return this.stage('d1', { tenantId, rows });
  }

  send(queue: RelayQueue, messages: RelayMessage[]): Promise<void> {
    return this.stage(queue, messages);
  }

  private stage<K extends keyof RelayRequest>(dest: K, value: NonNullable<RelayRequest[K]>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.staged) {
        this.staged = {};
        queueMicrotask(() => void this.flush());
      }
      const staged = this.staged as Record<string, unknown>;
      if (staged[dest]) {
        // A second call for the same destination in one tick travels on its own.
        void this.direct({ [dest]: value } as RelayRequest).then((r) => settle(r[dest], resolve, reject));
        return;
      }
      staged[dest] = { value, resolve, reject };
    });
  }

  private async flush(): Promise<void> {
    const staged = this.staged ?? {};
    this.staged = null;
    const request: RelayRequest = {};
    if (staged.d1) request.d1 = staged.d1.value;
    if (staged.webhooks) request.webhooks = staged.webhooks.value;
    if (staged.analytics) request.analytics = staged.analytics.value;
    const result = await this.direct(request);
    for (const dest of ['d1', 'webhooks', 'analytics'] as const) {
      const s = staged[dest];
      if (s) settle(result[dest], s.resolve, s.reject);
    }
  }

  private async direct(request: RelayRequest): Promise<RelayResult> {
    const ns = this.env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const stub = ns.get(ns.idFromName(`relay-${shardOf(this.hubKey)}`));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A batcher that never answers must not wedge the hub's relay (its alarm retries instead).
      return await Promise.race([
        stub.relay(request) as Promise<RelayResult>,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('relay batcher timed out')), RELAY_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      const failure = { error: String(e), isolated: false };
      return { d1: failure, webhooks: failure, analytics: failure };
    } finally {
      clearTimeout(timer);
    }
  }
}

function settle(failure: RelayFailure | null | undefined, resolve: () => void, reject: (e: Error) => void): void {
  if (failure === null) resolve();
  else reject(new RelayError(failure ?? { error: 'relay: no result for this destination', isolated: false }));
}

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
    const queueJobs = (q: RelayQueue) => jobs.flatMap((j, i) => (j.request[q] ? [{ i, messages: j.request[q] }] : []));
    const d1 = this.writeD1(d1Jobs, results).catch((e: unknown) => {
      for (const l of d1Jobs) results[l.i]!.d1 = { error: String(e), isolated: false };
    });
    const queues = (['webhooks', 'analytics'] as const).map(async (q, k) => {
      const list = queueJobs(q);
      if (list.length === 0) return;
      await new Promise((r) => setTimeout(r, RELAY_STAGGER_MS * (k + 1)));
      const queue = q === 'webhooks' ? this.env.WEBHOOKS_QUEUE : this.env.ANALYTICS_QUEUE;
      const answers = await isolating(list, (part) => sendRelay(queue, part.flatMap((l) => l.messages)));
      list.forEach((l, n) => (results[l.i]![q] = answers[n]!));
    });
    void Promise.all([d1, ...queues]).then(() => jobs.forEach((j, i) => j.resolve(results[i]!)));
    await d1;
  }

  private async writeD1(list: { i: number; d1: D1Pass }[], results: RelayResult[]): Promise<void> {
    if (list.length === 0) return;
    const db = this.env.DB;
    // One transaction for all passes; if it fails, each pass on its own (one hub's bad rows must not
    // hold back every other hub).
    const answers = await isolating(list, async (part) => {
      await db.batch(d1Statements(db, part.map((l) => l.d1)));
    });
    list.forEach((l, n) => (results[l.i]!.d1 = answers[n]!));
    // New log events are in D1: their tenants' projections can fold them (not awaited; the minute
    // cron is the safety net).
    const tenants = new Set(list.filter((l) => results[l.i]!.d1 === null && l.d1.rows.some((r) => r.item.kind === 'event')).map((l) => l.d1.tenantId));
    for (const tenantId of tenants) void kickProjections(this.env, tenantId);
  }
}

export function relayMessage(tenantId: string, item: OutboxItem): RelayMessage | null {
  if (item.kind === 'event') return { kind: 'event', tenant_id: tenantId, event: item.insert.record };
  if (item.kind === 'timeline' && item.announce) return { kind: 'contact_event', tenant_id: tenantId, contact_event: item.record };
  return null;
}
