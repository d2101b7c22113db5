import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import { isoOrNull, iso } from '../domain/time';
import { bulkInsert } from './bulk';
import type { D1Row } from './client';
import { contactEvents } from './schema/core';

// The timeline's query store. Its rows are timeline entries, and TypeScript names say so; the table
// keeps its name `contact_events` (the API's word for what a client appends), and the statement
// builders the hubs' relay uses (upsertContactEventsStatement, deleteContactEventsStatements) are named for the table they write.

/** A row of `contact_events`, a timeline entry, as D1 returns it. */
export type TimelineEntryRow = D1Row<typeof contactEvents>;

const msOrNull = (v: string | null) => (v === null ? null : Date.parse(v));

export function timelineEntryToRow(e: TimelineEntryRecord, revision: number): Omit<TimelineEntryRow, 'tenant_id'> {
  return {
    id: e.id,
    contact_id: e.contact_id,
    sequence_number: e.sequence_number,
    session_id: e.session_id,
    event_type: e.event_type,
    category: e.category,
    priority: e.priority,
    title: e.title,
    description: e.description,
    payload: JSON.stringify(e.payload),
    metadata: JSON.stringify(e.metadata),
    source: e.source,
    triggered_by: e.triggered_by,
    integration_source: e.integration_source,
    is_realtime: e.is_realtime ? 1 : 0,
    delivered: e.delivered ? 1 : 0,
    delivered_at: msOrNull(e.delivered_at),
    read: e.read ? 1 : 0,
    read_at: msOrNull(e.read_at),
    visible_to_client: e.visible_to_client ? 1 : 0,
    visible_to_agent: e.visible_to_agent ? 1 : 0,
    expires_at: msOrNull(e.expires_at),
    occurred_at: Date.parse(e.occurred_at),
    created_at: Date.parse(e.created_at),
    origin_event_id: e.origin_event_id,
    revision,
  };
}

export function timelineEntryFromRow(r: TimelineEntryRow): TimelineEntryRecord {
  return {
    id: r.id,
    contact_id: r.contact_id,
    sequence_number: r.sequence_number,
    session_id: r.session_id,
    event_type: r.event_type,
    category: r.category,
    priority: r.priority,
    title: r.title,
    description: r.description,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    source: r.source,
    triggered_by: r.triggered_by,
    integration_source: r.integration_source,
    is_realtime: r.is_realtime === 1,
    delivered: r.delivered === 1,
    delivered_at: isoOrNull(r.delivered_at),
    read: r.read === 1,
    read_at: isoOrNull(r.read_at),
    visible_to_client: r.visible_to_client === 1,
    visible_to_agent: r.visible_to_agent === 1,
    expires_at: isoOrNull(r.expires_at),
    occurred_at: iso(r.occurred_at),
    created_at: iso(r.created_at),
    origin_event_id: r.origin_event_id,
  };
}

const COLUMNS = [
  'id', 'contact_id', 'sequence_number', 'session_id', 'event_type', 'category', 'priority', 'title', 'description', 'payload',
  'metadata', 'source', 'triggered_by', 'integration_source', 'is_realtime', 'delivered', 'delivered_at', 'read', 'read_at',
  'visible_to_client', 'visible_to_agent', 'expires_at', 'occurred_at', 'created_at', 'origin_event_id', 'revision',
] as const satisfies readonly (keyof TimelineEntryRow)[];

/**
 * Upserts timeline entries relayed from their hub, by their key (contact_id, sequence_number). A row
 * only moves forward: an update relayed late (lower revision) never overwrites a newer one, and a replay
 * changes nothing. Another id at a stored key is refused (trigger contact_events_key_held: setting the
 * id raises a UNIQUE error), so that its hub parks it. An entry id that the owner index gives another
 * contact of the tenant (a client-chosen id reused across contacts, which the API refuses but two
 * concurrent requests could race past) is not stored a second time: its first owner keeps it.
 */
export function upsertContactEventsStatement(
  d1: D1Database,
  tenantId: string,
  items: { record: TimelineEntryRecord; revision: number }[],
): D1PreparedStatement {
  return bulkInsert(
    d1,
    contactEvents,
    tenantId,
    COLUMNS,
    items.map((i) => timelineEntryToRow(i.record, i.revision)),
    `ON CONFLICT (tenant_id, contact_id, sequence_number) DO UPDATE SET
       delivered = excluded.delivered, delivered_at = excluded.delivered_at, read = excluded.read, read_at = excluded.read_at,
       title = excluded.title, description = excluded.description, expires_at = excluded.expires_at, revision = excluded.revision
       , id = excluded.id
     WHERE excluded.revision > contact_events.revision OR excluded.id <> contact_events.id`,
    // v->>0 is the id, v->>1 the contact (COLUMNS).
    `NOT EXISTS (SELECT 1 FROM id_owners AS o WHERE o.tenant_id = ?1 AND o.kind = 'entry' AND o.id = v->>0 AND o.owner <> 'contact:' || (v->>1))`,
  );
}

/**
 * Deletes entries by their key. An item stored by an earlier version names the id alone: with no index
 * of ids, those are found by walking the tenant's rows (only rows in flight at an upgrade are such).
 */
export function deleteContactEventsStatements(
  d1: D1Database,
  tenantId: string,
  items: { id: string; contact_id?: string | undefined; sequence_number?: number | undefined }[],
): D1PreparedStatement[] {
  const keyed = items.filter((i) => i.contact_id !== undefined && i.sequence_number !== undefined);
  const bare = items.filter((i) => i.contact_id === undefined || i.sequence_number === undefined).map((i) => i.id);
  const out: D1PreparedStatement[] = [];
  if (keyed.length > 0) {
    out.push(
      d1
        .prepare(
          `DELETE FROM contact_events WHERE tenant_id = ?1 AND rowid IN (SELECT ce.rowid FROM json_each(?2) AS j JOIN contact_events AS ce
             ON ce.tenant_id = ?1 AND ce.contact_id = j.value->>0 AND ce.sequence_number = j.value->>1 AND ce.id = j.value->>2)`,
        )
        .bind(tenantId, JSON.stringify(keyed.map((i) => [i.contact_id, i.sequence_number, i.id]))),
    );
  }
  if (bare.length > 0) {
    out.push(d1.prepare(`DELETE FROM contact_events WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2))`).bind(tenantId, JSON.stringify(bare)));
  }
  return out;
}

export interface TenantTimelineFilter {
  type?: string | undefined;
  category?: string | undefined;
  since?: number | undefined;
  contactId?: string | undefined;
  sessionId?: string | undefined;
  visibleTo?: 'client' | 'agent' | undefined;
  includeExpired?: boolean | undefined;
  limit: number;
  offset?: number | undefined;
  /** Oldest first (a session's timeline reads like a transcript) instead of newest first. */
  ascending?: boolean | undefined;
}

function filterClause(tenantId: string, f: TenantTimelineFilter, now: number, alias = ''): { where: string; args: (string | number)[] } {
  const col = (c: string) => `${alias}${c}`;
  const where = [`${col('tenant_id')} = ?`];
  const args: (string | number)[] = [tenantId];
  const add = (clause: string, value: string | number) => {
    where.push(clause);
    args.push(value);
  };
  if (f.type !== undefined) add(`${col('event_type')} = ?`, f.type);
  if (f.category !== undefined) add(`${col('category')} = ?`, f.category);
  if (f.since !== undefined) add(`${col('occurred_at')} >= ?`, f.since);
  if (f.contactId !== undefined) add(`${col('contact_id')} = ?`, f.contactId);
  if (f.sessionId !== undefined) add(`${col('session_id')} = ?`, f.sessionId);
  if (f.visibleTo === 'client') where.push(`${col('visible_to_client')} = 1`);
  if (f.visibleTo === 'agent') where.push(`${col('visible_to_agent')} = 1`);
  if (!f.includeExpired) add(`(${col('expires_at')} IS NULL OR ${col('expires_at')} > ?)`, now);
  return { where: where.join(' AND '), args };
}

/** Cross-contact timeline query (eventually consistent with appends: D1 is fed by the hubs' relay). */
export async function queryTimelineEntries(
  d1: D1Database,
  tenantId: string,
  f: TenantTimelineFilter,
  now = Date.now(),
): Promise<{ rows: TimelineEntryRow[]; total: number }> {
  const { where, args } = filterClause(tenantId, f, now);
  const order = f.ascending ? 'ASC' : 'DESC';
  const [page, count] = await d1.batch([
    d1
      .prepare(`SELECT * FROM contact_events WHERE ${where} ORDER BY occurred_at ${order}, sequence_number ${order} LIMIT ? OFFSET ?`)
      .bind(...args, f.limit, f.offset ?? 0),
    d1.prepare(`SELECT count(*) AS n FROM contact_events WHERE ${where}`).bind(...args),
  ]);
  return { rows: (page!.results ?? []) as TimelineEntryRow[], total: ((count!.results ?? [])[0] as { n: number } | undefined)?.n ?? 0 };
}

/** Full-text search over title and description (FTS5, best match first), scoped to the tenant. */
export async function searchTimelineEntries(
  d1: D1Database,
  tenantId: string,
  match: string,
  f: TenantTimelineFilter,
  now = Date.now(),
): Promise<TimelineEntryRow[]> {
  const { where, args } = filterClause(tenantId, f, now, 'ce.');
  const { results } = await d1
    .prepare(
      `SELECT ce.* FROM contact_events_fts JOIN contact_events ce ON ce.rowid = contact_events_fts.rowid
       WHERE contact_events_fts MATCH ? AND ${where}
       ORDER BY contact_events_fts.rank, ce.occurred_at DESC LIMIT ? OFFSET ?`,
    )
    .bind(match, ...args, f.limit, f.offset ?? 0)
    .all<TimelineEntryRow>();
  return results;
}

/** Contacts that hold entries expired before `before` (ms), for the expiry job. */
export async function contactsWithExpired(
  d1: D1Database,
  tenantId: string,
  before: number,
  limit: number,
): Promise<{ tenant_id: string; contact_id: string }[]> {
  const { results } = await d1
    .prepare(
      `SELECT DISTINCT tenant_id, contact_id FROM contact_events
       WHERE expires_at IS NOT NULL AND expires_at < ? AND tenant_id = ? LIMIT ?`,
    )
    .bind(before, tenantId, limit)
    .all<{ tenant_id: string; contact_id: string }>();
  return results;
}

/** Deletes one contact's entries expired before `before` (ms); the hub has already purged them. */
export async function deleteExpiredOfContact(d1: D1Database, tenantId: string, contactId: string, before: number): Promise<number> {
  const r = await d1
    .prepare(`DELETE FROM contact_events WHERE tenant_id = ? AND contact_id = ? AND expires_at IS NOT NULL AND expires_at < ?`)
    .bind(tenantId, contactId, before)
    .run();
  return r.meta.changes ?? 0;
}
