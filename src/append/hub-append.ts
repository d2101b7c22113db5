import { ownerKey, recordOwners, type OwnedId } from '../db/owners';
import { hubAddressedId, hubIdPrefix, hubKeyHash, namesHub } from '../domain/hub-ids';
import type { PreparedEntry, PreparedEvent } from '../domain/prepared';
import { timelineMappingFor } from '../domain/timeline-mapping';
import type { HubClient } from '../hub';
import type { AppendOutcome, HubOwner } from '../hub/types';

/*
 * The Worker's side of a hub's append: the ids it gives and what makes them work on the very next
 * request (docs/api.md "Read your writes"). An id the server chooses names the hub (src/domain/hub-ids.ts)
 * and costs nothing once the hub's key is registered; an id the client chose gets an owner-index row
 * (src/db/owners.ts), written alongside the hub's commit, before the answer.
 */

export interface Hub {
  stub: HubClient;
  owner: HubOwner;
}

/**
 * Gives the items whose id the server chooses ids that name this hub, and the timeline entry a
 * contact's event derives one too. Idempotent: items already addressed to this hub keep their ids.
 * Answers the prefix of the hub's ids (src/domain/hub-ids.ts hubIdPrefix).
 */
export async function addressToHub(owner: HubOwner, items: (PreparedEvent | PreparedEntry)[]): Promise<string> {
  const prefix = hubIdPrefix(await hubKeyHash(ownerKey(owner)));
  for (const item of items) {
    // A server-chosen id is always well formed: its prefix says it is addressed already.
    if (!item.idChosen && !item.id.startsWith(prefix)) item.id = hubAddressedId(prefix);
    if ('contact_id' in item && owner.kind === 'contact' && item.derivedEntryId === undefined && timelineMappingFor(item.event_type)) {
      item.derivedEntryId = hubAddressedId(prefix);
    }
  }
  return prefix;
}

/** The ids an append makes a hub hold: events' and the entries they derive, or entries. */
export function heldIds(items: (PreparedEvent | PreparedEntry)[]): OwnedId[] {
  return items.flatMap((i): OwnedId[] =>
    'contact_id' in i
      ? [{ kind: 'event', id: i.id }, ...(i.derivedEntryId ? [{ kind: 'entry' as const, id: i.derivedEntryId }] : [])]
      : [{ kind: 'entry', id: i.id }],
  );
}

/**
 * Runs the hub's append (`append`) with the owner index's part: rows for the ids that do not name the
 * hub, in parallel; then, on the hub's first append, the registration of its key. A key another hub of
 * the tenant registered first (a hash collision) or a registration that failed leaves the ids to the
 * owner index instead (the hub logs a failure; a failed call to the hub itself is the same case).
 * Failures of the owner index are logged, not thrown (recordOwners says why).
 */
export async function appendAtHub<T>(d1: D1Database, hub: Hub, items: (PreparedEvent | PreparedEntry)[], append: () => Promise<AppendOutcome<T>>): Promise<AppendOutcome<T>> {
  const { owner } = hub;
  const prefix = await addressToHub(owner, items);
  const ids = heldIds(items);
  const named = ids.filter((i) => namesHub(i.id, prefix));
  const [outcome] = await Promise.all([append(), recordOwners(d1, owner.tenantId, owner, ids.filter((i) => !namesHub(i.id, prefix)))]);
  if (!outcome.ok || !outcome.created || named.length === 0 || outcome.hub_key === 'registered') return outcome;
  const state = outcome.hub_key ?? (await hub.stub.registerHubKey(owner).catch(() => null));
  if (state !== 'registered') await recordOwners(d1, owner.tenantId, owner, named);
  return outcome;
}
