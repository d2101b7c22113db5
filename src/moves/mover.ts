import { DurableObject } from 'cloudflare:workers';
import {
  MOVED_TABLES,
  compareKeys,
  deleteKeysStatement,
  fenceStatement,
  getMove,
  keyOf,
  liftFence,
  openFenceForDeletes,
  readChunk,
  switchDirectory,
  updateMove,
  upsertStatement,
  type MoveRow,
  type MovedTable,
  type Row,
} from '../db/moves';
import { DIRECTORY_CACHE_MS, forgetTenantShard, shardAt } from '../db/shards';

// A tenant's move between shards, in steps that each survive eviction (the state is the move's row
// in the control database; the alarm of this object runs the next step):
//  copying    every table's rows of the tenant, old shard → new, while the tenant keeps appending there;
//  syncing    the old shard is fenced (its triggers refuse the tenant's writes: hubs keep theirs in their
//             outboxes, queue consumers retry, API writes answer 503), and a second pass brings the new
//             shard level: rows added, changed or deleted since they were copied;
//  verifying  a third pass compares every row and must find no difference (else the move fails, the
//             fence is lifted and the tenant stays where it was);
//  switched   the directory names the new shard; stale directory caches (DIRECTORY_CACHE_MS) run out;
//  deleting   the old rows go (the fence stays: a writer with a stale cache still fails there);
//  done.
// Positions and ids are copied as they are: the log's numbering and every subscriber's checkpoint stay.

const CHUNK_ROWS = 200;
// A JSON parameter of a D1 statement stays well under its 2 MB limit.
const CHUNK_BYTES = 900_000;
const STEP_BUDGET_MS = 2_000;
const RETRY_MS = 2_000;

interface Pass {
  upserted: number;
  deleted: number;
  compared: number;
}

/**
 * One merge step over a table's key order: the next chunk on both shards, up to the smaller of the
 * two chunks' last keys; what differs on the new shard is written (`apply`) or only counted.
 */
async function syncChunk(from: D1Database, to: D1Database, t: MovedTable, tenantId: string, lead: number, after: unknown[] | null, apply: boolean): Promise<Pass & { next: unknown[] | null }> {
  const [a, b] = await Promise.all([readChunk(from, t, tenantId, lead, after, CHUNK_ROWS), readChunk(to, t, tenantId, lead, after, CHUNK_ROWS)]);
  let boundary: unknown[] | null = null;
  if (t.key.length > 0) {
    for (const side of [a, b]) {
      if (side.length < CHUNK_ROWS) continue;
      const last = keyOf(t, side[side.length - 1]!);
      if (!boundary || compareKeys(last, boundary) < 0) boundary = last;
    }
  }
  const within = (r: Row) => !boundary || compareKeys(keyOf(t, r), boundary) <= 0;
  const theirs = new Map(b.filter(within).map((r) => [JSON.stringify(keyOf(t, r)), JSON.stringify(r)]));
  const ours = new Set<string>();
  const upserts: Row[] = [];
  for (const r of a.filter(within)) {
    const k = JSON.stringify(keyOf(t, r));
    ours.add(k);
    if (theirs.get(k) !== JSON.stringify(r)) upserts.push(r);
  }
  const deletes = [...theirs.keys()].filter((k) => !ours.has(k)).map((k) => JSON.parse(k) as unknown[]);
  if (apply && (upserts.length > 0 || deletes.length > 0)) {
    const statements: D1PreparedStatement[] = [];
    if (deletes.length > 0) statements.push(deleteKeysStatement(to, t, tenantId, t.lead?.values[lead], deletes));
    for (const part of byBytes(upserts)) statements.push(upsertStatement(to, t, part));
    await to.batch(statements);
  }
  return { next: boundary, upserted: upserts.length, deleted: deletes.length, compared: ours.size };
}

function byBytes(rows: Row[]): Row[][] {
  const out: Row[][] = [];
  let part: Row[] = [];
  let bytes = 0;
  for (const r of rows) {
    const n = JSON.stringify(r).length * 3;
    if (part.length > 0 && bytes + n > CHUNK_BYTES) {
      out.push(part);
      part = [];
      bytes = 0;
    }
    part.push(r);
    bytes += n;
  }
  if (part.length > 0) out.push(part);
  return out;
}

interface Walk {
  table: number;
  lead: number;
  after: unknown[] | null;
}

const walkOf = (m: MoveRow): Walk => ({ table: m.stepTable, ...(m.cursor ? (JSON.parse(m.cursor) as { lead: number; after: unknown[] | null }) : { lead: 0, after: null }) });

/** Advances a walk over every table by one chunk; null once all tables are done. */
function advance(w: Walk, next: unknown[] | null): Walk | null {
  const t = MOVED_TABLES[w.table]!;
  if (next) return { ...w, after: next };
  if (t.lead && w.lead + 1 < t.lead.values.length) return { table: w.table, lead: w.lead + 1, after: null };
  return w.table + 1 < MOVED_TABLES.length ? { table: w.table + 1, lead: 0, after: null } : null;
}

const saveWalk = (w: Walk) => ({ stepTable: w.table, cursor: JSON.stringify({ lead: w.lead, after: w.after }) });

/** Runs the move's next steps for about `budgetMs`; answers when to run again (ms), null when it has ended. */
export async function advanceMove(env: Env, tenantId: string, budgetMs = STEP_BUDGET_MS): Promise<number | null> {
  const control = env.DB;
  const deadline = Date.now() + budgetMs;
  for (;;) {
    const m = await getMove(control, tenantId);
    if (!m || m.state === 'done' || m.state === 'failed') return null;
    const from = shardAt(env, m.fromShard).db;
    const to = shardAt(env, m.toShard).db;
    const now = Date.now();
    if (m.state === 'switched') {
      // Every isolate's directory cache has expired: nobody reads the old rows any more.
      const wait = (m.switchedAt ?? now) + DIRECTORY_CACHE_MS + 1_000 - now;
      if (wait > 0) return wait;
      await openFenceForDeletes(from, tenantId);
      await updateMove(control, tenantId, { state: 'deleting', stepTable: 0, cursor: null, updatedAt: now });
      continue;
    }
    if (m.state === 'deleting') {
      const done = await deleteChunk(env, from, m);
      if (done) {
        await updateMove(control, tenantId, { state: 'done', finishedAt: Date.now(), updatedAt: Date.now(), error: null });
        return null;
      }
    } else {
      const w = walkOf(m);
      const pass = await syncChunk(from, to, MOVED_TABLES[w.table]!, tenantId, w.lead, w.after, m.state !== 'verifying');
      const next = advance(w, pass.next);
      const changed = pass.upserted + pass.deleted;
      const counts =
        m.state === 'copying'
          ? { copiedRows: m.copiedRows + changed }
          : m.state === 'syncing'
            ? { repairedRows: m.repairedRows + changed }
            : { verifiedRows: m.verifiedRows + pass.compared };
      if (m.state === 'verifying' && changed > 0) {
        await liftFence(from, tenantId);
        await updateMove(control, tenantId, {
          state: 'failed',
          error: `verify found ${changed} differing rows in ${MOVED_TABLES[w.table]!.name}; the tenant stays on shard ${m.fromShard}`,
          finishedAt: now,
          updatedAt: now,
        });
        return null;
      }
      if (next) await updateMove(control, tenantId, { ...counts, ...saveWalk(next), updatedAt: Date.now() });
      else await finishPass(env, m, counts);
    }
    if (Date.now() > deadline) return 0;
  }
}

/** The end of a pass over every table: copying → (fence) syncing → verifying → switched. */
async function finishPass(env: Env, m: MoveRow, counts: Partial<MoveRow>): Promise<void> {
  const now = Date.now();
  const reset = { stepTable: 0, cursor: null, updatedAt: now };
  if (m.state === 'copying') {
    // The fence first: once the state says syncing, no write of the tenant lands on the old shard.
    await fenceStatement(shardAt(env, m.fromShard).db, m.tenantId, m.toShard, now).run();
    await updateMove(env.DB, m.tenantId, { ...counts, ...reset, state: 'syncing' });
  } else if (m.state === 'syncing') {
    await updateMove(env.DB, m.tenantId, { ...counts, ...reset, state: 'verifying' });
  } else {
    await updateMove(env.DB, m.tenantId, counts);
    await switchDirectory(env.DB, m.tenantId, m.toShard, now);
    forgetTenantShard(m.tenantId);
  }
}

/** Deletes one chunk of the tenant's rows on the old shard; true once none is left. */
async function deleteChunk(env: Env, from: D1Database, m: MoveRow): Promise<boolean> {
  for (let i = m.stepTable; i < MOVED_TABLES.length; i += 1) {
    const t = MOVED_TABLES[i]!;
    for (let lead = 0; lead < (t.lead?.values.length ?? 1); lead += 1) {
      const rows = await readChunk(from, t, m.tenantId, lead, null, CHUNK_ROWS);
      if (rows.length === 0) continue;
      await deleteKeysStatement(from, t, m.tenantId, t.lead?.values[lead], rows.map((r) => keyOf(t, r))).run();
      await updateMove(env.DB, m.tenantId, { stepTable: i, deletedRows: m.deletedRows + rows.length, updatedAt: Date.now() });
      return false;
    }
  }
  return true;
}

/** The durable runner of one tenant's move: its alarm runs advanceMove until the move has ended. */
export class TenantMover extends DurableObject<Env> {
  async start(tenantId: string): Promise<void> {
    await this.ctx.storage.put('tenant', tenantId);
    await this.ctx.storage.setAlarm(Date.now());
  }

  override async alarm(): Promise<void> {
    const tenantId = await this.ctx.storage.get<string>('tenant');
    if (!tenantId) return;
    let next: number | null;
    try {
      next = await advanceMove(this.env, tenantId);
    } catch (error) {
      // Left in its state (every step can run again); the error is shown with the move.
      await updateMove(this.env.DB, tenantId, { error: String(error).slice(0, 500), updatedAt: Date.now() }).catch(() => undefined);
      next = RETRY_MS;
    }
    if (next !== null) await this.ctx.storage.setAlarm(Date.now() + next);
  }
}
