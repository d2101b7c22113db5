import type { HubOwner } from '../hub/types';
import { bulkInsert } from './bulk';
import { idOwners } from './schema/core';

/**
 * The owner index (table id_owners): which hub holds a timeline entry id or a log event id. Ids that
 * hubs commit reach D1's own tables only through the relay, milliseconds later; routes that take only
 * an id would answer 404 in that window. The index row is written by the append's own request, in
 * parallel with the hub call and before the 2xx, so the very next request finds the hub. Events no hub
 * owns are committed to D1 directly and need no row.
 */
export type IdKind = 'entry' | 'event';

export interface OwnedId {
  kind: IdKind;
  id: string;
}

export const ownerKey = (owner: Pick<HubOwner, 'kind' | 'id'>): string => `${owner.kind}:${owner.id}`;

export function ownerFromKey(tenantId: string, key: string): HubOwner | null {
  const at = key.indexOf(':');
  const kind = key.slice(0, at);
  if (kind !== 'contact' && kind !== 'stream') return null;
  return { tenantId, kind, id: key.slice(at + 1) };
}

/**
 * Records `owner` for these ids. ON CONFLICT DO NOTHING: the first owner wins, a replay writes nothing,
 * and an id some other hub already claimed keeps pointing there (the append's conflict check has
 * refused reuse it could see; see src/append/log.ts).
 */
export function recordOwnersStatement(d1: D1Database, tenantId: string, owner: Pick<HubOwner, 'kind' | 'id'>, ids: OwnedId[]): D1PreparedStatement {
  const key = ownerKey(owner);
  return bulkInsert(d1, idOwners, tenantId, ['kind', 'id', 'owner'], ids.map((i) => ({ kind: i.kind, id: i.id, owner: key })), 'ON CONFLICT DO NOTHING');
}

/**
 * Writes the rows for an append. A failure is logged, not thrown: the hub has committed (or is
 * committing) the append, and failing the request would invite a retry that creates the event twice;
 * the routes that read this index need D1 themselves, and the relay's rows replace the index within
 * milliseconds of D1 being back.
 */
export async function recordOwners(d1: D1Database, tenantId: string, owner: Pick<HubOwner, 'kind' | 'id'>, ids: OwnedId[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    await recordOwnersStatement(d1, tenantId, owner, ids).run();
  } catch (error) {
    console.error(JSON.stringify({ msg: 'owner index write failed', tenant_id: tenantId, owner: ownerKey(owner), error: String(error) }));
  }
}

/**
 * The contact that holds each of these timeline entry ids: the index first (it knows ids the relay has
 * not brought yet, and names the first owner), then the query store (entries written before the index
 * existed). Ids that neither knows are absent.
 */
export async function entryOwners(d1: D1Database, tenantId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare(
      `SELECT id, substr(owner, 9) AS contact_id, 0 AS rank FROM id_owners
         WHERE tenant_id = ?1 AND kind = 'entry' AND id IN (SELECT value FROM json_each(?2)) AND owner LIKE 'contact:%'
       UNION ALL SELECT id, contact_id, 1 FROM contact_events WHERE tenant_id = ?1 AND id IN (SELECT value FROM json_each(?2))
       ORDER BY rank DESC`,
    )
    .bind(tenantId, JSON.stringify(ids))
    .all<{ id: string; contact_id: string }>();
  // Rank 1 rows come first, so that the index's answer (rank 0) overwrites them.
  return new Map(results.map((r) => [r.id, r.contact_id]));
}

/** The hubs the index names for these log event ids (events of hubs; events no hub owns have no row). */
export async function eventOwners(d1: D1Database, tenantId: string, ids: string[]): Promise<Map<string, HubOwner>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare(`SELECT id, owner FROM id_owners WHERE tenant_id = ?1 AND kind = 'event' AND id IN (SELECT value FROM json_each(?2))`)
    .bind(tenantId, JSON.stringify(ids))
    .all<{ id: string; owner: string }>();
  const out = new Map<string, HubOwner>();
  for (const r of results) {
    const owner = ownerFromKey(tenantId, r.owner);
    if (owner) out.set(r.id, owner);
  }
  return out;
}

/** Ids per statement of an erase: the JSON stays far under D1's limits however many ids a hub holds. */
const ERASE_CHUNK = 2_000;

/**
 * Erasing a hub's owner removes the rows of the ids it holds. Rows whose event or entry reached D1
 * leave with it (delete triggers, migrations/shard/0003_owner_rows_by_trigger.sql); these statements also take the ids that never got
 * there (a relay still pending, a record parked for D1). The table has no index by owner: each id
 * costs one row written at append time instead of two.
 */
export function deleteOwnedIdsStatements(d1: D1Database, tenantId: string, ids: OwnedId[]): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  for (const kind of ['event', 'entry'] as const) {
    const list = ids.filter((i) => i.kind === kind).map((i) => i.id);
    for (let i = 0; i < list.length; i += ERASE_CHUNK) {
      out.push(
        d1
          .prepare(`DELETE FROM id_owners WHERE tenant_id = ?1 AND kind = ?2 AND id IN (SELECT value FROM json_each(?3))`)
          .bind(tenantId, kind, JSON.stringify(list.slice(i, i + ERASE_CHUNK))),
      );
    }
  }
  return out;
}
