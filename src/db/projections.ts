import { jsonRows } from './bulk';
import type { D1Row } from './client';
import type { projectionRows, projectionState } from './schema/eventstore';

export type ProjectionStateRow = D1Row<typeof projectionState>;

/** A row of `projection_rows` without its key columns: one key's state. */
export type ProjectionRow = Pick<D1Row<typeof projectionRows>, 'key' | 'state' | 'event_count' | 'last_position' | 'updated_at'>;

/** The projection's state row and its consumer row, created on first use. */
export async function ensureProjection(d1: D1Database, tenantId: string, name: string, consumer: string, eventTypes: readonly string[], now: number): Promise<void> {
  await d1.batch([
    d1
      .prepare(`INSERT INTO projection_state (tenant_id, name, generation, updated_at) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING`)
      .bind(tenantId, name, now),
    d1
      .prepare(
        `INSERT INTO event_subscriptions (tenant_id, name, kind, event_types, checkpoint, status, error_count, created_at, updated_at)
         VALUES (?, ?, 'projection', ?, 0, 'active', 0, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .bind(tenantId, consumer, JSON.stringify(eventTypes), now, now),
  ]);
}

export async function getProjectionState(d1: D1Database, tenantId: string, name: string): Promise<ProjectionStateRow | null> {
  return d1.prepare(`SELECT * FROM projection_state WHERE tenant_id = ? AND name = ?`).bind(tenantId, name).first<ProjectionStateRow>();
}

/** Starts a rebuild into the next generation unless one is running; true when it started. */
export async function startRebuild(d1: D1Database, tenantId: string, name: string, now: number): Promise<boolean> {
  const r = await d1
    .prepare(
      `UPDATE projection_state SET rebuild_generation = max(generation, coalesce((SELECT max(generation) FROM projection_rows
          WHERE tenant_id = ?1 AND projection = ?2), 0)) + 1, rebuild_checkpoint = 0, rebuild_started_at = ?3, updated_at = ?3
       WHERE tenant_id = ?1 AND name = ?2 AND rebuild_generation IS NULL`,
    )
    .bind(tenantId, name, now)
    .run();
  return r.meta.changes > 0;
}

export function rebuildProgressStatement(d1: D1Database, tenantId: string, name: string, generation: number, checkpoint: number, now: number): D1PreparedStatement {
  return d1
    .prepare(`UPDATE projection_state SET rebuild_checkpoint = ?, updated_at = ? WHERE tenant_id = ? AND name = ? AND rebuild_generation = ?`)
    .bind(checkpoint, now, tenantId, name, generation);
}

/** The switch-over: the rebuilt generation becomes the one reads use, and its checkpoint the consumer's. */
export function switchGenerationStatements(
  d1: D1Database,
  tenantId: string,
  name: string,
  consumer: string,
  generation: number,
  checkpoint: number,
  now: number,
): D1PreparedStatement[] {
  return [
    d1
      .prepare(
        `UPDATE projection_state SET generation = ?, rebuild_generation = NULL, rebuild_checkpoint = NULL, rebuild_started_at = NULL,
           rebuilt_at = ?, updated_at = ? WHERE tenant_id = ? AND name = ? AND rebuild_generation = ?`,
      )
      .bind(generation, now, now, tenantId, name, generation),
    d1
      .prepare(`UPDATE event_subscriptions SET checkpoint = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`)
      .bind(checkpoint, now, tenantId, consumer),
  ];
}

/**
 * Deletes up to `limit` rows of generations older than `current` (a switch always moves to the highest
 * one); answers how many. An index range on the primary key, so checking costs nothing when there are none.
 */
export async function pruneGenerations(d1: D1Database, tenantId: string, name: string, current: number, limit: number): Promise<number> {
  const any = await d1
    .prepare(`SELECT 1 AS x FROM projection_rows WHERE tenant_id = ? AND projection = ? AND generation < ? LIMIT 1`)
    .bind(tenantId, name, current)
    .first();
  if (!any) return 0;
  const r = await d1
    .prepare(
      `DELETE FROM projection_rows WHERE rowid IN (SELECT rowid FROM projection_rows WHERE tenant_id = ?1 AND projection = ?2
         AND generation < ?3 LIMIT ?4)`,
    )
    .bind(tenantId, name, current, limit)
    .run();
  return r.meta.changes;
}

export async function loadRows(d1: D1Database, tenantId: string, name: string, generation: number, keys: string[]): Promise<ProjectionRow[]> {
  if (keys.length === 0) return [];
  const { results } = await d1
    .prepare(
      `SELECT key, state, event_count, last_position, updated_at FROM projection_rows
       WHERE tenant_id = ?1 AND projection = ?2 AND generation = ?3 AND key IN (SELECT value FROM json_each(?4))`,
    )
    .bind(tenantId, name, generation, JSON.stringify(keys))
    .all<ProjectionRow>();
  return results;
}

/** Read models whose rows are keyed by contact id: an erase deletes their rows (src/db/erase.ts). */
const CONTACT_KEYED = new Set(['contacts']);

export function upsertRowsStatements(d1: D1Database, tenantId: string, name: string, generation: number, rows: ProjectionRow[]): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  const columns = ['projection', 'generation', 'key', 'state', 'event_count', 'last_position', 'updated_at'];
  // A pass that read a contact's events just before its erase must not write the row back after it:
  // a contact-keyed row is written only while the contact still has an event in the log.
  const guard = CONTACT_KEYED.has(name) ? `EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = ?1 AND e.contact_id = v->>'key')` : 'true';
  // Chunks keep each statement's single JSON parameter well under D1's 100 KB statement limit… of SQL text;
  // bound values may be larger, but smaller chunks keep one slow batch from holding the writer long.
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200).map((r) => ({ projection: name, generation, ...r }));
    out.push(
      d1
        .prepare(
          `WITH ${jsonRows('?2')}
           INSERT INTO projection_rows (tenant_id, ${columns.join(', ')})
           SELECT ?1, ${columns.map((c) => `v->>'${c}'`).join(', ')} FROM json_rows WHERE ${guard}
           ON CONFLICT (tenant_id, projection, generation, key) DO UPDATE SET state = excluded.state, event_count = excluded.event_count,
             last_position = excluded.last_position, updated_at = excluded.updated_at WHERE excluded.last_position > projection_rows.last_position`,
        )
        .bind(tenantId, JSON.stringify(chunk)),
    );
  }
  return out;
}

export async function getRow(d1: D1Database, tenantId: string, name: string, generation: number, key: string): Promise<ProjectionRow | null> {
  return d1
    .prepare(`SELECT key, state, event_count, last_position, updated_at FROM projection_rows WHERE tenant_id = ? AND projection = ? AND generation = ? AND key = ?`)
    .bind(tenantId, name, generation, key)
    .first<ProjectionRow>();
}

export interface ContactListQuery {
  tag?: string;
  status?: string;
  includeDeleted: boolean;
  limit: number;
  /** Keyset cursor: contacts with key > after. */
  after?: string;
}

/** The contacts read model, filtered on its JSON state. */
export async function listContactRows(d1: D1Database, tenantId: string, generation: number, q: ContactListQuery): Promise<ProjectionRow[]> {
  const parts = [`tenant_id = ?1`, `projection = 'contacts'`, `generation = ?2`];
  const args: unknown[] = [tenantId, generation];
  const add = (sql: string, value: unknown) => {
    args.push(value);
    parts.push(sql.replaceAll('?', `?${args.length}`));
  };
  if (q.tag !== undefined) add(`EXISTS (SELECT 1 FROM json_each(state, '$.tags') AS t WHERE t.value = ?)`, q.tag);
  if (q.status !== undefined) add(`json_extract(state, '$.pipeline_status') = ?`, q.status);
  if (!q.includeDeleted) parts.push(`json_extract(state, '$.deleted') = 0`);
  if (q.after !== undefined) add(`key > ?`, q.after);
  args.push(q.limit);
  const { results } = await d1
    .prepare(`SELECT key, state, event_count, last_position, updated_at FROM projection_rows WHERE ${parts.join(' AND ')} ORDER BY key LIMIT ?${args.length}`)
    .bind(...args)
    .all<ProjectionRow>();
  return results;
}

/** Tenants with a projection rebuild under way (the cron restarts a rebuild whose alarm chain broke). */
export async function rebuildingProjectionTenants(d1: D1Database, limit: number): Promise<string[]> {
  const { results } = await d1
    .prepare(`SELECT DISTINCT tenant_id FROM projection_state WHERE rebuild_generation IS NOT NULL LIMIT ?`)
    .bind(limit)
    .all<{ tenant_id: string }>();
  return results.map((r) => r.tenant_id);
}
