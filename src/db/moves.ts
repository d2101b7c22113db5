import { getTableColumns, getTableName, type Table } from 'drizzle-orm';
import { desc, eq } from 'drizzle-orm';
import { jsonRows } from './bulk';
import { orm } from './client';
import * as analytics from './schema/analytics';
import { tenantMoves, tenants } from './schema/control';
import * as core from './schema/core';
import * as eventstore from './schema/eventstore';
import * as webhooks from './schema/webhooks';

// The rows of a move between shards (src/moves/): a tenant's rows of every shard table, read in key
// order in chunks, written to the other shard, compared, and deleted from the old one.

/** A shard table a move carries: its key columns after tenant_id, in the order of an index that starts with tenant_id. */
export interface MovedTable {
  name: string;
  columns: string[];
  key: string[];
  /** A fixed leading key column that is not tenant_id (processed_events: consumer), walked value by value. */
  lead?: { column: string; values: string[] };
}

const table = (t: Table, key: string[], lead?: MovedTable['lead']): MovedTable => ({
  name: getTableName(t),
  columns: Object.values(getTableColumns(t)).map((c) => c.name),
  key,
  ...(lead ? { lead } : {}),
});

/**
 * Every shard table that holds tenant rows, the log first (the largest, copied while the tenant keeps
 * appending). test/db/moves.test.ts checks that no shard table with a tenant_id is missing here.
 */
export const MOVED_TABLES: MovedTable[] = [
  table(core.events, ['position']),
  table(core.logHeads, []),
  table(core.contactEvents, ['contact_id', 'sequence_number']),
  table(core.relayOutbox, ['event_id']),
  table(core.processedEvents, ['event_id'], { column: 'consumer', values: ['analytics'] }),
  table(core.idOwners, ['kind', 'id']),
  table(core.hubKeys, ['hash']),
  table(eventstore.eventSubscriptions, ['name']),
  table(eventstore.projectionState, ['name']),
  table(eventstore.projectionRows, ['projection', 'generation', 'key']),
  table(eventstore.streamSnapshots, ['stream_id', 'version']),
  table(webhooks.webhookSubscriptions, ['id']),
  table(webhooks.webhookDeliveries, ['id']),
  table(webhooks.webhookAttempts, ['delivery_id', 'attempt']),
  table(analytics.analyticsHourly, ['hour', 'event_type', 'source', 'entry_type', 'entry_source', 'category']),
  table(analytics.analyticsDaily, ['day', 'event_type', 'source', 'entry_type', 'entry_source', 'category']),
  table(analytics.analyticsCompacted, []),
  table(analytics.archives, ['id']),
  table(analytics.hubRelayBacklog, ['hub']),
  table(analytics.relayParked, ['hub', 'outbox_id', 'destination']),
];

export type Row = Record<string, unknown>;
/** Where a walk stands in a table: the lead value's index and the last key done (null: from the start). */
export interface Cursor {
  lead: number;
  after: unknown[] | null;
}

/** The next chunk of the tenant's rows of `t` after `cursor` (and `lead`), in key order. */
export async function readChunk(db: D1Database, t: MovedTable, tenantId: string, lead: number, after: unknown[] | null, limit: number): Promise<Row[]> {
  const where = ['tenant_id = ?'];
  const args: unknown[] = [tenantId];
  if (t.lead) {
    where.push(`"${t.lead.column}" = ?`);
    args.push(t.lead.values[lead]);
  }
  if (after && t.key.length > 0) {
    // A row value: SQLite walks the (tenant_id, key…) index from there.
    where.push(`(${t.key.map((k) => `"${k}"`).join(', ')}) > (${t.key.map(() => '?').join(', ')})`);
    args.push(...after);
  }
  const order = t.key.length > 0 ? ` ORDER BY ${t.key.map((k) => `"${k}"`).join(', ')}` : '';
  const { results } = await db
    .prepare(`SELECT ${t.columns.map((c) => `"${c}"`).join(', ')} FROM ${t.name} WHERE ${where.join(' AND ')}${order} LIMIT ?`)
    .bind(...args, limit)
    .all<Row>();
  return results;
}

export function keyOf(t: MovedTable, row: Row): unknown[] {
  return t.key.map((k) => row[k]);
}

/** SQLite's order of two keys of the same columns (integers and texts; texts compare bytewise, as BINARY does). */
export function compareKeys(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : 1;
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return compareBytes(encoder.encode(String(x)), encoder.encode(String(y)));
  }
  return 0;
}

const encoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * Writes rows to `t` on the target shard: new rows inserted, existing ones overwritten column by
 * column (an UPDATE, not REPLACE, so that the full-text triggers of contact_events keep the index right).
 */
export function upsertStatement(db: D1Database, t: MovedTable, rows: Row[]): D1PreparedStatement {
  const cols = t.columns.map((c) => `"${c}"`);
  const rest = t.columns.filter((c) => c !== 'tenant_id' && !t.key.includes(c) && c !== t.lead?.column);
  const set = rest.length > 0 ? `DO UPDATE SET ${rest.map((c) => `"${c}" = excluded."${c}"`).join(', ')}` : 'DO NOTHING';
  return db
    .prepare(`WITH ${jsonRows('?1')} INSERT INTO ${t.name} (${cols.join(', ')}) SELECT ${t.columns.map((c) => `v->>'${c}'`).join(', ')} FROM json_rows WHERE true ON CONFLICT ${set}`)
    .bind(JSON.stringify(rows));
}

/** Deletes the tenant's rows of `t` with these keys. */
export function deleteKeysStatement(db: D1Database, t: MovedTable, tenantId: string, leadValue: string | undefined, keys: unknown[][]): D1PreparedStatement {
  const args: unknown[] = [tenantId];
  // Qualified: json_each has columns of its own named id and key.
  const match = t.key.map((k, i) => `${t.name}."${k}" = j.value->>${i}`);
  let where = '';
  if (t.lead) {
    args.push(leadValue ?? null);
    where += ` AND "${t.lead.column}" = ?${args.length}`;
  }
  if (match.length > 0) {
    args.push(JSON.stringify(keys));
    where += ` AND EXISTS (SELECT 1 FROM json_each(?${args.length}) AS j WHERE ${match.join(' AND ')})`;
  }
  return db.prepare(`DELETE FROM ${t.name} WHERE tenant_id = ?1${where}`).bind(...args);
}

// ---------------------------------------------------------------- the fence on the old shard

export function fenceStatement(db: D1Database, tenantId: string, movedTo: number, now: number): D1PreparedStatement {
  return db
    .prepare(`INSERT INTO tenant_fences (tenant_id, moved_to, deleting, fenced_at) VALUES (?1, ?2, 0, ?3) ON CONFLICT (tenant_id) DO UPDATE SET moved_to = ?2, deleting = 0, fenced_at = ?3`)
    .bind(tenantId, movedTo, now);
}

/** The move deletes the old rows: deletes pass the fence from now on, writes still do not. */
export async function openFenceForDeletes(db: D1Database, tenantId: string): Promise<void> {
  await db.prepare(`UPDATE tenant_fences SET deleting = 1 WHERE tenant_id = ?`).bind(tenantId).run();
}

/** The tenant lives here (again): no fence. */
export async function liftFence(db: D1Database, tenantId: string): Promise<void> {
  await db.prepare(`DELETE FROM tenant_fences WHERE tenant_id = ?`).bind(tenantId).run();
}

export function isFenced(error: unknown): boolean {
  return /tenant moved/.test(String(error));
}

// ---------------------------------------------------------------- the move rows (control database)

export type MoveRow = typeof tenantMoves.$inferSelect;

export async function getMove(control: D1Database, tenantId: string): Promise<MoveRow | undefined> {
  return orm(control).select().from(tenantMoves).where(eq(tenantMoves.tenantId, tenantId)).get();
}

export async function listMoves(control: D1Database): Promise<MoveRow[]> {
  return orm(control).select().from(tenantMoves).orderBy(desc(tenantMoves.startedAt)).all();
}

/** Starts a move (replacing a finished or failed one's row). */
export async function insertMove(control: D1Database, m: { tenantId: string; fromShard: number; toShard: number; now: number }): Promise<void> {
  const row = { tenantId: m.tenantId, fromShard: m.fromShard, toShard: m.toShard, state: 'copying' as const, startedAt: m.now, updatedAt: m.now };
  const reset = { ...row, stepTable: 0, cursor: null, copiedRows: 0, repairedRows: 0, verifiedRows: 0, deletedRows: 0, error: null, switchedAt: null, finishedAt: null };
  await orm(control).insert(tenantMoves).values(row).onConflictDoUpdate({ target: tenantMoves.tenantId, set: reset }).run();
}

export async function updateMove(control: D1Database, tenantId: string, set: Partial<Omit<MoveRow, 'tenantId'>>): Promise<void> {
  await orm(control).update(tenantMoves).set(set).where(eq(tenantMoves.tenantId, tenantId)).run();
}

/** The switch: the directory names the new shard, in the same transaction as the move's state. */
export async function switchDirectory(control: D1Database, tenantId: string, shard: number, now: number): Promise<void> {
  const db = orm(control);
  await db.batch([
    db.update(tenants).set({ shard }).where(eq(tenants.id, tenantId)),
    db.update(tenantMoves).set({ state: 'switched', switchedAt: now, updatedAt: now, stepTable: 0, cursor: null }).where(eq(tenantMoves.tenantId, tenantId)),
  ]);
}
