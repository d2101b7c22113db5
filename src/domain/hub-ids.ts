/*
 * Ids that name their hub. The id the server chooses for a record a hub holds (a timeline entry, a log
 * event of a contact or of a stream) is a UUID of version 8 (RFC 9562's vendor-specific layout) whose
 * first 60 bits are a hash of the hub's owner key (`contact:<id>`, `stream:<id>`) and whose last 62
 * bits are random:
 *
 *   hhhhhhhh-hhhh-8hhh-Vrrr-rrrrrrrrrrrr   (h: hash, 8: version, V: variant 8–b, r: random)
 *
 * (A registered hub then puts the record's sequence number in the last 48 bits: `sequencedId` below.)
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

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
/** Random bytes drawn 4 KB at a time: a batch of 100 ids costs one call to the generator, not 100. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;

function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  let hex = '';
  for (let i = 0; i < bytes; i += 1) hex += HEX[pool[poolAt + i]!];
  poolAt += bytes;
  return hex;
}

/** What every id naming the hub whose key hashes to `hash` starts with. */
export function hubIdPrefix(hash: string): string {
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-8${hash.slice(12, 15)}-`;
}

/** Whether `id` names the hub whose ids start with `prefix` (hubIdPrefix). */
export function namesHub(id: string, prefix: string): boolean {
  return id.startsWith(prefix) && ADDRESSED.test(id);
}

/** A new id naming the hub whose ids start with `prefix` (hubIdPrefix). */
export function hubAddressedId(prefix: string): string {
  const tail = randomHex(8);
  // The variant (binary 10) takes the top two bits of the first random byte.
  const variant = (0x8 | (parseInt(tail[0]!, 16) & 0x3)).toString(16);
  return `${prefix}${variant}${tail.slice(1, 4)}-${tail.slice(4)}`;
}

const ADDRESSED = /^([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The hub hash an id carries, or null for an id of another form (a client's, a UUID v4). */
export function hubHashOfId(id: string): string | null {
  const m = ADDRESSED.exec(id);
  return m ? `${m[1]}${m[2]}${m[3]}` : null;
}

/*
 * The id a registered hub gives a record it sequences: the hash part of an addressed id, the record's
 * kind (an event and the entry it derives share their sequence number), 13 random bits and the
 * sequence number itself (48 bits):
 *
 *   hhhhhhhh-hhhh-8hhh-Vrrr-ssssssssssss   (V: variant 10, the kind bit, a random bit; s: the sequence number)
 *
 * The hub finds such an id by its sequence number, the key of its tables, with no index of ids: one row
 * written less per record (src/hub/record-ids.ts).
 */

export type RecordKind = 'event' | 'entry';

/** The highest sequence number an id can carry (12 hex digits). */
export const MAX_SEQUENCED = 2 ** 48 - 1;

/** `addressed` (an id naming the hub) with `seq` and `kind` in its last 64 bits. */
export function sequencedId(addressed: string, seq: number, kind: RecordKind): string {
  // Not a secret: the hub draws again when a stored id is the same (src/hub/record-ids.ts).
  const r = Math.floor(Math.random() * 0x2000);
  const variant = 0x8 | (kind === 'entry' ? 0x2 : 0) | (r >> 12);
  const random = (r & 0xfff).toString(16).padStart(3, '0');
  return `${addressed.slice(0, 19)}${variant.toString(16)}${random}-${seq.toString(16).padStart(12, '0')}`;
}

/** The sequence number an id carries if it is one of `sequencedId`'s (any addressed id reads as one). */
export function sequenceOfId(id: string): number | null {
  return ADDRESSED.test(id) ? parseInt(id.slice(24), 16) : null;
}
