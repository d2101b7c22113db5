import { shardBindings } from '../db/shards';
import { meterD1 } from '../db/metered';

// Billable-operation counters for `npm run bench:cost`. Off unless the COST_COUNTERS var is "true"
// (only the cost bench sets it): `meterEnv` then hands back the very same env object, and the
// Durable Object wrappers in index.ts do nothing but one string comparison per construction.
//
// When on, the bindings are wrapped at their one entry point (the Worker's handlers and the Durable
// Object constructors), so every D1 statement, Durable Object SQL statement, Durable Object call and
// queue send of the real code paths is counted from the runtime's own figures: D1's
// `meta.rows_read`/`rows_written`, SqlStorageCursor's `rowsRead`/`rowsWritten`. The Worker and its
// Durable Objects run in one isolate locally, so one module-level object holds the totals.

export type CostCounts = {
  worker_requests: number;
  queue_invocations: number;
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  do_requests: number;
  do_rows_read: number;
  do_rows_written: number;
  /**
   * setAlarm calls, each billed as one Durable Object row written. Apart from do_rows_written: an
   * alarm re-arms itself from timer-driven work (relay retries, socket checks) that a sample may
   * catch once more than another, while the SQL rows are exact.
   */
  do_alarm_sets: number;
  queue_messages: number;
  /** Cloudflare Queues bill a write, a read and a delete per 64 KB of each message. */
  queue_ops: number;
  /** Durable Object calls by binding and method (what do_requests is made of). */
  do_calls: Record<string, number>;
  /**
   * Rows written per statement that wrote any, keyed `d1 <sql>` or `do <sql>` (whitespace folded):
   * where each counted row went (a table row or an index entry of the statement's table).
   */
  writes: Record<string, { statements: number; rows_written: number }>;
};

const zero = (): CostCounts => ({
  worker_requests: 0,
  queue_invocations: 0,
  d1_queries: 0,
  d1_rows_read: 0,
  d1_rows_written: 0,
  do_requests: 0,
  do_rows_read: 0,
  do_rows_written: 0,
  do_alarm_sets: 0,
  queue_messages: 0,
  queue_ops: 0,
  do_calls: {},
  writes: {},
});

let counts = zero();
// A cursor's rowsRead/rowsWritten grow while it is iterated: they are read when the totals are.
let cursors: { cursor: SqlStorageCursor<Record<string, SqlStorageValue>>; query: string }[] = [];

function tallyWrite(key: string, rows: number): void {
  if (rows === 0) return;
  const w = (counts.writes[key] ??= { statements: 0, rows_written: 0 });
  w.statements += 1;
  w.rows_written += rows;
}

const folded = (query: string): string => query.replace(/\s+/g, ' ').trim();

function settleCursors(): void {
  for (const { cursor, query } of cursors) {
    counts.do_rows_read += cursor.rowsRead;
    counts.do_rows_written += cursor.rowsWritten;
    tallyWrite(`do ${folded(query)}`, cursor.rowsWritten);
  }
  cursors = [];
}

export function costEnabled(env: object): boolean {
  return (env as { COST_COUNTERS?: unknown }).COST_COUNTERS === 'true';
}

/** The totals so far (and, with `reset`, zero them). */
export function readCounts(reset: boolean): CostCounts {
  settleCursors();
  const out = { ...counts, do_calls: { ...counts.do_calls }, writes: { ...counts.writes } };
  if (reset) counts = zero();
  return out;
}

export function countWorkerRequest(kind: 'fetch' | 'queue'): void {
  if (kind === 'fetch') counts.worker_requests += 1;
  else counts.queue_invocations += 1;
}

// ---------------------------------------------------------------- D1

function addMeta(meta: D1Meta | null, query: string): void {
  counts.d1_queries += 1;
  counts.d1_rows_read += meta?.rows_read ?? 0;
  counts.d1_rows_written += meta?.rows_written ?? 0;
  tallyWrite(`d1 ${folded(query)}`, meta?.rows_written ?? 0);
}

// ---------------------------------------------------------------- Durable Objects

/** Counts every call made on a stub of the namespace (an RPC method or fetch: one billed request). */
function meterNamespace<T extends object>(ns: T, binding: string): T {
  const stub = (s: object): object =>
    new Proxy(s, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop);
        if (typeof prop !== 'string' || prop === 'id' || prop === 'name' || prop === 'then' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          counts.do_requests += 1;
          counts.do_calls[`${binding}.${prop}`] = (counts.do_calls[`${binding}.${prop}`] ?? 0) + 1;
          // An RPC method of a stub is called unbound: with a `this`, workerd would try to send it.
          return prop === 'fetch' ? (value as (...a: unknown[]) => unknown).apply(target, args) : (value as (...a: unknown[]) => unknown)(...args);
        };
      },
    });
  return new Proxy(ns, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      if (prop === 'get' || prop === 'getByName') return (...args: unknown[]) => stub((value as (...a: unknown[]) => object).apply(target, args));
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/**
 * Counts the rows every statement of this object's SQLite storage reads and writes, and each
 * setAlarm (billed as one row written, counted apart: see do_alarm_sets).
 */
export function meterStorage(ctx: DurableObjectState, env: object): void {
  if (!costEnabled(env)) return;
  const setAlarm = ctx.storage.setAlarm.bind(ctx.storage);
  Object.defineProperty(ctx.storage, 'setAlarm', {
    configurable: true,
    value: (...args: Parameters<DurableObjectStorage['setAlarm']>) => {
      counts.do_alarm_sets += 1;
      return setAlarm(...args);
    },
  });
  const sql = ctx.storage.sql;
  const exec = sql.exec.bind(sql);
  Object.defineProperty(sql, 'exec', {
    configurable: true,
    value: <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): SqlStorageCursor<T> => {
      const cursor = exec<T>(query, ...bindings);
      cursors.push({ cursor: cursor as unknown as SqlStorageCursor<Record<string, SqlStorageValue>>, query });
      return cursor;
    },
  });
}

/** A Durable Object's alarm is a billed request too. */
export function countAlarm(binding: string): void {
  counts.do_requests += 1;
  counts.do_calls[`${binding}.alarm`] = (counts.do_calls[`${binding}.alarm`] ?? 0) + 1;
}

// ---------------------------------------------------------------- Queues

const QUEUE_OP_BYTES = 64 * 1024;

function queueOps(body: unknown): number {
  const bytes = new TextEncoder().encode(JSON.stringify(body) ?? '').length;
  counts.queue_messages += 1;
  // A write when sent, a read when delivered, a delete when acknowledged: each per 64 KB chunk.
  return 3 * Math.max(1, Math.ceil(bytes / QUEUE_OP_BYTES));
}

function meterQueue<T>(q: Queue<T>): Queue<T> {
  return {
    send: (body: T, options?: QueueSendOptions) => {
      counts.queue_ops += queueOps(body);
      return q.send(body, options);
    },
    sendBatch: (messages: Iterable<MessageSendRequest<T>>, options?: QueueSendBatchOptions) => {
      const list = [...messages];
      for (const m of list) counts.queue_ops += queueOps(m.body);
      return q.sendBatch(list, options);
    },
  } as Queue<T>;
}

// ---------------------------------------------------------------- the env

const metered = new WeakSet<object>();

/** The env with its billable bindings counted, or the same env when COST_COUNTERS is not "true". */
export function meterEnv(env: Env): Env {
  if (!costEnabled(env) || metered.has(env)) return env;
  const out: Env = {
    ...env,
    DB: meterD1(env.DB, addMeta),
    // Every event-store shard too (src/db/shards.ts resolves them by binding name from this env).
    ...Object.fromEntries(shardBindings(env).map((b) => [b, meterD1((env as unknown as Record<string, D1Database>)[b]!, addMeta)])),
    STREAM_HUB: meterNamespace(env.STREAM_HUB, 'STREAM_HUB'),
    RATE_LIMITER: meterNamespace(env.RATE_LIMITER, 'RATE_LIMITER'),
    RELAY_BATCHER: meterNamespace(env.RELAY_BATCHER, 'RELAY_BATCHER'),
    PROJECTION_RUNNER: meterNamespace(env.PROJECTION_RUNNER, 'PROJECTION_RUNNER'),
    WEBHOOKS_QUEUE: meterQueue(env.WEBHOOKS_QUEUE),
    ANALYTICS_QUEUE: meterQueue(env.ANALYTICS_QUEUE),
    DELIVERIES_QUEUE: meterQueue(env.DELIVERIES_QUEUE),
    DELIVERIES_DLQ: meterQueue(env.DELIVERIES_DLQ),
  };
  metered.add(out);
  return out;
}
