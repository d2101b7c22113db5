/*
 * Ids that name their hub. The id the server chooses for a record a hub holds (a timeline entry, a log
 * event of a contact or of a stream) is a UUID of version 8 (RFC 9562's vendor-specific layout) whose
 * first 60 bits are a hash of the hub's owner key (`contact:<id>`, `stream:<id>`) and whose last 62
 * bits are random:
 *
 *   hhhhhhhh-hhhh-8hhh-Vrrr-rrrrrrrrrrrr   (h: hash, 8: version, V: variant 8–b, r: random)
 *
 * A route that takes only an id reads the hash back and finds the hub in the shard's `hub_keys` table,
 * which holds one row per hub (written by its first append), instead of one owner-index row per id
 * (src/db/owners.ts). Ids chosen by clients stay whatever they are and keep their owner-index row.
 */

const HASH_HEX = 15;

/** The 60-bit hash (15 hex digits) of an owner key: the first bits of its SHA-256. */
export async function hubKeyHash(ownerKey: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(ownerKey)));
  let hex = '';
  for (let i = 0; i < 8; i += 1) hex += digest[i]!.toString(16).padStart(2, '0');
  return hex.slice(0, HASH_HEX);
}

/** A new id naming the hub whose key hashes to `hash`. */
export function hubAddressedId(hash: string): string {
  const r = crypto.getRandomValues(new Uint8Array(8));
  // The variant (binary 10) takes the top two bits of the first random byte.
  r[0] = 0x80 | (r[0]! & 0x3f);
  let tail = '';
  for (const b of r) tail += b.toString(16).padStart(2, '0');
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-8${hash.slice(12, 15)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}

const ADDRESSED = /^([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The hub hash an id carries, or null for an id of another form (a client's, a UUID v4). */
export function hubHashOfId(id: string): string | null {
  const m = ADDRESSED.exec(id);
  return m ? `${m[1]}${m[2]}${m[3]}` : null;
}
