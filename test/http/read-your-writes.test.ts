import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import { DAY_MS } from '../../src/domain/time';
import { runRetention } from '../../src/jobs/retention';
import type { StreamHub } from '../../src/hub/hub';
import { call, eventually, json, newTenant, uuid, type Tenant , shardOf } from '../support/api';
import { outbox } from '../support/relay';

// Guarantee 10: an id returned by a 2xx works on every route that takes it, on the very next request.
// Every round below uses the id on the request right after the one that returned it, without a retry;
// the relay brings rows to D1 tens of milliseconds after the answer, so a route that waited for it
// would answer 404 in nearly every round.

const ROUNDS = 10;

interface Entry {
  id: string;
  contact_id: string;
}
interface Ev {
  id: string;
  contact_id: string | null;
  position: number | null;
}

const newEntry = (t: Tenant, contact: string, body: Record<string, unknown> = {}) =>
  call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: { event_type: 'note_added', category: 'note', source: 'agent', title: 'n', ...body } });

async function createdEntry(t: Tenant, contact: string): Promise<Entry> {
  const res = await newEntry(t, contact);
  expect(res.status).toBe(201);
  return json<Entry>(res);
}

async function createdEvent(t: Tenant, body: Record<string, unknown>): Promise<Ev> {
  const res = await call('POST', '/api/v1/events', { key: t.key, body: { source: 'system', ...body } });
  expect(res.status).toBe(201);
  return json<Ev>(res);
}

const entryRoutes = {
  get: (t: Tenant, id: string) => call('GET', `/api/v1/contact-events/${id}`, { key: t.key }),
  'mark-read': (t: Tenant, id: string) => call('POST', `/api/v1/contact-events/${id}/mark-read`, { key: t.key }),
  'mark-delivered': (t: Tenant, id: string) => call('POST', `/api/v1/contact-events/${id}/mark-delivered`, { key: t.key }),
  delete: (t: Tenant, id: string) => call('DELETE', `/api/v1/contact-events/${id}`, { key: t.key }),
} as const;
const okStatus = { get: 200, 'mark-read': 200, 'mark-delivered': 200, delete: 204 } as const;

const getEvent = (t: Tenant, id: string) => call('GET', `/api/v1/events/${id}`, { key: t.key });

/** Makes the relay of this contact's hub fail to reach D1 (queues still work): nothing it commits gets to D1's tables. */
async function cutRelayToD1(stub: DurableObjectStub<StreamHub>): Promise<void> {
  await runInDurableObject(stub, (hub: StreamHub) => {
    hub.sink.writeD1 = async () => {
      throw new Error('injected: D1 unavailable to the relay');
    };
  });
}

// Every query here names the tenant first.
const d1Count = async (sql: string, tenantId: string, ...args: string[]) => (await (await shardOf(tenantId)).prepare(sql).bind(tenantId, ...args).first<{ n: number }>())!.n;

describe('read your writes: timeline entry ids', () => {
  for (const route of Object.keys(entryRoutes) as (keyof typeof entryRoutes)[]) {
    it(`POST /contacts/{id}/events → ${route} on the next request, ${ROUNDS} rounds`, async () => {
      const t = await newTenant();
      const contact = uuid();
      for (let i = 0; i < ROUNDS; i++) {
        const e = await createdEntry(t, contact);
        const res = await entryRoutes[route](t, e.id);
        expect(res.status, `round ${i}`).toBe(okStatus[route]);
      }
    });
  }

  it(`one entry through every route in a row, right after its 201, ${ROUNDS} rounds`, async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < ROUNDS; i++) {
      const e = await createdEntry(t, contact);
      const got = await entryRoutes.get(t, e.id);
      expect(got.status, `round ${i}`).toBe(200);
      expect((await json<Entry>(got)).id).toBe(e.id);
      expect((await entryRoutes['mark-read'](t, e.id)).status).toBe(200);
      expect((await entryRoutes['mark-delivered'](t, e.id)).status).toBe(200);
      expect((await entryRoutes.delete(t, e.id)).status).toBe(204);
      // Deleted now: 404 means it does not exist.
      expect((await entryRoutes.get(t, e.id)).status).toBe(404);
    }
  });

  it(`batch-created entries (client-chosen and generated ids) → GET and mark-read, ${ROUNDS} rounds`, async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < ROUNDS; i++) {
      const res = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
        key: t.key,
        body: { events: [{ id: uuid(), event_type: 'note_added', category: 'note', source: 'agent' }, { event_type: 'tag_added', category: 'tag', source: 'agent' }] },
      });
      expect(res.status).toBe(201);
      const { events } = await json<{ events: Entry[] }>(res);
      expect((await entryRoutes.get(t, events[1]!.id)).status, `round ${i}`).toBe(200);
      expect((await entryRoutes['mark-read'](t, events[0]!.id)).status, `round ${i}`).toBe(200);
    }
  });

  it(`the entry a log event derives → GET /contact-events/{id}, ${ROUNDS} rounds`, async () => {
    const t = await newTenant();
    for (let i = 0; i < ROUNDS; i++) {
      const contact = uuid();
      await createdEvent(t, { event_type: 'contact.created', contact_id: contact, payload: { name: 'Ada' } });
      // The hub's timeline read is a 2xx that returns the derived entry's id.
      const page = await json<{ events: Entry[] }>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
      const derived = page.events[0]!;
      expect((await entryRoutes.get(t, derived.id)).status, `round ${i}`).toBe(200);
    }
  });
});

describe('read your writes: log event ids', () => {
  it(`POST /events naming a contact → GET /events/{id}, ${ROUNDS} rounds`, async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < ROUNDS; i++) {
      const e = await createdEvent(t, { event_type: 'note.added', contact_id: contact, payload: { i } });
      const res = await getEvent(t, e.id);
      expect(res.status, `round ${i}`).toBe(200);
      expect(await json<Ev>(res)).toMatchObject({ id: e.id, contact_id: contact });
    }
  });

  it(`POST /events/batch over contacts and none → GET /events/{id} of each, ${ROUNDS} rounds`, async () => {
    const t = await newTenant();
    for (let i = 0; i < ROUNDS; i++) {
      const res = await call('POST', '/api/v1/events/batch', {
        key: t.key,
        body: { events: [{ event_type: 'note.added', source: 'system', contact_id: uuid() }, { event_type: 'note.added', source: 'system' }, { id: uuid(), event_type: 'tag.added', source: 'system', contact_id: uuid() }] },
      });
      expect(res.status).toBe(201);
      const { events } = await json<{ events: Ev[] }>(res);
      for (const e of events) expect((await getEvent(t, e.id)).status, `round ${i}`).toBe(200);
    }
  });

  it(`stream appends (a contact stream and another aggregate) → GET /events/{id}, ${ROUNDS} rounds`, async () => {
    const t = await newTenant();
    const streams = [`contact-${uuid()}`, `campaign-${uuid()}`];
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of streams) {
        const res = await call('POST', `/api/v1/streams/${s}/events`, { key: t.key, body: { events: [{ event_type: 'note.added' }] } });
        expect(res.status).toBe(201);
        const { events } = await json<{ events: { id: string }[] }>(res);
        const got = await getEvent(t, events[0]!.id);
        expect(got.status, `round ${i} ${s}`).toBe(200);
        expect((await json<{ stream_id: string }>(got)).stream_id).toBe(s);
      }
    }
  });
});

describe('read your writes does not depend on the relay', () => {
  it('every id works while the hub cannot relay to D1 at all; an unknown id is still 404', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stub = contactHubStub(env, t.id, contact);
    await cutRelayToD1(stub);
    const entry = await createdEntry(t, contact);
    for (const route of ['get', 'mark-read', 'mark-delivered'] as const) expect((await entryRoutes[route](t, entry.id)).status, route).toBe(okStatus[route]);
    const event = await createdEvent(t, { event_type: 'contact.created', contact_id: contact });
    const got = await getEvent(t, event.id);
    expect(got.status).toBe(200);
    // Not in the log yet, and the answer says so.
    expect((await json<Ev>(got)).position).toBeNull();
    const page = await json<{ events: Entry[] }>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
    for (const e of page.events) expect((await entryRoutes.get(t, e.id)).status).toBe(200);
    expect((await entryRoutes.delete(t, entry.id)).status).toBe(204);
    expect(await d1Count('SELECT count(*) AS n FROM events WHERE tenant_id = ?', t.id)).toBe(0);
    expect(await d1Count('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ?', t.id)).toBe(0);
    // What does not exist is a 404 on every route.
    expect((await getEvent(t, uuid())).status).toBe(404);
    for (const route of Object.keys(entryRoutes) as (keyof typeof entryRoutes)[]) expect((await entryRoutes[route](t, uuid())).status, route).toBe(404);
  });

  it("a client-chosen id that another contact's hub holds is refused before the relay brings it (entries and events)", async () => {
    const t = await newTenant();
    const [a, b] = [uuid(), uuid()];
    await cutRelayToD1(contactHubStub(env, t.id, a));
    const entryId = uuid();
    expect((await newEntry(t, a, { id: entryId })).status).toBe(201);
    const foreign = await newEntry(t, b, { id: entryId });
    expect(foreign.status).toBe(409);
    const eventId = uuid();
    await createdEvent(t, { id: eventId, event_type: 'note.added', contact_id: a });
    const other = await call('POST', '/api/v1/events', { key: t.key, body: { id: eventId, event_type: 'note.added', source: 'system', contact_id: b } });
    expect(other.status).toBe(409);
    const direct = await call('POST', '/api/v1/events', { key: t.key, body: { id: eventId, event_type: 'note.added', source: 'system' } });
    expect(direct.status).toBe(409);
    // The same id for the same owner is still a replay.
    const replay = await newEntry(t, a, { id: entryId });
    expect(replay.status).toBe(200);
  });

  it("erasing a contact removes its hub key and owner index rows; its ids are then 404", async () => {
    const t = await newTenant();
    const contact = uuid();
    const entry = await createdEntry(t, contact);
    const event = await createdEvent(t, { event_type: 'contact.created', contact_id: contact });
    const chosen = await json<Entry>(await newEntry(t, contact, { id: uuid() }));
    expect(await d1Count('SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?', t.id)).toBe(1);
    expect(await d1Count('SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?', t.id)).toBe(1);
    expect((await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(200);
    expect(await d1Count('SELECT count(*) AS n FROM hub_keys WHERE tenant_id = ?', t.id)).toBe(0);
    expect(await d1Count('SELECT count(*) AS n FROM id_owners WHERE tenant_id = ?', t.id)).toBe(0);
    expect((await entryRoutes.get(t, chosen.id)).status).toBe(404);
    expect((await entryRoutes.get(t, entry.id)).status).toBe(404);
    expect((await getEvent(t, event.id)).status).toBe(404);
  });

  it('an event archived by retention: GET /events/{id} answers 404 for it, as for any event no longer in the log, though its hub still holds it', async () => {
    const t = await newTenant();
    const now = Date.now();
    expect((await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 30 } })).status).toBe(200);
    const contact = uuid();
    const old = await createdEvent(t, { event_type: 'note.added', contact_id: contact, timestamp: new Date(now - 45 * DAY_MS).toISOString() });
    await eventually(async () => (await d1Count('SELECT count(*) AS n FROM events WHERE tenant_id = ? AND id = ?', t.id, old.id)) === 1);
    // The hub has taken note that D1 has it (until then it still answers for the event).
    await eventually(async () => (await outbox(contactHubStub(env, t.id, contact))).pending === 0);
    expect((await runRetention(env, { now, tenantIds: [t.id] })).archived).toBe(1);
    expect((await getEvent(t, old.id)).status).toBe(404);
  });
});
