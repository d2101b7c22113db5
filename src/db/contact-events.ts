import type { ContactEventRecord } from '../domain/schemas/contact-events';
import { isoOrNull, iso } from '../domain/time';
import { bulkInsert } from './bulk';

export interface ContactEventRow {
  tenant_id: string;
  id: string;
  contact_id: string;
  sequence_number: number;
  session_id: string | null;
  event_type: string;
  category: ContactEventRecord['category'];
  priority: ContactEventRecord['priority'];
  title: string | null;
  description: string | null;
  payload: string;
  metadata: string;
  source: ContactEventRecord['source'];
  triggered_by: string | null;
  integration_source: string | null;
  is_realtime: number;
  delivered: number;
  delivered_at: number | null;
  read: number;
  read_at: number | null;
  visible_to_client: number;
  visible_to_agent: number;
  expires_at: number | null;
  occurred_at: number;
  created_at: number;
  origin_event_id: string | null;
  revision: number;
}

const msOrNull = (v: string | null) => (v === null ? null : Date.parse(v));

export function contactEventToRow(e: ContactEventRecord, revision: number): Omit<ContactEventRow, 'tenant_id'> {
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

export function contactEventFromRow(r: ContactEventRow): ContactEventRecord {
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
] as const;

/**
 * Upserts timeline entries relayed from their hub. A row only moves forward: an update relayed late
 * (lower revision) never overwrites a newer one, and a replay changes nothing.
 */
export function upsertContactEventsStatement(
  d1: D1Database,
  tenantId: string,
  items: { record: ContactEventRecord; revision: number }[],
): D1PreparedStatement {
  return bulkInsert(
    d1,
    'contact_events',
    tenantId,
    COLUMNS,
    items.map((i) => contactEventToRow(i.record, i.revision)),
    `ON CONFLICT (tenant_id, id) DO UPDATE SET
       delivered = excluded.delivered, delivered_at = excluded.delivered_at, read = excluded.read, read_at = excluded.read_at,
       title = excluded.title, description = excluded.description, expires_at = excluded.expires_at, revision = excluded.revision
     WHERE excluded.revision > contact_events.revision`,
  );
}

export function deleteContactEventsStatement(d1: D1Database, tenantId: string, ids: string[]): D1PreparedStatement {
  return d1
    .prepare(`DELETE FROM contact_events WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2))`)
    .bind(tenantId, JSON.stringify(ids));
}

export async function findContactIdOfEntry(d1: D1Database, tenantId: string, id: string): Promise<string | null> {
  const row = await d1
    .prepare(`SELECT contact_id FROM contact_events WHERE tenant_id = ? AND id = ?`)
    .bind(tenantId, id)
    .first<{ contact_id: string }>();
  return row?.contact_id ?? null;
}
