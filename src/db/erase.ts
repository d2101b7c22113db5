/**
 * The D1 half of a contact's erase (DELETE /api/v1/contacts/{contact_id}): every row of the query
 * store that holds the contact's personal data, in one transaction. Analytics rollups hold counts
 * only and stay; `processed_events` holds event ids only and stays, so that a late queue message of
 * an erased event still counts once.
 */

export interface D1EraseCounts {
  events: number;
  contact_events: number;
  projections: number;
  snapshots: number;
  webhook_deliveries: number;
  delivery_attempts: number;
}

/** A delivery's body is `{type, timestamp, data}`, where data is the event or timeline entry it carries. */
const DELIVERY_OF_CONTACT = `(json_extract(body, '$.data.contact_id') = ?2 OR json_extract(body, '$.data.stream_id') = ?3)`;

/**
 * Deletes the contact's log events (by contact_id or its `contact-<id>` stream), timeline index rows
 * (the full-text index follows through its delete trigger), projection rows keyed by the contact,
 * its stream's snapshots, and the attempts of its webhook deliveries; the deliveries themselves are
 * kept, redacted (body `{}`, status `erased`), so that a redeliver names them with a 410 instead of
 * a 404 and no consumer can lease them again.
 */
export async function eraseContactRows(d1: D1Database, tenantId: string, contactId: string, streamId: string): Promise<D1EraseCounts> {
  const results = await d1.batch([
    d1
      .prepare(
        `DELETE FROM webhook_attempts WHERE tenant_id = ?1 AND delivery_id IN
           (SELECT id FROM webhook_deliveries WHERE tenant_id = ?1 AND ${DELIVERY_OF_CONTACT})`,
      )
      .bind(tenantId, contactId, streamId),
    d1
      .prepare(
        `UPDATE webhook_deliveries SET body = '{}', status = 'erased', last_error = NULL, lease_until = NULL, lease_owner = NULL,
           next_attempt_at = NULL, updated_at = ?4
         WHERE tenant_id = ?1 AND status != 'erased' AND ${DELIVERY_OF_CONTACT}`,
      )
      .bind(tenantId, contactId, streamId, Date.now()),
    d1
      .prepare(`DELETE FROM relay_outbox WHERE tenant_id = ?1 AND event_id IN (SELECT id FROM events WHERE tenant_id = ?1 AND (contact_id = ?2 OR stream_id = ?3))`)
      .bind(tenantId, contactId, streamId),
    d1.prepare(`DELETE FROM events WHERE tenant_id = ?1 AND (contact_id = ?2 OR stream_id = ?3)`).bind(tenantId, contactId, streamId),
    // Counted by what it returns: D1's `changes` would add the full-text index rows its trigger deletes.
    d1.prepare(`DELETE FROM contact_events WHERE tenant_id = ?1 AND contact_id = ?2 RETURNING 1 AS x`).bind(tenantId, contactId),
    // Projections are keyed by contact id (the contacts read model); every generation goes, a rebuild's too.
    d1.prepare(`DELETE FROM projection_rows WHERE tenant_id = ?1 AND key = ?2`).bind(tenantId, contactId),
    d1.prepare(`DELETE FROM stream_snapshots WHERE tenant_id = ?1 AND stream_id = ?2`).bind(tenantId, streamId),
  ]);
  const changes = (i: number) => results[i]?.meta.changes ?? 0;
  return {
    delivery_attempts: changes(0),
    webhook_deliveries: changes(1),
    events: changes(3),
    contact_events: results[4]?.results.length ?? 0,
    projections: changes(5),
    snapshots: changes(6),
  };
}

/** Deletes only the log events of a stream that is not a contact's (its hub's erase). */
export async function eraseStreamRows(d1: D1Database, tenantId: string, streamId: string): Promise<number> {
  const r = await d1.prepare(`DELETE FROM events WHERE tenant_id = ?1 AND stream_id = ?2`).bind(tenantId, streamId).run();
  return r.meta.changes;
}
