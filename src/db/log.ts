import type { TypeFilter } from '../domain/event-patterns';
import type { ProjectionEvent } from '../domain/projections/types';
import { upcast, upcastKeys } from '../domain/upcasters';
import { eventFromRow, RECORD_COLUMNS, servedEvent, type LogRow } from './events';

const LOG_COLUMNS = RECORD_COLUMNS.join(', ');

export interface LogQuery {
  after: number;
  /** Inclusive upper bound (a head position read before): lets a filtered reader advance past non-matching events. */
  upTo?: number;
  limit: number;
  types?: TypeFilter | null;
  correlationId?: string;
  streamId?: string;
  /** Inclusive bounds on the event's own timestamp (ms). */
  from?: number;
  to?: number;
}

/**
 * SQL: does the event type `col` match the patterns (src/domain/event-patterns.ts)? `exact` and `globs`
 * are JSON arrays (SQL expressions: parameters, or a column holding every pattern in both roles). Types
 * hold only [a-z0-9_.], so GLOB matches an exact type as itself and `contact.*` as matchesPattern does.
 */
export const typeMatchSql = (col: string, exact: string, globs: string): string =>
  `(${col} IN (SELECT value FROM json_each(${exact})) OR EXISTS (SELECT 1 FROM json_each(${globs}) AS g WHERE ${col} GLOB g.value))`;

function where(tenantId: string, q: LogQuery): { clause: string; args: unknown[] } {
  const parts = ['tenant_id = ?1', 'position > ?2'];
  const args: unknown[] = [tenantId, q.after];
  const add = (sql: string, value: unknown) => {
    args.push(value);
    parts.push(sql.replaceAll('?', `?${args.length}`));
  };
  if (q.upTo !== undefined) add('position <= ?', q.upTo);
  if (q.types) {
    const exact = JSON.stringify(q.types.exact);
    const globs = JSON.stringify(q.types.globs);
    args.push(exact, globs);
    const e = args.length - 1;
    const g = args.length;
    parts.push(typeMatchSql('events.event_type', `?${e}`, `?${g}`));
  }
  if (q.correlationId !== undefined) add('correlation_id = ?', q.correlationId);
  if (q.streamId !== undefined) add('stream_id = ?', q.streamId);
  if (q.from !== undefined) add('timestamp >= ?', q.from);
  if (q.to !== undefined) add('timestamp <= ?', q.to);
  return { clause: parts.join(' AND '), args };
}

/** The tenant's events after a position, in position (= commit) order. */
export async function readLog(d1: D1Database, tenantId: string, q: LogQuery): Promise<LogRow[]> {
  const { clause, args } = where(tenantId, q);
  args.push(q.limit);
  const { results } = await d1
    .prepare(`SELECT ${LOG_COLUMNS} FROM events WHERE ${clause} ORDER BY position LIMIT ?${args.length}`)
    .bind(...args)
    .all<LogRow>();
  return results;
}

/** A row whose Event JSON SQLite built (`j`), or, for a row that needs upcasting, the raw columns. */
type EncodedRow = { position: number; j: string | null } & Partial<LogRow>;

// Builds the API's Event JSON inside SQLite: crossing the D1 boundary as one text value per row
// instead of fourteen values is what lets GET /log serve tens of thousands of events per second.
// Times are epoch ms rendered with integer arithmetic (exact to the millisecond).
const isoSql = (col: string) => `strftime('%Y-%m-%dT%H:%M:%S', ${col} / 1000, 'unixepoch') || '.' || printf('%03d', ${col} % 1000) || 'Z'`;
// The key order is servedEvent's, so that a page reads the same whichever side encoded a row.
const EVENT_JSON_SQL = `json_object('id', id, 'event_type', event_type, 'source', source,
  'contact_id', contact_id, 'session_id', session_id, 'message_id', message_id, 'payload', json(payload), 'metadata', json(metadata),
  'stream_id', stream_id, 'sequence_number', stream_version, 'schema_version', schema_version, 'position', position,
  'timestamp', ${isoSql('timestamp')}, 'created_at', ${isoSql('created_at')}, 'stored_schema_version', schema_version)`;

/**
 * The page as Event JSON texts, in position order. Rows of a (type, version) with a registered
 * upcaster come back raw and are encoded (upcast) here.
 */
export async function readLogJson(d1: D1Database, tenantId: string, q: LogQuery): Promise<{ position: number; json: string }[]> {
  const { clause, args } = where(tenantId, q);
  args.push(JSON.stringify(upcastKeys()));
  const u = args.length;
  args.push(q.limit);
  const raw = LOG_COLUMNS.split(', ')
    .filter((c) => c !== 'position')
    .map((c) => `CASE WHEN up THEN ${c} END AS ${c}`)
    .join(', ');
  const { results } = await d1
    .prepare(
      `SELECT position, CASE WHEN up THEN NULL ELSE ${EVENT_JSON_SQL} END AS j, ${raw} FROM (
         SELECT *, (event_type || ':' || schema_version) IN (SELECT value FROM json_each(?${u})) AS up
         FROM events WHERE ${clause} ORDER BY position LIMIT ?${args.length})`,
    )
    .bind(...args)
    .all<EncodedRow>();
  return results.map((r) => ({ position: r.position, json: r.j ?? logEventJson(r as LogRow) }));
}

// D1 caps one value at 2 MB: a page is concatenated in chunks of about 1 MB (running byte total), so
// a chunk stays under the cap even when its last event carries the largest payload allowed.
const CHUNK_BYTES = 1_000_000;
const PLACEHOLDER = /\u0001(\d+)\u0001/g;

/**
 * A page as one JSON array body, concatenated inside SQLite: a few values cross the D1 boundary per
 * page instead of one per row and column. Rows that need upcasting come out as a placeholder (a
 * control character, which SQLite's JSON never contains unescaped) and are replaced by their upcast
 * JSON here.
 */
export async function readLogPage(d1: D1Database, tenantId: string, q: LogQuery): Promise<{ body: string; count: number; last: number | null }> {
  const { clause, args } = where(tenantId, q);
  args.push(JSON.stringify(upcastKeys()));
  const u = args.length;
  args.push(q.limit);
  const { results } = await d1
    .prepare(
      `WITH page AS (
         SELECT position, CASE WHEN up THEN char(1) || position || char(1) ELSE ${EVENT_JSON_SQL} END AS j
         FROM (SELECT *, (event_type || ':' || schema_version) IN (SELECT value FROM json_each(?${u})) AS up
               FROM events WHERE ${clause} ORDER BY position LIMIT ?${args.length})),
       sized AS (SELECT position, j, sum(octet_length(j)) OVER (ORDER BY position ROWS UNBOUNDED PRECEDING) / ${CHUNK_BYTES} AS chunk FROM page)
       SELECT group_concat(j, ',' ORDER BY position) AS body, count(*) AS n, max(position) AS last FROM sized GROUP BY chunk ORDER BY chunk`,
    )
    .bind(...args)
    .all<{ body: string; n: number; last: number }>();
  if (results.length === 0) return { body: '[]', count: 0, last: null };
  let body = results.map((r) => r.body).join(',');
  const ups = [...body.matchAll(PLACEHOLDER)].map((m) => Number(m[1]));
  if (ups.length > 0) {
    const { results: rows } = await d1
      .prepare(`SELECT ${LOG_COLUMNS} FROM events WHERE tenant_id = ?1 AND position IN (SELECT value FROM json_each(?2))`)
      .bind(tenantId, JSON.stringify(ups))
      .all<LogRow>();
    const encoded = new Map(rows.map((r) => [String(r.position), logEventJson(r)]));
    body = body.replace(PLACEHOLDER, (_, p: string) => encoded.get(p) ?? 'null');
  }
  return { body: `[${body}]`, count: results.reduce((n, r) => n + r.n, 0), last: results[results.length - 1]!.last };
}

/**
 * A projection's progress: its matching events after the checkpoint (counted up to `cap`), and the
 * position every event is folded through. A projection commits its checkpoint after a pass that met
 * none of its types only every CHECKPOINT_EVERY positions (src/projections/engine.ts): with no matching
 * event after it, everything up to the head is folded.
 */
export async function projectionProgress(d1: D1Database, tenantId: string, checkpoint: number, types: TypeFilter | null, cap: number): Promise<{ checkpoint: number; lag: number }> {
  const head = await headPosition(d1, tenantId);
  const lag = await countAfter(d1, tenantId, { after: checkpoint, upTo: head, types }, cap);
  return { checkpoint: lag === 0 ? Math.max(checkpoint, head) : checkpoint, lag };
}

/** How many matching events lie after a position, counted up to `cap` (lag). */
export async function countAfter(d1: D1Database, tenantId: string, q: Omit<LogQuery, 'limit'>, cap: number): Promise<number> {
  const { clause, args } = where(tenantId, { ...q, limit: cap });
  args.push(cap);
  const row = await d1
    .prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE ${clause} LIMIT ?${args.length})`)
    .bind(...args)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * The tenant's last position. D1 commits one transaction at a time and positions are assigned inside
 * it, so every position at or below a committed one is already visible: a reader that has seen the
 * head can never miss an event below it.
 */
export async function headPosition(d1: D1Database, tenantId: string): Promise<number> {
  const row = await d1.prepare(`SELECT max(position) AS p FROM events WHERE tenant_id = ?`).bind(tenantId).first<{ p: number | null }>();
  return row?.p ?? 0;
}

/**
 * Positions of a stream's events by id, found by their sequence numbers (for stream reads served by the
 * hubs, whose rows reach D1 a moment later). `streamId`: the stream's D1 `stream_id`.
 */
export async function positionsOf(
  d1: D1Database,
  tenantId: string,
  streamId: string,
  records: { id: string; sequence_number: number | null }[],
): Promise<Map<string, number>> {
  const versions = records.flatMap((r) => (r.sequence_number === null ? [] : [r.sequence_number]));
  if (versions.length === 0) return new Map();
  const { results } = await d1
    .prepare(`SELECT id, position FROM events WHERE tenant_id = ?1 AND stream_id = ?2 AND stream_version IN (SELECT value FROM json_each(?3))`)
    .bind(tenantId, streamId, JSON.stringify(versions))
    .all<{ id: string; position: number }>();
  return new Map(results.map((r) => [r.id, r.position]));
}

/** A row (one that needs upcasting: SQLite encodes the others) as the API's Event JSON. */
export function logEventJson(r: LogRow): string {
  return JSON.stringify(servedEvent(eventFromRow(r)));
}

export function projectionEvent(r: LogRow): ProjectionEvent {
  const up = upcast(r.event_type, r.schema_version, JSON.parse(r.payload) as Record<string, unknown>);
  return {
    id: r.id,
    event_type: r.event_type,
    schema_version: up.version,
    contact_id: r.contact_id,
    stream_id: r.stream_id,
    sequence_number: r.stream_version,
    payload: up.payload,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    position: r.position,
    timestamp: r.timestamp,
  };
}
