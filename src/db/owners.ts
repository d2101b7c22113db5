import type { HubOwner } from '../hub/types';
import { hubHashOfId, hubKeyHash } from '../domain/hub-ids';
import { bulkInsert } from './bulk';
import { idOwners } from './schema/core';

/**
 * The owner index (table id_owners): which hub holds a timeline entry id or a log event id. Ids that
 * hubs commit reach D1's own tables only through the relay, milliseconds later; routes that take only
 * an id would answer 404 in that window. The index row is written by the append's own request, in
 * parallel with the hub call and before the 2xx, so the very next request finds the hub. Events no hub
 * owns are committed to D1 directly and need no row.
 *
 * Ids the server chooses for a hub name it (src/domain/hub-ids.ts): they need no row here once the
 * hub's key is in `hub_keys` (one row per hub, registered by its first append; see registerHubKey).
 * The lookups below read both.
 */
export type IdKind = 'entry' | 'event';

export interface OwnedId {
  kind: IdKind;
  id: string;
}

export const ownerKey = (owner: Pick<HubOwner, 'kind' | 'id'>): string => `${owner.kind}:${owner.id}`;

/**
 * In SQL, the D1 `stream_id` of the hub an owner key names: ownerStreamId (src/hub/types.ts) of the
 * key's owner (`contact:<id>` → `contact-<id>`, `stream:<id>` → `<id>`); test/db/event-indexes.test.ts checks both.
 */
export const ownerStreamSql = (key: string): string => `(CASE WHEN ${key} LIKE 'contact:%' THEN 'contact-' || substr(${key}, 9) ELSE substr(${key}, 8) END)`;

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

/** Whether a hub's key is registered: `taken` when another hub of the tenant registered the same hash first. */
export type HubKeyState = 'registered' | 'taken';

/**
 * Registers the hub's key hash in `hub_keys` (first writer wins) and answers whether the row names this
 * hub. Ids that name a hub whose hash is taken get owner-index rows like client-chosen ids.
 */
export async function registerHubKey(d1: D1Database, tenantId: string, owner: Pick<HubOwner, 'kind' | 'id'>): Promise<HubKeyState> {
  const key = ownerKey(owner);
  const hash = await hubKeyHash(key);
  const [, found] = await d1.batch<{ owner: string }>([
    d1.prepare(`INSERT INTO hub_keys (tenant_id, hash, owner) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING`).bind(tenantId, hash, key),
    d1.prepare(`SELECT owner FROM hub_keys WHERE tenant_id = ?1 AND hash = ?2`).bind(tenantId, hash),
  ]);
  return found?.results[0]?.owner === key ? 'registered' : 'taken';
}

/** An erase's statement: the hub's key row goes with the rest of its owner's rows (only if it names this hub). */
export async function deleteHubKeyStatement(d1: D1Database, tenantId: string, owner: Pick<HubOwner, 'kind' | 'id'>): Promise<D1PreparedStatement> {
  const key = ownerKey(owner);
  return d1.prepare(`DELETE FROM hub_keys WHERE tenant_id = ?1 AND hash = ?2 AND owner = ?3`).bind(tenantId, await hubKeyHash(key), key);
}

/** The ids with the hub hash each carries, for the lookups' JSON parameter (ids of other forms carry none). */
const withHashes = (ids: string[]) => JSON.stringify(ids.flatMap((id) => {
  const hash = hubHashOfId(id);
  return hash ? [{ id, hash }] : [];
}));

/**
 * The contact that holds each of these timeline entry ids: the owner index first (it knows ids the relay
 * has not brought yet, and names the first owner), then the hub the id's hash names. Ids that neither
 * knows are absent. (contact_events has no index of ids: migrations/shard/0007 moved the ids it alone
 * knew into the owner index.)
 */
export async function entryOwners(d1: D1Database, tenantId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare(
      `SELECT id, substr(owner, 9) AS contact_id, 0 AS rank FROM id_owners
         WHERE tenant_id = ?1 AND kind = 'entry' AND id IN (SELECT value FROM json_each(?2)) AND owner LIKE 'contact:%'
       UNION ALL SELECT j.value->>'id', substr(k.owner, 9), 2 FROM json_each(?3) AS j
         JOIN hub_keys AS k ON k.tenant_id = ?1 AND k.hash = j.value->>'hash' AND k.owner LIKE 'contact:%'
       ORDER BY rank DESC`,
    )
    .bind(tenantId, JSON.stringify(ids), withHashes(ids))
    .all<{ id: string; contact_id: string }>();
  // The hub an id's hash names (rank 2) comes first, then the index (rank 0), which overwrites it: an
  // owner-index row is the first owner's claim.
  return new Map(results.map((r) => [r.id, r.contact_id]));
}

/**
 * The hubs that may hold these log event ids: the owner index's, else the hub the id's hash names (events
 * no hub owns have neither). Callers ask that hub, which knows whether it holds the id.
 */
export async function eventOwners(d1: D1Database, tenantId: string, ids: string[]): Promise<Map<string, HubOwner>> {
  if (ids.length === 0) return new Map();
  const { results } = await d1
    .prepare(
      `SELECT j.value->>'id' AS id, k.owner, 1 AS rank FROM json_each(?3) AS j JOIN hub_keys AS k ON k.tenant_id = ?1 AND k.hash = j.value->>'hash'
       UNION ALL SELECT id, owner, 0 FROM id_owners WHERE tenant_id = ?1 AND kind = 'event' AND id IN (SELECT value FROM json_each(?2))
       ORDER BY rank DESC`,
    )
    .bind(tenantId, JSON.stringify(ids), withHashes(ids))
    .all<{ id: string; owner: string }>();
  // An owner-index row (rank 0) overwrites the hub an id's hash names (rank 1).
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
