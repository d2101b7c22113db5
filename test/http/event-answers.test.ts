import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';
import { hookPath, hookUrl, waitForRequests } from '../support/receiver';
import { subscribe, verify } from '../support/webhooks';

// One shape for an event in every answer (docs/api.md "Positions", "Schema versions"): `position` is always
// present — the event's place in the tenant's log, or null while a hub's event has not reached the log
// (the answer to its own append) — and the payload is upcast to the latest schema version of its type,
// with `stored_schema_version` saying what was written. Webhook bodies carry the same shape.

interface Ev {
  id: string;
  event_type: string;
  contact_id: string | null;
  payload: Record<string, unknown>;
  schema_version: number;
  stored_schema_version: number;
  position: number | null;
}

const post = (t: Tenant, body: Record<string, unknown>) => call('POST', '/api/v1/events', { key: t.key, body: { source: 'system', ...body } });

/** Waits until the event is in the log (D1) and answers it as GET /events/{id} does. */
const settled = (t: Tenant, id: string) =>
  eventually(async () => {
    const e = await json<Ev>(await call('GET', `/api/v1/events/${id}`, { key: t.key }));
    return typeof e.position === 'number' && e;
  });

describe('positions: one rule for every answer', () => {
  it('POST /events: a number for an event no hub owns, null (present) for one naming a contact; reads then carry the number', async () => {
    const t = await newTenant();
    const direct = await json<Ev>(await post(t, { event_type: 'note.added' }));
    expect(direct.position).toBeTypeOf('number');
    const res = await post(t, { event_type: 'note.added', contact_id: uuid() });
    const raw = (await res.json()) as Record<string, unknown>;
    expect(Object.hasOwn(raw, 'position')).toBe(true);
    expect(raw.position).toBeNull();
    const later = await settled(t, raw.id as string);
    const log = await json<{ events: Ev[] }>(await call('GET', '/api/v1/log?after=0&limit=100', { key: t.key }));
    expect(log.events.find((e) => e.id === raw.id)!.position).toBe(later.position);
    expect(log.events.find((e) => e.id === direct.id)!.position).toBe(direct.position);
    const list = await json<{ events: Ev[] }>(await call('GET', '/api/v1/events', { key: t.key }));
    for (const e of list.events) expect(e.position).toBeTypeOf('number');
  });

  it('POST /events/batch: every item carries position, by the same rule; a replay answers what the log now holds', async () => {
    const t = await newTenant();
    const body = { events: [{ event_type: 'note.added', source: 'system' }, { event_type: 'note.added', source: 'system', contact_id: uuid() }] };
    const first = await json<{ events: Ev[] }>(await call('POST', '/api/v1/events/batch', { key: t.key, body, headers: { 'idempotency-key': 'k1' } }));
    expect(first.events.map((e) => (e.position === null ? 'null' : typeof e.position))).toEqual(['number', 'null']);
    await settled(t, first.events[1]!.id);
    const replay = await call('POST', '/api/v1/events/batch', { key: t.key, body, headers: { 'idempotency-key': 'k1' } });
    expect(replay.status).toBe(200);
    for (const e of (await json<{ events: Ev[] }>(replay)).events) expect(Object.hasOwn(e, 'position')).toBe(true);
  });

  it('stream appends: null until the log has the event, a number with ?wait=position', async () => {
    const t = await newTenant();
    const s = `campaign-${uuid()}`;
    const plain = await json<{ events: { position: number | null }[] }>(
      await call('POST', `/api/v1/streams/${s}/events`, { key: t.key, body: { events: [{ event_type: 'campaign.created' }] } }),
    );
    expect(plain.events[0]!.position).toBeNull();
    const waited = await json<{ events: { position: number | null }[] }>(
      await call('POST', `/api/v1/streams/${s}/events?wait=position`, { key: t.key, body: { events: [{ event_type: 'campaign.activated' }] } }),
    );
    expect(waited.events[0]!.position).toBeTypeOf('number');
  });
});

describe('schema versions: every read upcasts to the latest version', () => {
  it('contact.created written as v1 reads as v2 from POST, GET /events/{id}, GET /events, the export and /log alike', async () => {
    const t = await newTenant();
    const contact = uuid();
    const created = await json<Ev>(await post(t, { event_type: 'contact.created', contact_id: contact, payload: { name: 'Ada Lovelace', email: 'ada@example.com' } }));
    const v2 = { name: 'Ada Lovelace', first_name: 'Ada', last_name: 'Lovelace', email_address: 'ada@example.com', phone_number: null };
    expect(created).toMatchObject({ schema_version: 2, stored_schema_version: 1, payload: v2 });
    const one = await settled(t, created.id);
    expect(one).toMatchObject({ schema_version: 2, stored_schema_version: 1, payload: v2 });
    const list = await json<{ events: Ev[] }>(await call('GET', `/api/v1/events?contact_id=${contact}`, { key: t.key }));
    expect(list.events[0]).toMatchObject({ id: created.id, schema_version: 2, payload: v2 });
    const log = await json<{ events: Ev[] }>(await call('GET', '/api/v1/log?after=0', { key: t.key }));
    expect(log.events[0]).toMatchObject({ id: created.id, schema_version: 2, stored_schema_version: 1, payload: v2 });
    const ndjson = await (await call('GET', `/api/v1/events/export?contact_id=${contact}`, { key: t.key })).text();
    expect(JSON.parse(ndjson.trim())).toMatchObject({ id: created.id, schema_version: 2, payload: v2 });
  });

  it('the webhook body of a v1 contact.created carries the v2 payload and a position field (real receiver)', async () => {
    const t = await newTenant();
    const path = hookPath('upcast');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['contact.created'] });
    const contact = uuid();
    const created = await json<Ev>(await post(t, { event_type: 'contact.created', contact_id: contact, payload: { name: 'Grace Hopper' } }));
    const [req] = await waitForRequests(path, 1);
    const body = verify(sub.secret, req!);
    expect(body.data).toMatchObject({ id: created.id, schema_version: 2, stored_schema_version: 1, payload: { first_name: 'Grace', last_name: 'Hopper' } });
    expect(Object.hasOwn(body.data, 'position')).toBe(true);
  });
});
