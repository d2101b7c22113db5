import { describe, expect, it } from 'vitest';
import { MAX_SEQUENCED, hubAddressedId, hubHashOfId, hubIdPrefix, hubKeyHash, namesHub, sequenceOfId, sequencedId } from '../../src/domain/hub-ids';
import { Uuid } from '../../src/domain/schemas/common';

// The id layouts of src/domain/hub-ids.ts: what the hub finds its records by must read back exactly.

describe('sequenced ids', () => {
  it('carry the hub hash, the kind bit and the sequence number, and stay RFC 9562 version 8 UUIDs, up to the largest number', async () => {
    const hash = await hubKeyHash('contact:someone');
    const addressed = hubAddressedId(hubIdPrefix(hash));
    const seqs = [1, 2, 255, 256, 65_535, 2 ** 32, 2 ** 40 + 7, MAX_SEQUENCED, ...Array.from({ length: 200 }, () => 1 + Math.floor(Math.random() * MAX_SEQUENCED))];
    for (const seq of seqs) {
      const event = sequencedId(addressed, seq, 'event');
      const entry = sequencedId(addressed, seq, 'entry');
      for (const id of [event, entry]) {
        expect(Uuid.safeParse(id).success, id).toBe(true);
        expect(id[14]).toBe('8');
        expect(hubHashOfId(id)).toBe(hash);
        expect(namesHub(id, hubIdPrefix(hash))).toBe(true);
        expect(sequenceOfId(id)).toBe(seq);
      }
      // The kind bit: events have variant digit 8 or 9, entries a or b, so the two never coincide.
      expect('89').toContain(event[19]);
      expect('ab').toContain(entry[19]);
    }
  });

  it('the ids a hub is addressed by are well formed, name only their hub, and read as no sequence number of another form', async () => {
    const prefix = hubIdPrefix(await hubKeyHash('stream:order-42'));
    const other = hubIdPrefix(await hubKeyHash('stream:order-43'));
    const ids = Array.from({ length: 500 }, () => hubAddressedId(prefix));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(Uuid.safeParse(id).success, id).toBe(true);
      expect('89ab').toContain(id[19]);
      expect(namesHub(id, prefix)).toBe(true);
      expect(namesHub(id, other)).toBe(false);
    }
    const v4 = crypto.randomUUID();
    expect(namesHub(v4, prefix)).toBe(false);
    expect(sequenceOfId(v4)).toBeNull();
    expect(sequenceOfId('not-an-id')).toBeNull();
    // A prefix alone is not an id.
    expect(namesHub(`${prefix}8000-00000000000g`, prefix)).toBe(false);
  });
});
