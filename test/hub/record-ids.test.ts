import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { hubHashOfId, hubKeyHash, sequenceOfId } from '../../src/domain/hub-ids';
import { Uuid } from '../../src/domain/schemas/common';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import type { TimelineStore } from '../../src/hub/timeline-store';
import { call, json, newTenant, uuid, type Tenant } from '../support/api';

// A registered hub finds the ids it gives by their sequence number (src/hub/record-ids.ts): its log and
// timeline tables have no index of ids, one row written less per record; every other id has a row in
// hub_ids. Each test below fails without the rule it names.

type Entry = { id: string; sequence_number: number; read?: boolean };
const note = (over: Record<string, unknown> = {}) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: 'a note', ...over });

async function addEntry(t: Tenant, contact: string, over: Record<string, unknown> = {}): Promise<Entry> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: note(over) });
  expect(res.status).toBe(201);
  return json<Entry>(res);
}

const inHub = <T>(t: Tenant, contact: string, fn: (sql: SqlStorage, hub: StreamHub) => T) =>
  runInDurableObject(contactHubStub(env, t.id, contact), (hub: StreamHub, state) => fn(state.storage.sql, hub));

const hubIds = (t: Tenant, contact: string) =>
  inHub(t, contact, (sql) => sql.exec<{ kind: string; id: string; seq: number }>(`SELECT kind, id, seq FROM hub_ids ORDER BY seq`).toArray());

/** The hub relays nothing from now on: what the routes find comes from the hub alone. */
const stallRelay = (t: Tenant, contact: string) => inHub(t, contact, (_sql, hub) => hub.testHooks.stallRelay());

const get = async (t: Tenant, id: string) => {
  const res = await call('GET', `/api/v1/contact-events/${id}`, { key: t.key });
  return res.status === 200 ? json<Entry>(res) : res.status;
};

describe('ids a hub finds by their sequence number', () => {
  it('a registered hub gives ids carrying the sequence number, stores no index of ids, and finds, reads, marks and deletes by them', async () => {
    const t = await newTenant();
    const contact = uuid();
    // The first append comes before the hub's key is registered: its id keeps a hub_ids row.
    const first = await addEntry(t, contact);
    await stallRelay(t, contact);
    const entries = [await addEntry(t, contact), await addEntry(t, contact)];
    const event = await json<{ id: string }>(await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'note.added', source: 'manual', contact_id: contact } }));
    const hash = await hubKeyHash(`contact:${contact}`);
    for (const e of entries) {
      expect(Uuid.safeParse(e.id).success).toBe(true);
      expect(hubHashOfId(e.id)).toBe(hash);
      expect(sequenceOfId(e.id)).toBe(e.sequence_number);
    }
    expect(sequenceOfId(event.id)).toBe(4);
    const derived = await inHub(t, contact, (_sql, hub) => (hub as unknown as { timeline: TimelineStore }).timeline.derivedFrom(event.id));
    // The event and the entry it derives share the number; the kind bit tells them apart.
    expect(derived?.id).not.toBe(event.id);
    expect(sequenceOfId(derived!.id)).toBe(4);

    const indexes = await inHub(t, contact, (sql) =>
      sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('log', 'timeline') AND sql IS NULL`).toArray(),
    );
    expect(indexes).toEqual([]);
    expect(await hubIds(t, contact)).toEqual([{ kind: 'entry', id: first.id, seq: 1 }]);

    for (const e of [first, ...entries]) expect(await get(t, e.id)).toMatchObject({ id: e.id, sequence_number: e.sequence_number });
    expect(await get(t, derived!.id)).toMatchObject({ id: derived!.id, origin_event_id: event.id });
    expect((await call('GET', `/api/v1/events/${event.id}`, { key: t.key })).status).toBe(200);
    expect((await call('POST', `/api/v1/contact-events/${entries[0]!.id}/mark-read`, { key: t.key })).status).toBe(200);
    expect(await get(t, entries[0]!.id)).toMatchObject({ read: true });
    expect(await get(t, entries[1]!.id)).toMatchObject({ read: false });

    // A deleted entry is gone, its hub_ids row with it; an evicted instance finds the rest the same way.
    expect((await call('DELETE', `/api/v1/contact-events/${first.id}`, { key: t.key })).status).toBe(204);
    expect((await call('DELETE', `/api/v1/contact-events/${entries[1]!.id}`, { key: t.key })).status).toBe(204);
    expect(await hubIds(t, contact)).toEqual([]);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    expect(await get(t, first.id)).toBe(404);
    expect(await get(t, entries[1]!.id)).toBe(404);
    expect(await get(t, entries[0]!.id)).toMatchObject({ id: entries[0]!.id, read: true });
  });

  it("a client's id keeps a hub_ids row, replays by it, and is never taken for the record whose number it carries", async () => {
    const t = await newTenant();
    const contact = uuid();
    await addEntry(t, contact);
    const given = await addEntry(t, contact, { title: 'given' });
    // A client id of the same form with the given entry's number: another id, so another entry.
    const lookalike = `${given.id.slice(0, 20)}${given.id[20] === '0' ? '1' : '0'}${given.id.slice(21)}`;
    expect(sequenceOfId(lookalike)).toBe(given.sequence_number);
    const chosen = await addEntry(t, contact, { id: lookalike, title: 'chosen' });
    expect(chosen).toMatchObject({ id: lookalike, sequence_number: given.sequence_number + 1 });
    const plain = await addEntry(t, contact, { id: uuid(), title: 'plain' });
    expect((await hubIds(t, contact)).filter((r) => r.seq > 1)).toEqual([
      { kind: 'entry', id: lookalike, seq: chosen.sequence_number },
      { kind: 'entry', id: plain.id, seq: plain.sequence_number },
    ]);
    expect(await get(t, given.id)).toMatchObject({ title: 'given' });
    expect(await get(t, lookalike)).toMatchObject({ title: 'chosen' });
    // The same id again is a replay of the client's entry (same body), or a conflict (another body).
    const replay = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: note({ id: lookalike, title: 'chosen' }) });
    expect(replay.status).toBe(200);
    expect(await json<Entry>(replay)).toMatchObject({ id: lookalike, sequence_number: chosen.sequence_number });
    expect((await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: note({ id: lookalike, title: 'other' }) })).status).toBe(409);
  });

  it('an id the hub would give that a client already holds is drawn again, alone or in a batch', async () => {
    const t = await newTenant();
    const contact = uuid();
    const last = await addEntry(t, contact);
    // The second entry of a batch of three.
    const next = last.sequence_number + 2;
    // Every id an entry numbered `next` can be given, bar one, is already a client's.
    const left = await inHub(t, contact, (sql) => {
      const prefix = last.id.slice(0, 19);
      const tail = next.toString(16).padStart(12, '0');
      const all: string[] = [];
      for (const v of ['a', 'b']) for (let r = 0; r < 4096; r++) all.push(`${prefix}${v}${r.toString(16).padStart(3, '0')}-${tail}`);
      const keep = all[Math.floor(Math.random() * all.length)]!;
      for (const id of all) if (id !== keep) sql.exec(`INSERT INTO hub_ids (kind, id, seq) VALUES ('entry', ?, 1000000)`, id);
      return keep;
    });
    const res = await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events: [note(), note(), note()] } });
    expect(res.status).toBe(201);
    const { events } = await json<{ events: Entry[] }>(res);
    expect(events[1]).toMatchObject({ id: left, sequence_number: next });
    expect(new Set(events.map((e) => sequenceOfId(e.id)))).toEqual(new Set([next - 1, next, next + 1]));
    expect(await get(t, left)).toMatchObject({ sequence_number: next });
  });
});
