import { bulkInsert } from './bulk';
import type { EventRecord } from '../domain/schemas/events';
import { iso } from '../domain/time';

/** A row of `events` as D1 returns it. */
export interface EventRow {
  position: number;
  tenant_id: string;
  id: string;
  event_type: string;
  source: EventRecord['source'];
  contact_id: string | null;
  session_id: string | null;
  message_id: string | null;
  payload: string;
  metadata: string;
  correlation_id: string | null;
  causation_id: string | null;
  stream_id: string | null;
  stream_version: number | null;
  schema_version: number;
  timestamp: number;
  created_at: number;
  idempotency_key: string | null;
  request_hash: string | null;
}

export function eventFromRow(row: EventRow): EventRecord {
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

/** An event ready for D1, with what the row needs beyond the record. */
export interface EventInsert {
  record: EventRecord;
  idempotency_key: string | null;
  request_hash: string | null;
}

const EVENT_COLUMNS = [
  'id', 'event_type', 'source', 'contact_id', 'session_id', 'message_id', 'payload', 'metadata', 'correlation_id',
  'causation_id', 'stream_id', 'stream_version', 'schema_version', 'timestamp', 'created_at', 'idempotency_key', 'request_hash',
] as const;

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

/** Inserts many events in one statement, idempotent by (tenant, id): a replayed relay inserts nothing. */
export function insertEventsStatement(d1: D1Database, tenantId: string, items: EventInsert[]): D1PreparedStatement {
  return bulkInsert(d1, 'events', tenantId, EVENT_COLUMNS, items.map(eventToRow), 'ON CONFLICT DO NOTHING');
}

export async function getEvent(d1: D1Database, tenantId: string, id: string): Promise<EventRow | null> {
  return d1.prepare(`SELECT * FROM events WHERE tenant_id = ? AND id = ?`).bind(tenantId, id).first<EventRow>();
}

/** Rows of this tenant that already hold any of these ids or idempotency keys (replay detection). */
export async function findExisting(
  d1: D1Database,
  tenantId: string,
  ids: string[],
  keys: string[],
): Promise<EventRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT * FROM events WHERE tenant_id = ?1 AND (id IN (SELECT value FROM json_each(?2))
         OR (idempotency_key IN (SELECT value FROM json_each(?3)) AND contact_id IS NULL AND stream_id IS NULL))`,
    )
    .bind(tenantId, JSON.stringify(ids), JSON.stringify(keys))
    .all<EventRow>();
  return results;
}

/**
 * The Worker-side commit for events no hub owns: the events and their relay_outbox rows in one D1
 * batch (one transaction). The relay then sends them to the queues and clears the outbox rows; the
 * sweep cron finishes what a failed send left.
 */
export function insertDirectStatements(d1: D1Database, tenantId: string, items: EventInsert[], now: number): D1PreparedStatement[] {
  return [
    insertEventsStatement(d1, tenantId, items),
    bulkInsert(d1, 'relay_outbox', tenantId, ['event_id', 'created_at'], items.map((i) => ({ event_id: i.record.id, created_at: now })), 'ON CONFLICT DO NOTHING'),
  ];
}

export async function clearRelayOutbox(d1: D1Database, tenantId: string, ids: string[]): Promise<void> {
  await d1
    .prepare(`DELETE FROM relay_outbox WHERE tenant_id = ?1 AND event_id IN (SELECT value FROM json_each(?2))`)
    .bind(tenantId, JSON.stringify(ids))
    .run();
}

/** Outbox rows older than `before` (ms) with their events, for the sweep cron. */
export async function staleRelayOutbox(d1: D1Database, before: number, limit: number): Promise<EventRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT e.* FROM relay_outbox o JOIN events e ON e.tenant_id = o.tenant_id AND e.id = o.event_id
       WHERE o.created_at < ? ORDER BY o.created_at LIMIT ?`,
    )
    .bind(before, limit)
    .all<EventRow>();
  return results;
}
