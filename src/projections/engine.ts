import { tenantDb } from '../db/shards';
import { headPosition, projectionEvent, readLog } from '../db/log';
import {
  ensureProjection,
  getProjectionState,
  loadRows,
  pruneGenerations,
  rebuildProgressStatement,
  switchGenerationStatements,
  upsertRowsStatements,
  type ProjectionRow,
} from '../db/projections';
import { putSnapshotStatement } from '../db/snapshots';
import { advanceCheckpointStatement, getSubscription, recordSubscriptionError } from '../db/subscriptions';
import { typeFilter } from '../domain/event-patterns';
import { PROJECTIONS, projectionConsumerName } from '../domain/projections';
import type { Projection } from '../domain/projections/types';

/** Events read per D1 round trip. Large batches are what makes a 100,000-event rebuild take seconds. */
export const PROJECTION_BATCH = 5000;
/**
 * A pass that meets none of the projection's types commits its checkpoint only once it has gone this
 * many positions past the stored one: most events are of other types, and the commit is a row written
 * for each. The next pass reads those events again (at most this many) and skips them; readers count
 * only matching events (projectionProgress).
 */
export const CHECKPOINT_EVERY = 100;
const PRUNE_CHUNK = 5000;

interface Batch {
  statements: D1PreparedStatement[];
  /** The checkpoint once these statements commit. */
  next: number;
  /** Events of the projection's types read. */
  matched: number;
  applied: number;
  /** True when the batch reached the head read before it. */
  done: boolean;
}

/**
 * Folds one batch of the tenant's log into a generation of a projection. Rows whose last_position
 * already covers an event skip it, so re-applying a batch (a crash between the write and the
 * checkpoint, a retried alarm) never applies an event twice.
 */
async function foldBatch(
  d1: D1Database,
  tenantId: string,
  p: Projection<unknown>,
  generation: number,
  after: number,
  head: number,
  snapshots: boolean,
): Promise<Batch> {
  const rows = await readLog(d1, tenantId, { after, upTo: head, limit: PROJECTION_BATCH, types: typeFilter(p.eventTypes) });
  const done = rows.length < PROJECTION_BATCH;
  const next = done ? head : rows[rows.length - 1]!.position;
  if (rows.length === 0) return { statements: [], next, matched: 0, applied: 0, done };
  const events = rows.map(projectionEvent);
  const keys = [...new Set(events.map((e) => p.keyOf(e)).filter((k): k is string => k !== null))];
  const current = new Map<string, { state: unknown; count: number; last: number }>();
  for (const r of await loadRows(d1, tenantId, p.name, generation, keys)) {
    current.set(r.key, { state: JSON.parse(r.state) as unknown, count: r.event_count, last: r.last_position });
  }
  const now = Date.now();
  const touched = new Set<string>();
  const snaps: D1PreparedStatement[] = [];
  let applied = 0;
  for (const e of events) {
    const key = p.keyOf(e);
    if (key === null) continue;
    let row = current.get(key);
    if (!row) {
      row = { state: p.init(key, e), count: 0, last: 0 };
      current.set(key, row);
    }
    if (e.position <= row.last) continue;
    row.state = p.apply(row.state, e);
    row.count += 1;
    row.last = e.position;
    touched.add(key);
    applied += 1;
    if (snapshots && p.snapshot && row.count % p.snapshot.every === 0) {
      const version = p.snapshot.versionOf(row.state);
      if (version !== null) {
        snaps.push(
          putSnapshotStatement(d1, tenantId, { streamId: p.snapshot.streamOf(key), sequenceNumber: version, state: JSON.stringify(row.state), source: projectionConsumerName(p.name), now }, false),
        );
      }
    }
  }
  const out: ProjectionRow[] = [...touched].map((key) => {
    const r = current.get(key)!;
    return { key, state: JSON.stringify(r.state), event_count: r.count, last_position: r.last, updated_at: now };
  });
  return { statements: [...upsertRowsStatements(d1, tenantId, p.name, generation, out), ...snaps], next, matched: rows.length, applied, done };
}

export interface StepResult {
  applied: number;
  /** More work is waiting (the budget ran out before the head). */
  more: boolean;
}

/** The incremental path: folds new events into the live generation and advances the consumer's checkpoint with them, in one D1 batch. */
export async function catchUp(env: Env, tenantId: string, p: Projection<unknown>, budgetMs: number): Promise<StepResult> {
  const d1 = await tenantDb(env, tenantId);
  const consumer = projectionConsumerName(p.name);
  const deadline = Date.now() + budgetMs;
  let applied = 0;
  for (;;) {
    const [state, sub] = await Promise.all([getProjectionState(d1, tenantId, p.name), getSubscription(d1, tenantId, consumer)]);
    if (!state || !sub) {
      await ensureProjection(d1, tenantId, p.name, consumer, p.eventTypes, Date.now());
      continue;
    }
    if (sub.status === 'paused') return { applied, more: false };
    const head = await headPosition(d1, tenantId);
    if (sub.checkpoint >= head) return { applied, more: false };
    try {
      const batch = await foldBatch(d1, tenantId, p, state.generation, sub.checkpoint, head, true);
      if (batch.matched === 0 && batch.next - sub.checkpoint < CHECKPOINT_EVERY) return { applied, more: false };
      await d1.batch([...batch.statements, advanceCheckpointStatement(d1, tenantId, consumer, batch.next, Date.now())]);
      applied += batch.applied;
      if (batch.done) return { applied, more: false };
    } catch (error) {
      await recordSubscriptionError(d1, tenantId, consumer, String(error), Date.now()).catch(() => undefined);
      throw error;
    }
    if (Date.now() > deadline) return { applied, more: true };
  }
}

/**
 * The rebuild path: folds the whole log, from position 0, into the rebuild generation, checkpointed
 * after every batch; on reaching the head it switches reads to the new generation (one D1 batch)
 * and later prunes the old one. Reads use the old generation until the switch.
 */
export async function rebuildStep(env: Env, tenantId: string, p: Projection<unknown>, budgetMs: number): Promise<StepResult> {
  const d1 = await tenantDb(env, tenantId);
  const deadline = Date.now() + budgetMs;
  let applied = 0;
  for (;;) {
    const state = await getProjectionState(d1, tenantId, p.name);
    if (!state) return { applied, more: false };
    if (state.rebuild_generation === null) {
      // Old generations left by a switch: delete them a chunk at a time.
      const pruned = await pruneGenerations(d1, tenantId, p.name, state.generation, PRUNE_CHUNK);
      return { applied, more: pruned === PRUNE_CHUNK };
    }
    const generation = state.rebuild_generation;
    const after = state.rebuild_checkpoint ?? 0;
    const head = await headPosition(d1, tenantId);
    const batch = await foldBatch(d1, tenantId, p, generation, after, head, false);
    applied += batch.applied;
    const now = Date.now();
    if (batch.done) {
      await d1.batch([...batch.statements, ...switchGenerationStatements(d1, tenantId, p.name, projectionConsumerName(p.name), generation, batch.next, now)]);
      continue;
    }
    await d1.batch([...batch.statements, rebuildProgressStatement(d1, tenantId, p.name, generation, batch.next, now)]);
    if (Date.now() > deadline) return { applied, more: true };
  }
}

/** One pass over every projection of a tenant: incremental first (fresh reads), then rebuild work. */
export async function runProjections(env: Env, tenantId: string, budgetMs = 2000): Promise<StepResult> {
  let applied = 0;
  let more = false;
  for (const p of PROJECTIONS) {
    const live = await catchUp(env, tenantId, p, budgetMs / 2);
    const rebuild = await rebuildStep(env, tenantId, p, budgetMs);
    applied += live.applied + rebuild.applied;
    more ||= live.more || rebuild.more;
  }
  return { applied, more };
}
