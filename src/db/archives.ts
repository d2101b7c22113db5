import { holdLogHeadStatement, type EventRow } from './events';
import type { D1Row } from './client';
import type { archives } from './schema/analytics';

export type ArchiveRow = D1Row<typeof archives>;

/** The earliest event time of a tenant before `cutoff`, or null when nothing is that old. */
export async function oldestEventBefore(d1: D1Database, tenantId: string, cutoff: number): Promise<number | null> {
  const row = await d1.prepare(`SELECT min(timestamp) AS t FROM events WHERE tenant_id = ?1 AND timestamp < ?2`).bind(tenantId, cutoff).first<{ t: number | null }>();
  return row?.t ?? null;
}

/** Events of one tenant in [from, to), by position, after `afterPosition` (and up to `maxPosition`). */
export async function eventsPage(
  d1: D1Database,
  tenantId: string,
  range: { from: number; to: number },
  afterPosition: number,
  limit: number,
  maxPosition = Number.MAX_SAFE_INTEGER,
): Promise<EventRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT * FROM events WHERE tenant_id = ?1 AND timestamp >= ?2 AND timestamp < ?3 AND position > ?4 AND position <= ?5
       ORDER BY position LIMIT ?6`,
    )
    .bind(tenantId, range.from, range.to, afterPosition, maxPosition, limit)
    .all<EventRow>();
  return results;
}

/** Records an archive before its object is written; a manifest that already exists is kept. */
export async function insertPendingArchive(d1: D1Database, a: Omit<ArchiveRow, 'status' | 'completed_at'>): Promise<void> {
  await d1
    .prepare(
      `INSERT INTO archives (tenant_id, id, key, day, first_position, last_position, "count", sha256, bytes, status, created_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10) ON CONFLICT DO NOTHING`,
    )
    .bind(a.tenant_id, a.id, a.key, a.day, a.first_position, a.last_position, a.count, a.sha256, a.bytes, a.created_at)
    .run();
}

export async function pendingArchives(d1: D1Database, tenantId: string): Promise<ArchiveRow[]> {
  const { results } = await d1.prepare(`SELECT * FROM archives WHERE tenant_id = ?1 AND status = 'pending' ORDER BY id`).bind(tenantId).all<ArchiveRow>();
  return results;
}

/**
 * The one transaction that ends an archive, run only after its object was read back and checked:
 * deletes exactly the archived rows (by position), marks the manifest complete with what the object
 * holds, and drops the analytics consumer's markers of those events once they are old enough that
 * no queue can redeliver them (queues keep messages for days, not weeks). Answers the ids of the rows
 * it deleted, and whether it was this call that completed the manifest (a concurrent run may have).
 */
export async function completeArchive(
  d1: D1Database,
  a: { tenant_id: string; id: string; count: number; sha256: string; bytes: number },
  positions: number[],
  eventIds: string[],
  now: number,
  markerMaxAgeMs: number,
): Promise<{ deletedIds: string[]; completed: boolean }> {
  const [, deleted, completed] = await d1.batch([
    // Retention may archive a tenant's newest events too: their positions stay taken.
    holdLogHeadStatement(d1, a.tenant_id),
    d1
      .prepare(`DELETE FROM events WHERE tenant_id = ?1 AND position IN (SELECT value FROM json_each(?2)) RETURNING id`)
      .bind(a.tenant_id, JSON.stringify(positions)),
    d1
      .prepare(
        `UPDATE archives SET status = 'complete', completed_at = ?3, "count" = ?4, sha256 = ?5, bytes = ?6 WHERE tenant_id = ?1 AND id = ?2 AND status = 'pending'
         RETURNING id`,
      )
      .bind(a.tenant_id, a.id, now, a.count, a.sha256, a.bytes),
    d1
      .prepare(
        `DELETE FROM processed_events WHERE consumer = 'analytics' AND tenant_id = ?1 AND event_id IN (SELECT value FROM json_each(?2)) AND processed_at < ?3`,
      )
      .bind(a.tenant_id, JSON.stringify(eventIds), now - markerMaxAgeMs),
    // Archived events leave the owner index too: GET /events/{id} answers 404 for them, as before.
    d1.prepare(`DELETE FROM id_owners WHERE tenant_id = ?1 AND kind = 'event' AND id IN (SELECT value FROM json_each(?2))`).bind(a.tenant_id, JSON.stringify(eventIds)),
  ]);
  return {
    deletedIds: ((deleted?.results ?? []) as { id: string }[]).map((r) => r.id),
    completed: (completed?.results ?? []).length > 0,
  };
}

/** A pending manifest whose rows are gone (erased meanwhile) and whose object was never written. */
export async function dropArchive(d1: D1Database, tenantId: string, id: string): Promise<void> {
  await d1.prepare(`DELETE FROM archives WHERE tenant_id = ?1 AND id = ?2 AND status = 'pending'`).bind(tenantId, id).run();
}

export async function listArchives(
  d1: D1Database,
  tenantId: string,
  opts: { fromDay?: number | undefined; toDay?: number | undefined; limit: number; after?: string | undefined },
): Promise<ArchiveRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT * FROM archives WHERE tenant_id = ?1 AND status = 'complete' AND day >= ?2 AND day <= ?3 AND id > ?4 ORDER BY id LIMIT ?5`,
    )
    .bind(tenantId, opts.fromDay ?? 0, opts.toDay ?? Number.MAX_SAFE_INTEGER, opts.after ?? '', opts.limit)
    .all<ArchiveRow>();
  return results;
}

export async function getArchive(d1: D1Database, tenantId: string, id: string): Promise<ArchiveRow | null> {
  return d1.prepare(`SELECT * FROM archives WHERE tenant_id = ?1 AND id = ?2 AND status = 'complete'`).bind(tenantId, id).first<ArchiveRow>();
}

/** After an erase rewrote an object: the manifest says what the object now holds. */
export async function updateArchiveContents(d1: D1Database, tenantId: string, id: string, a: { count: number; sha256: string; bytes: number }): Promise<void> {
  await d1
    .prepare(`UPDATE archives SET "count" = ?3, sha256 = ?4, bytes = ?5 WHERE tenant_id = ?1 AND id = ?2`)
    .bind(tenantId, id, a.count, a.sha256, a.bytes)
    .run();
}

/** After an erase emptied an object: it and its manifest go. */
export async function deleteArchiveManifest(d1: D1Database, tenantId: string, id: string): Promise<void> {
  await d1.prepare(`DELETE FROM archives WHERE tenant_id = ?1 AND id = ?2`).bind(tenantId, id).run();
}
