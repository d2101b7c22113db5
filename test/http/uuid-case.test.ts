import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, type Tenant, shardOf } from '../support/api';

interface Entry {
  id: string;
  contact_id: string;
  session_id: string | null;
  sequence_number: number;
}

const entry = (over: Record<string, unknown> = {}) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: 'a note', ...over });

async function addEntry(t: Tenant, contact: string, over: Record<string, unknown> = {}): Promise<Entry> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry(over) });
  expect(res.status).toBe(201);
  return json<Entry>(res);
}

const timeline = async (t: Tenant, contact: string) =>
  (await json<{ events: Entry[] }>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }))).events;

describe('UUIDs are canonical (lower case) at the edge', () => {
  it('a contact written with its UUID in capitals is the same contact: one hub, one timeline, one erase', async () => {
    const t = await newTenant();
    const lower = uuid();
    const upper = lower.toUpperCase();
    const session = uuid();
    const entryId = uuid();

    const a = await addEntry(t, upper, { id: entryId.toUpperCase(), session_id: session.toUpperCase() });
    expect(a).toMatchObject({ id: entryId, contact_id: lower, session_id: session, sequence_number: 1 });
    const b = await addEntry(t, lower);
    expect(b.sequence_number).toBe(2);
    const ev = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'message.sent', source: 'system', contact_id: upper, session_id: session.toUpperCase(), message_id: uuid().toUpperCase() },
    });
    expect(ev.status).toBe(201);
    const event = await json<{ id: string; contact_id: string; session_id: string; message_id: string; sequence_number: number }>(ev);
    expect(event).toMatchObject({ contact_id: lower, session_id: session, sequence_number: 3 });
    expect(event.message_id).toBe(event.message_id.toLowerCase());

    expect((await timeline(t, upper)).map((e) => e.sequence_number)).toEqual((await timeline(t, lower)).map((e) => e.sequence_number));
    expect((await timeline(t, lower)).length).toBeGreaterThanOrEqual(2);
    // Paths and query strings: the entry by its id in capitals, the log filtered by the contact in capitals.
    expect((await call('GET', `/api/v1/contact-events/${entryId.toUpperCase()}?contact_id=${upper}`, { key: t.key })).status).toBe(200);
    const found = await eventually(async () => {
      const r = await json<{ events: { id: string }[] }>(await call('GET', `/api/v1/events?contact_id=${upper}`, { key: t.key }));
      return r.events.length === 1 ? r.events : undefined;
    });
    expect(found[0]!.id).toBe(event.id);
    expect((await call('GET', `/api/v1/events/${event.id.toUpperCase()}`, { key: t.key })).status).toBe(200);
    const sessionPage = await eventually(async () => {
      const r = await json<{ events: Entry[] }>(await call('GET', `/api/v1/sessions/${session.toUpperCase()}/events`, { key: t.key }));
      return r.events.length >= 1 ? r.events : undefined;
    });
    expect(sessionPage.map((e) => e.id)).toContain(entryId);
    // The contact's stream, named with the UUID in capitals, is the same stream.
    const stream = await json<{ version: number }>(await call('GET', `/api/v1/streams/contact-${upper}/metadata`, { key: t.key }));
    expect(stream.version).toBe(3);

    // Erased with lower case, everything written in capitals goes.
    await eventually(async () => {
      const n = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>();
      return n!.n >= 2;
    });
    const erased = await json<{ removed: { hub_entries: number; events: number; contact_events: number } }>(
      await call('DELETE', `/api/v1/contacts/${lower}`, { key: t.key }),
    );
    expect(erased.removed.hub_entries).toBeGreaterThanOrEqual(2);
    expect(erased.removed.events).toBe(1);
    const left = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND lower(contact_id) = ?`).bind(t.id, lower).first<{ n: number }>();
    expect(left!.n).toBe(0);
    expect(await timeline(t, upper)).toEqual([]);
  });

  it('and the other way round: written in lower case, erased in capitals', async () => {
    const t = await newTenant();
    const lower = uuid();
    await addEntry(t, lower);
    await addEntry(t, lower);
    const res = await call('DELETE', `/api/v1/contacts/${lower.toUpperCase()}`, { key: t.key });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ contact_id: lower, removed: { hub_entries: 2 }, sequence_number: 2 });
    expect(await timeline(t, lower)).toEqual([]);
  });

  it('a malformed UUID is still a 422 naming the field', async () => {
    const t = await newTenant();
    const res = await call('POST', `/api/v1/contacts/${uuid()}/events`, { key: t.key, body: entry({ session_id: 'NOT-A-UUID' }) });
    expect(res.status).toBe(422);
    expect(JSON.stringify(await json(res))).toContain('session_id');
  });
});
