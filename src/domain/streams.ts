/**
 * Stream ids are `<aggregate_type>-<aggregate_id>` (KurrentDB's convention): the type is lowercase
 * `[a-z][a-z0-9_]*`, the id anything of `[A-Za-z0-9_.:-]` after the first dash. `contact-<uuid>` is
 * the contact's own stream, owned by its StreamHub; every other stream gets a hub of its own.
 */
export const STREAM_ID_PATTERN = /^([a-z][a-z0-9_]{0,63})-([A-Za-z0-9_.:-]{1,200})$/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type StreamRef = { streamId: string; aggregateType: string; aggregateId: string; contactId: string | null };

/** Parses a stream id; null when it is malformed (including a `contact-` stream whose id is not a UUID). */
export function parseStreamId(streamId: string): StreamRef | null {
  const m = STREAM_ID_PATTERN.exec(streamId);
  if (!m) return null;
  const aggregateType = m[1]!;
  const aggregateId = m[2]!;
  if (aggregateType === 'contact') {
    if (!UUID.test(aggregateId)) return null;
    // Lower case, like every UUID at the edge (schemas/common Uuid), so that `contact-A1B2…` and
    // contact_id `a1b2…` on POST /events reach the same hub.
    const contactId = aggregateId.toLowerCase();
    return { streamId: `contact-${contactId}`, aggregateType, aggregateId: contactId, contactId };
  }
  return { streamId, aggregateType, aggregateId, contactId: null };
}
