/**
 * The D1 half of a contact's erase (DELETE /api/v1/contacts/{contact_id}): every row of the query
 * store that holds the contact's personal data. Analytics rollups hold counts only and stay;
 * `processed_events` holds event ids only and stays, so that a late queue message of an erased event
 * still counts once. Safe to run again: a retry after a failure part-way finishes the job.
 */

import { bulkInsert } from './bulk';
import { webhookDeliveries } from './schema/webhooks';
import { holdLogHeadStatement } from './events';
import { deleteHubKeyStatement, deleteOwnedIdsStatements, type OwnedId } from './owners';
import type { NewDelivery } from './webhooks';

export interface D1EraseCounts {
  events: number;
  contact_events: number;
  projections: number;
  snapshots: number;
  webhook_deliveries: number;
  delivery_attempts: number;
}

/** Deliveries looked at per statement: each statement stays short however long a tenant's delivery log is. */
const DELIVERY_SCAN = 5000;
const REDACT_CHUNK = 500;

/**
 * The ids of the tenant's deliveries that carried the contact. A delivery's body is `{type, timestamp,
 * data}`, where data is the event or timeline entry it carries; deliveries have no contact column, and
 * matching on the body also finds those of entries deleted before the erase, whose ids no store knows.
 * Walks the tenant's deliveries in id order (its primary key), a bounded page per statement.
 */
async function deliveriesOfContact(d1: D1Database, tenantId: string, contactId: string, streamId: string): Promise<string[]> {
  const ids: string[] = [];
  let after = '';
  for (;;) {
    const page = await d1
      .prepare(
        `SELECT max(id) AS last, count(*) AS n,
           json_group_array(id) FILTER (WHERE status != 'erased'
             AND (json_extract(body, '$.data.contact_id') = ?3 OR json_extract(body, '$.data.stream_id') = ?4)) AS hits
         FROM (SELECT id, status, body FROM webhook_deliveries WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?5)`,
      )
      .bind(tenantId, after, contactId, streamId, DELIVERY_SCAN)
      .first<{ last: string | null; n: number; hits: string | null }>();
    if (!page || page.n === 0 || page.last === null) return ids;
    ids.push(...(JSON.parse(page.hits ?? '[]') as string[]));
    if (page.n < DELIVERY_SCAN) return ids;
    after = page.last;
  }
}

/**
 * Deletes the contact's log events (by contact_id or its `contact-<id>` stream), timeline index rows
 * (the full-text index follows through its delete trigger), projection rows keyed by the contact,
 * its stream's snapshots, and the attempts of its webhook deliveries; the deliveries themselves are
 * kept, redacted (body `{}`, status `erased`), so that a redeliver names them with a 410 instead of
 * a 404 and no consumer can lease them again.
 */
export async function eraseContactRows(d1: D1Database, tenantId: string, contactId: string, streamId: string, hubIds: OwnedId[]): Promise<D1EraseCounts> {
  const deliveries = await deliveriesOfContact(d1, tenantId, contactId, streamId);
  const now = Date.now();
  const redact: D1PreparedStatement[] = [];
  for (let i = 0; i < deliveries.length; i += REDACT_CHUNK) {
    const chunk = JSON.stringify(deliveries.slice(i, i + REDACT_CHUNK));
    redact.push(
      d1.prepare(`DELETE FROM webhook_attempts WHERE tenant_id = ?1 AND delivery_id IN (SELECT value FROM json_each(?2))`).bind(tenantId, chunk),
      d1
        .prepare(
          `UPDATE webhook_deliveries SET body = '{}', status = 'erased', last_error = NULL, lease_until = NULL, lease_owner = NULL,
             next_attempt_at = NULL, updated_at = ?3
           WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2))`,
        )
        .bind(tenantId, chunk, now),
    );
  }
  const rest = [
    d1
      .prepare(`DELETE FROM relay_outbox WHERE tenant_id = ?1 AND event_id IN (SELECT id FROM events WHERE tenant_id = ?1 AND (contact_id = ?2 OR stream_id = ?3))`)
      .bind(tenantId, contactId, streamId),
    // Both counted by what they return: D1's `changes` would add the rows their triggers delete
    // (owner index rows, full-text index rows).
    d1.prepare(`DELETE FROM events WHERE tenant_id = ?1 AND (contact_id = ?2 OR stream_id = ?3) RETURNING 1 AS x`).bind(tenantId, contactId, streamId),
    d1.prepare(`DELETE FROM contact_events WHERE tenant_id = ?1 AND contact_id = ?2 RETURNING 1 AS x`).bind(tenantId, contactId),
    // Projections are keyed by contact id (the contacts read model); every generation goes, a rebuild's too.
    // These two are counted by what they return as well: D1's `changes` counts the rows its triggers
    // looked at too (the shard's fence triggers on every tenant table).
    d1.prepare(`DELETE FROM projection_rows WHERE tenant_id = ?1 AND key = ?2 RETURNING 1 AS x`).bind(tenantId, contactId),
    d1.prepare(`DELETE FROM stream_snapshots WHERE tenant_id = ?1 AND stream_id = ?2 RETURNING 1 AS x`).bind(tenantId, streamId),
  ];
  // The owner index names which hub holds an id: rows of ids in D1 went with them (triggers), these
  // are the ids the hub holds, relayed or not. Last, so that `changes` above keep their indexes.
  const owners = [...deleteOwnedIdsStatements(d1, tenantId, hubIds), await deleteHubKeyStatement(d1, tenantId, { kind: 'contact', id: contactId })];
  // The head first: erasing the tenant's newest events must not free their positions.
  const [, ...results] = await d1.batch([holdLogHeadStatement(d1, tenantId), ...redact, ...rest, ...owners]);
  const changes = (i: number) => results[i]?.meta.changes ?? 0;
  let attempts = 0;
  for (let i = 0; i < redact.length; i += 2) attempts += changes(i);
  const r = redact.length;
  return {
    delivery_attempts: attempts,
    webhook_deliveries: deliveries.length,
    events: results[r + 1]?.results.length ?? 0,
    contact_events: results[r + 2]?.results.length ?? 0,
    projections: results[r + 3]?.results.length ?? 0,
    snapshots: results[r + 4]?.results.length ?? 0,
  };
}

/** Deletes only the log events of a stream that is not a contact's (its hub's erase). */
export async function eraseStreamRows(d1: D1Database, tenantId: string, streamId: string, hubIds: OwnedId[]): Promise<number> {
  const [, r] = await d1.batch([
    holdLogHeadStatement(d1, tenantId),
    // Counted by what it returns: `changes` would add the owner index rows its trigger deletes.
    d1.prepare(`DELETE FROM events WHERE tenant_id = ?1 AND stream_id = ?2 RETURNING 1 AS x`).bind(tenantId, streamId),
    ...deleteOwnedIdsStatements(d1, tenantId, hubIds),
    await deleteHubKeyStatement(d1, tenantId, { kind: 'stream', id: streamId }),
  ]);
  return r!.results.length;
}

/** Records deliveries as `erased` (no payload, never sent) unless a delivery with that id exists. */
export function eraseTombstonesStatement(d1: D1Database, tenantId: string, rows: NewDelivery[], now: number): D1PreparedStatement {
  return bulkInsert(
    d1,
    webhookDeliveries,
    tenantId,
    ['id', 'subscription_id', 'event_id', 'event_type', 'body', 'status', 'created_at', 'updated_at', 'completed_at'],
    rows.map((r) => ({ ...r, body: '{}', status: 'erased', created_at: now, updated_at: now, completed_at: now })),
    'ON CONFLICT DO NOTHING',
  );
}
