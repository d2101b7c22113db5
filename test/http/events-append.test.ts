import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';
import { written } from '../support/log';
import { expectProblem } from '../support/problem';

interface Ev {
  id: string;
  event_type: string;
  contact_id: string | null;
  sequence_number: number | null;
  metadata: Record<string, unknown>;
  payload: Record<string, unknown>;
  created_at: string;
  timestamp: string;
}

const post = (key: string, body: unknown, headers?: Record<string, string>) => call('POST', '/api/v1/events', { key, body, headers });
const postBatch = (key: string, events: unknown[], headers?: Record<string, string>) => call('POST', '/api/v1/events/batch', { key, body: { events }, headers });
const d1Rows = async (tenantId: string) =>
  (await (await shardOf(tenantId)).prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ?').bind(tenantId).first<{ n: number }>())!.n;
/** Waits until the hubs' relays have brought D1 to `n` rows for the tenant (and checks it stays there). */
async function settlesAt(tenantId: string, n: number) {
  await eventually(async () => (await d1Rows(tenantId)) === n);
  await new Promise((r) => setTimeout(r, 100));
  expect(await d1Rows(tenantId)).toBe(n);
}

describe('POST /events', () => {
  it('returns the event with id, timestamp and created_at; timestamp defaults to now', async () => {
    const t = await newTenant();
    const before = Date.now();
    const res = await post(t.key, { event_type: 'webhook.external_crm.contact_updated', source: 'webhook', payload: { webhook_id: 'wh_123' } });
    expect(res.status).toBe(201);
    const ev = await json<Ev & Record<string, unknown>>(res);
    expect(ev).toMatchObject({ event_type: 'webhook.external_crm.contact_updated', source: 'webhook', contact_id: null, payload: { webhook_id: 'wh_123' } });
    expect(ev.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(ev.timestamp)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(ev.created_at)).toBeGreaterThanOrEqual(Date.parse(ev.timestamp));
    const given = await json<Ev>(await post(t.key, { event_type: 'message.sent', source: 'system', timestamp: '2025-10-10T15:00:00+02:00' }));
    expect(given.timestamp).toBe('2025-10-10T13:00:00.000Z');
  });

  it('X-Correlation-ID fills metadata.correlation_id when the body has none; the body wins otherwise', async () => {
    const t = await newTenant();
    const a = await json<Ev>(await post(t.key, { event_type: 'message.sent', source: 'system' }, { 'x-correlation-id': 'saga-1' }));
    expect(a.metadata.correlation_id).toBe('saga-1');
    const b = await json<Ev>(await post(t.key, { event_type: 'message.sent', source: 'system', metadata: { correlation_id: 'own' } }, { 'x-correlation-id': 'saga-1' }));
    expect(b.metadata.correlation_id).toBe('own');
    const contact = uuid();
    const c = await json<Ev>(await post(t.key, { event_type: 'contact.created', source: 'system', contact_id: contact }, { 'x-correlation-id': 'saga-1' }));
    expect(c.metadata.correlation_id).toBe('saga-1');
    const batch = await json<{ events: Ev[] }>(await postBatch(t.key, [{ event_type: 'tag.added', source: 'manual' }, { event_type: 'tag.removed', source: 'manual', contact_id: contact }], { 'x-correlation-id': 'saga-1' }));
    expect(batch.events.map((e) => e.metadata.correlation_id)).toEqual(['saga-1', 'saga-1']);
    // The column is indexed and filterable.
    const list = await eventually(async () => {
      const page = await json<{ events: Ev[]; total: number }>(await call('GET', '/api/v1/events?correlation_id=saga-1&order=asc', { key: t.key }));
      return page.total === 4 && page;
    });
    expect(list.events.map((e) => e.id).sort()).toEqual([a.id, c.id, ...batch.events.map((e) => e.id)].sort());
  });
});

describe('idempotency: a replay returns the original (200), another body 409, never a second row', () => {
  for (const withContact of [false, true]) {
    const kind = withContact ? 'contact event (hub)' : 'event without contact (D1)';

    it(`client id, ${kind}`, async () => {
      const t = await newTenant();
      const contact = uuid();
      const body = { id: uuid(), event_type: 'message.sent', source: 'system', payload: { text: 'hi' }, ...(withContact ? { contact_id: contact } : {}) };
      const first = await post(t.key, body);
      expect(first.status).toBe(201);
      const original = await json<Ev>(first);
      expect(original.id).toBe(body.id);
      // Same body, keys in another order: still the same request.
      const replay = await post(t.key, Object.fromEntries(Object.entries(body).reverse()));
      expect(replay.status).toBe(200);
      expect(await json<Ev>(replay)).toEqual(original);
      const p = await expectProblem(await post(t.key, { ...body, payload: { text: 'changed' } }), 409);
      expect(p.detail).toContain(body.id);
      await settlesAt(t.id, 1);
      if (withContact) expect((await written(t.id, [contact])).hubs).toEqual([1]);
    });

    it(`Idempotency-Key, ${kind}`, async () => {
      const t = await newTenant();
      const contact = uuid();
      const body = { event_type: 'message.sent', source: 'system', payload: { text: 'hi' }, ...(withContact ? { contact_id: contact } : {}) };
      const key = { 'idempotency-key': `order-${uuid()}` };
      const first = await post(t.key, body, key);
      expect(first.status).toBe(201);
      const original = await json<Ev>(first);
      const replay = await post(t.key, body, key);
      expect(replay.status).toBe(200);
      expect(await json<Ev>(replay)).toEqual(original);
      await expectProblem(await post(t.key, { ...body, source: 'manual' }, key), 409);
      // Without the key the same body is a new event.
      expect((await post(t.key, body)).status).toBe(201);
      await settlesAt(t.id, 2);
      if (withContact) expect((await written(t.id, [contact])).hubs).toEqual([2]);
    });

    it(`Idempotency-Key on a batch, ${kind}`, async () => {
      const t = await newTenant();
      const contacts = [uuid(), uuid()];
      const events = Array.from({ length: 6 }, (_, i) => ({
        event_type: 'message.received',
        source: 'webhook',
        payload: { i },
        ...(withContact && i % 3 !== 2 ? { contact_id: contacts[i % 2] } : {}),
      }));
      const key = { 'idempotency-key': uuid() };
      const first = await postBatch(t.key, events, key);
      expect(first.status).toBe(201);
      const original = await json<{ events: Ev[] }>(first);
      expect(original.events.map((e) => e.payload.i)).toEqual([0, 1, 2, 3, 4, 5]);
      const replay = await postBatch(t.key, events, key);
      expect(replay.status).toBe(200);
      expect(await json<{ events: Ev[] }>(replay)).toEqual(original);
      // Any change under the same key is a conflict: an item edited, one dropped, one added.
      await expectProblem(await postBatch(t.key, events.map((e, i) => (i === 4 ? { ...e, payload: { i: 40 } } : e)), key), 409);
      await expectProblem(await postBatch(t.key, events.slice(0, 5), key), 409);
      await expectProblem(await postBatch(t.key, [...events, { event_type: 'tag.added', source: 'manual' }], key), 409);
      await settlesAt(t.id, 6);
      if (withContact) expect((await written(t.id, contacts)).hubs).toEqual([2, 2]);
    });
  }

  it('client ids on a batch over several contacts and none: replay 200, a changed item 409', async () => {
    const t = await newTenant();
    const contacts = [uuid(), uuid(), uuid()];
    const events = Array.from({ length: 9 }, (_, i) => ({ id: uuid(), event_type: 'note.added', source: 'manual', ...(i < 6 ? { contact_id: contacts[i % 3] } : {}) }));
    const first = await postBatch(t.key, events);
    expect(first.status).toBe(201);
    const original = await json<{ events: Ev[] }>(first);
    expect(original.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
    const replay = await postBatch(t.key, events);
    expect(replay.status).toBe(200);
    expect(await json<{ events: Ev[] }>(replay)).toEqual(original);
    await expectProblem(await postBatch(t.key, events.map((e, i) => (i === 7 ? { ...e, payload: { x: 1 } } : e))), 409);
    await settlesAt(t.id, 9);
    expect((await written(t.id, contacts)).hubs).toEqual([2, 2, 2]);
  });

  it('20 concurrent requests with one Idempotency-Key (no contact) make one row and all answer with it (the losers of the insert race replay)', async () => {
    const t = await newTenant();
    const body = { event_type: 'message.sent', source: 'system', payload: { n: 1 } };
    const key = { 'idempotency-key': uuid() };
    const results = await Promise.all(Array.from({ length: 20 }, () => post(t.key, body, key)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    const ids = new Set(await Promise.all(results.map(async (r) => (await json<Ev>(r)).id)));
    expect(ids.size).toBe(1);
    expect(await d1Rows(t.id)).toBe(1);
    expect((await written(t.id)).relay_outbox).toBeLessThanOrEqual(1);
    const [id] = [...ids];
    expect((await call('GET', `/api/v1/events/${id}`, { key: t.key })).status).toBe(200);
  });

  it('an id or key already used with another owner is a 409, not a second event', async () => {
    const t = await newTenant();
    const [a, b] = [uuid(), uuid()];
    // Key first used without a contact, then with one.
    const k1 = { 'idempotency-key': uuid() };
    expect((await post(t.key, { event_type: 'tag.added', source: 'manual' }, k1)).status).toBe(201);
    await expectProblem(await post(t.key, { event_type: 'tag.added', source: 'manual', contact_id: a }, k1), 409);
    // Key first used with contact a, then with contact b, then without a contact (once relayed to D1).
    const k2 = { 'idempotency-key': uuid() };
    expect((await post(t.key, { event_type: 'tag.added', source: 'manual', contact_id: a }, k2)).status).toBe(201);
    await settlesAt(t.id, 2);
    await expectProblem(await post(t.key, { event_type: 'tag.added', source: 'manual', contact_id: b }, k2), 409);
    await expectProblem(await post(t.key, { event_type: 'tag.added', source: 'manual' }, k2), 409);
    // A client id used with contact a, then with contact b.
    const id = uuid();
    expect((await post(t.key, { id, event_type: 'tag.added', source: 'manual', contact_id: a })).status).toBe(201);
    await settlesAt(t.id, 3);
    await expectProblem(await post(t.key, { id, event_type: 'tag.added', source: 'manual', contact_id: b }), 409);
    await expectProblem(await post(t.key, { id, event_type: 'tag.added', source: 'manual' }), 409);
    await settlesAt(t.id, 3);
    expect((await written(t.id, [a, b])).hubs).toEqual([2, 0]);
  });
});

describe('batch: all or nothing', () => {
  it('writes every item: hubs sequence their contacts, D1 gets them all, results in request order', async () => {
    const t = await newTenant();
    const contacts = [uuid(), uuid()];
    const events = Array.from({ length: 1000 }, (_, i) => ({ event_type: 'message.sent', source: 'system', payload: { i }, ...(i % 4 === 0 ? { contact_id: contacts[(i / 4) % 2] } : {}) }));
    const res = await postBatch(t.key, events);
    expect(res.status).toBe(201);
    const body = await json<{ events: Ev[] }>(res);
    expect(body.events.map((e) => e.payload.i)).toEqual(events.map((_, i) => i));
    const seqA = body.events.filter((e) => e.contact_id === contacts[0]).map((e) => e.sequence_number);
    expect(seqA).toEqual(Array.from({ length: 125 }, (_, i) => i + 1));
    await settlesAt(t.id, 1000);
    expect((await written(t.id, contacts)).hubs).toEqual([125, 125]);
  });

  it('a conflict in one item (no contact) writes nothing, in any hub or in D1', async () => {
    const t = await newTenant();
    const taken = uuid();
    expect((await post(t.key, { id: taken, event_type: 'tag.added', source: 'manual' })).status).toBe(201);
    const contacts = [uuid(), uuid()];
    const events = [
      { event_type: 'message.sent', source: 'system', contact_id: contacts[0] },
      { event_type: 'message.sent', source: 'system' },
      { event_type: 'message.sent', source: 'system', contact_id: contacts[1] },
      { id: taken, event_type: 'tag.removed', source: 'manual' },
    ];
    await expectProblem(await postBatch(t.key, events), 409);
    await new Promise((r) => setTimeout(r, 100));
    expect(await written(t.id, contacts)).toMatchObject({ events: 1, hubs: [0, 0] });
  });

  it('a conflict in one contact item writes nothing elsewhere', async () => {
    const t = await newTenant();
    const [a, b] = [uuid(), uuid()];
    const taken = uuid();
    expect((await post(t.key, { id: taken, event_type: 'tag.added', source: 'manual', contact_id: a })).status).toBe(201);
    await settlesAt(t.id, 1);
    const events = [
      { event_type: 'message.sent', source: 'system', contact_id: b },
      { event_type: 'message.sent', source: 'system' },
      { event_type: 'message.sent', source: 'system', contact_id: a },
      { id: taken, event_type: 'tag.removed', source: 'manual', contact_id: a },
    ];
    await expectProblem(await postBatch(t.key, events), 409);
    await new Promise((r) => setTimeout(r, 100));
    expect(await written(t.id, [a, b])).toMatchObject({ events: 1, hubs: [1, 0] });
  });
});
