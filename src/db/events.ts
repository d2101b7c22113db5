import { bulkInsert, jsonRows } from './bulk';
import { hubHashOfId, sequenceOfId } from '../domain/hub-ids';
import { ownerStreamSql } from './owners';
import type { z } from '@hono/zod-openapi';
import type { Event, EventRecord } from '../domain/schemas/events';
import { HOUR_MS, iso } from '../domain/time';
import { upcastEvent } from '../domain/upcasters';
import type { D1Row } from './client';
import { events, relayOutbox } from './schema/core';

/** A row of `events` as D1 returns it. */
export type EventRow = D1Row<typeof events>;

/**
 * The columns an EventRecord is made of (the row without the tenant and the idempotency bookkeeping):
 * what the log serves. The D1 column `stream_version` holds the event's `sequence_number` (renaming
 * it would rewrite the largest table; the TypeScript side says `sequence_number`).
 */
export const RECORD_COLUMNS = [
  'position', 'id', 'event_type', 'source', 'contact_id', 'session_id', 'message_id', 'payload', 'metadata',
  'stream_id', 'stream_version', 'schema_version', 'timestamp', 'created_at',
] as const satisfies readonly (keyof EventRow)[];

/** A row of `events` with the columns of an EventRecord. */
export type LogRow = Pick<EventRow, (typeof RECORD_COLUMNS)[number]>;

/**
 * The one place a stored row becomes an EventRecord: in its stored form (not upcast), as the relay,
 * the queues and the archives carry it. Reads serve it through `servedEvent`.
 */
export function eventFromRow(row: LogRow): EventRecord {
  return {
    id: row.id,
    event_type: row.event_type,
    source: row.source,
    contact_id: row.contact_id,
    session_id: row.session_id,
    message_id: row.message_id,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    stream_id: row.stream_id,
    sequence_number: row.stream_version,
    schema_version: row.schema_version,
    position: row.position,
    timestamp: iso(row.timestamp),
    created_at: iso(row.created_at),
  };
}

/** An event as every read serves it (the API's `Event`). */
export type ServedEvent = z.infer<typeof Event>;

/**
 * The one served form of an event (GET /events, /log, stream reads, webhook bodies): upcast to the
 * newest schema version of its type, storage untouched. `position` defaults to the record's own.
 */
export function servedEvent(e: EventRecord, position: number | null = e.position ?? null): ServedEvent {
  return { ...upcastEvent(e), position };
}

/** An event ready for D1, with what the row needs beyond the record. */
export interface EventInsert {
  record: EventRecord;
  idempotency_key: string | null;
  request_hash: string | null;
}

const EVENT_COLUMNS = [
  'id', 'event_type', 'source', 'contact_id', 'session_id', 'message_id', 'payload', 'metadata', 'correlation_id',
  'causation_id', 'stream_id', 'stream_version', 'schema_version', 'timestamp', 'created_at', 'idempotency_key', 'request_hash',
] as const satisfies readonly (keyof EventRow)[];

export function eventToRow({ record: e, idempotency_key, request_hash }: EventInsert): Omit<EventRow, 'position' | 'tenant_id'> {
  return {
    id: e.id,
    event_type: e.event_type,
    source: e.source,
    contact_id: e.contact_id,
    session_id: e.session_id,
    message_id: e.message_id,
    payload: JSON.stringify(e.payload),
    metadata: JSON.stringify(e.metadata),
    correlation_id: typeof e.metadata.correlation_id === 'string' ? e.metadata.correlation_id : null,
    causation_id: typeof e.metadata.causation_id === 'string' ? e.metadata.causation_id : null,
    stream_id: e.stream_id,
    stream_version: e.sequence_number,
    schema_version: e.schema_version,
    timestamp: Date.parse(e.timestamp),
    created_at: Date.parse(e.created_at),
    idempotency_key,
    request_hash,
  };
}

/**
 * The tenant's next positions, assigned inside the insert statement: one past the highest position the
 * tenant's log holds or ever held (log_heads keeps it when the newest rows are deleted), numbered in
 * array order. D1 commits one transaction at a time, so positions increase in commit order per tenant;
 * SQLite evaluates the base once per statement and materializes the SELECT before inserting (it reads
 * the table it writes), so the rows of one statement are numbered base+1, base+2, …
 */
const NEXT_POSITION = `max(coalesce((SELECT max(position) FROM events WHERE tenant_id = ?1), 0),
    coalesce((SELECT last_position FROM log_heads WHERE tenant_id = ?1), 0)) + row_number() OVER (ORDER BY k)`;

/**
 * The rows the index of ids (events_tenant_id) holds, as its WHERE reads: a query must repeat it to use
 * the index. Events no hub owns, and ids not of the hubs' form (version 8): an event a hub sequenced under
 * an id of its form is found by its stream and sequence number (events_stream), so the index of ids need
 * not hold it (one row written less per event).
 */
export const idIndexed = (alias = ''): string => `(${alias}stream_id IS NULL OR substr(${alias}id, 15, 1) <> '8')`;

function insertEventsSql(fresh: boolean, tail: string): string {
  const select = EVENT_COLUMNS.map((c) => `v->>'${c}'`).join(', ');
  // A replayed relay leaves out the events already there before numbering, so that it uses no position:
  // by id where the index of ids holds it, by (stream, sequence number) where it is a hub's.
  const where = fresh
    ? `NOT EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = ?1 AND e.id = v->>'id' AND ${idIndexed('e.')})
       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = ?1 AND e.stream_id = v->>'stream_id' AND e.stream_version = v->>'stream_version')`
    : 'true';
  return `WITH ${jsonRows('?2')}
    INSERT INTO events (tenant_id, position, ${EVENT_COLUMNS.join(', ')})
    SELECT ?1, ${NEXT_POSITION}, ${select} FROM json_rows WHERE ${where} ORDER BY k
    ${tail}`;
}

/** Inserts many events in one statement, idempotent by id or (stream, sequence number): a replayed relay inserts nothing. */
export function insertEventsStatement(d1: D1Database, tenantId: string, items: EventInsert[]): D1PreparedStatement {
  return d1.prepare(insertEventsSql(true, 'ON CONFLICT DO NOTHING')).bind(tenantId, JSON.stringify(items.map(eventToRow)));
}

/**
 * Before deleting any of the tenant's events (erase, retention, the end of a move): remembers the
 * highest position in log_heads, so that deleting the newest rows never lets a position be reused.
 * Written only then, not per append (an append reads events' own max).
 */
export function holdLogHeadStatement(d1: D1Database, tenantId: string): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO log_heads (tenant_id, last_position) SELECT ?1, max(position) FROM events WHERE tenant_id = ?1 HAVING max(position) IS NOT NULL
       ON CONFLICT (tenant_id) DO UPDATE SET last_position = max(last_position, excluded.last_position)`,
    )
    .bind(tenantId);
}

/**
 * An event by id, in one query: through the index of ids (see idIndexed), or at the stream and sequence
 * number the id names (its hash in hub_keys, its last 48 bits). Null for an event D1 does not have yet,
 * and for an id of the hubs' form that names no row this way (getStreamEventById walks the stream).
 */
export async function getEvent(d1: D1Database, tenantId: string, id: string): Promise<EventRow | null> {
  return d1
    .prepare(
      `SELECT * FROM events WHERE tenant_id = ?1 AND id = ?2 AND ${idIndexed()}
       UNION ALL
       SELECT e.* FROM hub_keys AS k JOIN events AS e
         ON e.tenant_id = ?1 AND e.stream_id = ${ownerStreamSql('k.owner')} AND e.stream_version = ?4 AND e.id = ?2
       WHERE k.tenant_id = ?1 AND k.hash = ?3
       LIMIT 1`,
    )
    .bind(tenantId, id, hubHashOfId(id), sequenceOfId(id))
    .first<EventRow>();
}

/**
 * An event of a hub's stream by id, anywhere in the stream: for an id of the hubs' form that getEvent
 * does not find (given before the hub's key was registered, or a client's). It reads the stream's rows:
 * callers first ask the hub whether the event is still on its way to D1.
 */
export async function getStreamEventById(d1: D1Database, tenantId: string, streamId: string, id: string): Promise<EventRow | null> {
  return d1.prepare(`SELECT * FROM events WHERE tenant_id = ?1 AND stream_id = ?2 AND id = ?3`).bind(tenantId, streamId, id).first<EventRow>();
}

/**
 * Rows of this tenant, of any owner, that already hold any of these ids or idempotency keys (replay and
 * cross-owner reuse detection). Two index searches joined by UNION: an `id IN … OR key IN …` under the
 * tenant filter makes SQLite scan every row of the tenant instead.
 */
export async function findExisting(
  d1: D1Database,
  tenantId: string,
  ids: string[],
  keys: string[],
): Promise<EventRow[]> {
  const { results } = await d1.prepare(findExistingSql).bind(tenantId, JSON.stringify(ids), JSON.stringify(keys)).all<EventRow>();
  return results;
}

// INDEXED BY: with the (tenant_id, position) primary key also on the table, SQLite's planner would otherwise walk
// the whole tenant by position and filter (a scan per append).
// Ids of the hubs' form that a hub holds are not in the index of ids: callers check those against the owner
// index (src/append/log.ts checkIndexed), which knows them by their hash or by a row.
export const findExistingSql = `SELECT * FROM events INDEXED BY events_tenant_id WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2)) AND ${idIndexed()}
  UNION SELECT * FROM events INDEXED BY events_idem_any
    WHERE tenant_id = ?1 AND idempotency_key IS NOT NULL AND idempotency_key IN (SELECT value FROM json_each(?3))`;

/**
 * The Worker-side commit for events no hub owns: the events and their relay_outbox rows in one D1
 * batch (one transaction). The relay then sends them to the queues and clears the outbox rows; the
 * sweep cron finishes what a failed send left.
 */
export function insertDirectStatements(d1: D1Database, tenantId: string, items: EventInsert[], now: number): D1PreparedStatement[] {
  return [
    // A plain INSERT, unlike the relay's: a concurrent request that committed the same id or key first must
    // fail this batch (the caller then answers with the original or 409), not be silently skipped.
    // RETURNING: the positions D1 assigned, so that the response equals what a later replay or GET returns.
    d1.prepare(insertEventsSql(false, 'RETURNING id, position')).bind(tenantId, JSON.stringify(items.map(eventToRow))),
    bulkInsert(d1, relayOutbox, tenantId, ['event_id', 'created_at'], items.map((i) => ({ event_id: i.record.id, created_at: now })), 'ON CONFLICT DO NOTHING'),
  ];
}

export async function clearRelayOutbox(d1: D1Database, tenantId: string, ids: string[]): Promise<void> {
  await d1
    .prepare(`DELETE FROM relay_outbox WHERE tenant_id = ?1 AND event_id IN (SELECT value FROM json_each(?2))`)
    .bind(tenantId, JSON.stringify(ids))
    .run();
}

export const staleRelayOutboxSql = `SELECT e.* FROM relay_outbox o CROSS JOIN events e ON e.tenant_id = o.tenant_id AND e.id = o.event_id AND e.stream_id IS NULL
   WHERE o.created_at < ? LIMIT ?`;

/**
 * Outbox rows older than `before` (ms) with their events, for the sweep cron, in no order: the table
 * holds only events whose queue send is unconfirmed, and has no index by time (a row written less per
 * event). The outbox is read first (CROSS JOIN keeps that order), and each event found by the index of
 * ids, which holds every event no hub owns (stream_id IS NULL): never a scan of the events.
 */
export async function staleRelayOutbox(d1: D1Database, before: number, limit: number): Promise<EventRow[]> {
  const { results } = await d1
    .prepare(staleRelayOutboxSql)
    .bind(before, limit)
    .all<EventRow>();
  return results;
}

// ---------------------------------------------------------------- queries (GET /events, count, stats, export)

/** Filters of GET /events and its export; every one is optional. Times are epoch ms, both bounds inclusive. */
export interface EventFilters {
  type?: string;
  source?: EventRecord['source'];
  contact_id?: string;
  session_id?: string;
  message_id?: string;
  correlation_id?: string;
  start?: number;
  end?: number;
}

/** A keyset position in (timestamp, position) order: the last row of the previous page. */
export interface Keyset {
  timestamp: number;
  position: number;
}

export type SortOrder = 'asc' | 'desc';

export interface SqlQuery {
  sql: string;
  args: (string | number)[];
}

// Each filter column has an index (tenant_id, column, timestamp) — the rowid `position` rides at the end of
// every index, so `ORDER BY timestamp, position` walks the index with no sort. See test/db/event-indexes.test.ts.
// Most selective first: with several filters, the first one present picks the index.
const FILTER_COLUMNS = [
  ['message_id', 'message_id', 'events_message'],
  ['correlation_id', 'correlation_id', 'events_correlation'],
  ['session_id', 'session_id', 'events_session'],
  ['contact_id', 'contact_id', 'events_contact'],
  ['type', 'event_type', 'events_type'],
  ['source', 'source', 'events_source'],
] as const;

/**
 * The index a filtered read walks, named with INDEXED BY. Without it SQLite (with or without ANALYZE
 * statistics) often prefers the tenant-time index as soon as a time range is given, and then reads every
 * event of the range to find the few of one type or contact. (An index missing here fails loudly.)
 */
function indexFor(f: EventFilters): string {
  return FILTER_COLUMNS.find(([key]) => f[key] !== undefined)?.[2] ?? 'events_tenant_time';
}

function whereOf(tenantId: string, f: EventFilters): SqlQuery {
  const conds = ['tenant_id = ?'];
  const args: (string | number)[] = [tenantId];
  for (const [key, column] of FILTER_COLUMNS) {
    const value = f[key];
    if (value !== undefined) {
      conds.push(`${column} = ?`);
      args.push(value);
    }
  }
  if (f.start !== undefined) {
    conds.push('timestamp >= ?');
    args.push(f.start);
  }
  if (f.end !== undefined) {
    conds.push('timestamp <= ?');
    args.push(f.end);
  }
  return { sql: conds.join(' AND '), args };
}

/**
 * One page in (timestamp, position) order after `after` (exclusive). The keyset is written as
 * `timestamp <= t AND (timestamp < t OR position < p)` rather than a row value, because SQLite then
 * keeps the filter's own index (a row-value range made it fall back to the tenant-time index).
 * `maxPosition` bounds a multi-page read to the rows that existed when it began (export).
 */
export function eventPageQuery(tenantId: string, f: EventFilters, order: SortOrder, limit: number, after?: Keyset, maxPosition?: number): SqlQuery {
  const where = whereOf(tenantId, f);
  let sql = where.sql;
  const args = [...where.args];
  if (after) {
    sql += order === 'desc' ? ' AND timestamp <= ? AND (timestamp < ? OR position < ?)' : ' AND timestamp >= ? AND (timestamp > ? OR position > ?)';
    args.push(after.timestamp, after.timestamp, after.position);
  }
  if (maxPosition !== undefined) {
    sql += ' AND position <= ?';
    args.push(maxPosition);
  }
  const dir = order === 'desc' ? 'DESC' : 'ASC';
  args.push(limit);
  return { sql: `SELECT * FROM events INDEXED BY ${indexFor(f)} WHERE ${sql} ORDER BY timestamp ${dir}, position ${dir} LIMIT ?`, args };
}

export function eventCountQuery(tenantId: string, f: EventFilters): SqlQuery {
  const where = whereOf(tenantId, f);
  return { sql: `SELECT count(*) AS n FROM events INDEXED BY ${indexFor(f)} WHERE ${where.sql}`, args: where.args };
}

/** A page of events plus the total matching the filters, read in one D1 batch (one consistent snapshot). */
export async function listEvents(
  d1: D1Database,
  tenantId: string,
  f: EventFilters,
  page: { order: SortOrder; limit: number; after?: Keyset },
): Promise<{ rows: EventRow[]; total: number }> {
  const list = eventPageQuery(tenantId, f, page.order, page.limit, page.after);
  const count = eventCountQuery(tenantId, f);
  const [rows, total] = await d1.batch<EventRow | { n: number }>([
    d1.prepare(list.sql).bind(...list.args),
    d1.prepare(count.sql).bind(...count.args),
  ]);
  return { rows: rows!.results as EventRow[], total: (total!.results[0] as { n: number }).n };
}

export async function countEvents(d1: D1Database, tenantId: string, f: EventFilters): Promise<number> {
  const q = eventCountQuery(tenantId, f);
  const row = await d1.prepare(q.sql).bind(...q.args).first<{ n: number }>();
  return row?.n ?? 0;
}

export async function eventPage(
  d1: D1Database,
  tenantId: string,
  f: EventFilters,
  order: SortOrder,
  limit: number,
  after?: Keyset,
  maxPosition?: number,
): Promise<EventRow[]> {
  const q = eventPageQuery(tenantId, f, order, limit, after, maxPosition);
  const { results } = await d1.prepare(q.sql).bind(...q.args).all<EventRow>();
  return results;
}

export type StatsGroupBy = 'type' | 'source' | 'hour';

export interface EventStats {
  total: number;
  /** type and source: by count, largest first; hour: by hour (ISO start of the hour), oldest first. */
  groups: { key: string; count: number }[];
}

/**
 * The statistics query over the raw log. It reads the window through the (tenant_id, timestamp) index
 * rather than walking the tenant's whole history in (tenant_id, column) order: stats ask about a window,
 * usually a small part of the history. (The analytics rollups can answer wide ranges faster.)
 */
export function eventStatsQuery(tenantId: string, range: { since: number; until: number }, groupBy: StatsGroupBy): SqlQuery {
  const where = 'tenant_id = ? AND timestamp >= ? AND timestamp <= ?';
  const from = 'events INDEXED BY events_tenant_time';
  const args = [tenantId, range.since, range.until];
  if (groupBy === 'hour') {
    return { sql: `SELECT (timestamp / ${HOUR_MS}) * ${HOUR_MS} AS k, count(*) AS n FROM ${from} WHERE ${where} GROUP BY k ORDER BY k`, args };
  }
  const column = groupBy === 'type' ? 'event_type' : 'source';
  return { sql: `SELECT ${column} AS k, count(*) AS n FROM ${from} WHERE ${where} GROUP BY ${column} ORDER BY n DESC, k`, args };
}

/** Event counts in [since, until] grouped by type, source or hour, computed in SQL over the log. */
export async function eventStatsFromLog(
  d1: D1Database,
  tenantId: string,
  range: { since: number; until: number },
  groupBy: StatsGroupBy,
): Promise<EventStats> {
  const q = eventStatsQuery(tenantId, range, groupBy);
  const { results } = await d1.prepare(q.sql).bind(...q.args).all<{ k: string | number; n: number }>();
  const groups = results.map((r) => ({ key: groupBy === 'hour' ? iso(Number(r.k)) : String(r.k), count: r.n }));
  return { total: groups.reduce((sum, g) => sum + g.count, 0), groups };
}
