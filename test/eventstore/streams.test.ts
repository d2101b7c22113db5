import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';

interface AppendResult {
  stream_id: string;
  version: number;
  created: boolean;
  events: { id: string; event_type: string; version: number; position: number | null }[];
}
interface Problem {
  status: number;
  type: string;
  current_version?: number;
  errors?: { path: string; message: string }[];
}

const append = (key: string, stream: string, body: unknown, headers?: Record<string, string>, query = '') =>
  call('POST', `/api/v1/streams/${stream}/events${query}`, { key, body, headers });

const ev = (event_type: string, payload: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ event_type, payload, ...extra });

async function d1Count(tenantId: string, streamId: string): Promise<number> {
  const row = await (await shardOf(tenantId)).prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ? AND stream_id = ?').bind(tenantId, streamId).first<{ n: number }>();
  return row?.n ?? 0;
}

describe('streams: append with expected version', () => {
  it('no_stream creates, then numbers follow; versions and positions come back', async () => {
    const t = await newTenant();
    const s = `campaign-${uuid()}`;
    const first = await append(t.key, s, { expected_version: 'no_stream', events: [ev('campaign.created', { name: 'Spring' }), ev('campaign.activated')] }, {}, '?wait=position');
    expect(first.status).toBe(201);
    const r1 = await json<AppendResult>(first);
    expect(r1.version).toBe(2);
    expect(r1.created).toBe(true);
    expect(r1.events.map((e) => e.version)).toEqual([1, 2]);
    expect(r1.events.every((e) => typeof e.position === 'number')).toBe(true);
    expect(r1.events[1]!.position!).toBeGreaterThan(r1.events[0]!.position!);

    const again = await append(t.key, s, { expected_version: 'no_stream', events: [ev('campaign.paused')] });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    const p = await json<Problem>(again);
    expect(p.current_version).toBe(2);
    expect(p.type).toContain('wrong-expected-version');

    const exact = await append(t.key, s, { expected_version: 2, events: [ev('campaign.paused')] });
    expect(exact.status).toBe(201);
    expect((await json<AppendResult>(exact)).version).toBe(3);
    const stale = await append(t.key, s, { expected_version: 2, events: [ev('campaign.resumed')] });
    expect(stale.status).toBe(409);
    expect((await json<Problem>(stale)).current_version).toBe(3);

    const exists = await append(t.key, s, { expected_version: 'stream_exists', events: [ev('campaign.resumed')] });
    expect(exists.status).toBe(201);
    const any = await append(t.key, s, { expected_version: 'any', events: [ev('campaign.completed')] });
    expect((await json<AppendResult>(any)).version).toBe(5);
    const dflt = await append(t.key, s, { events: [ev('campaign.archived')] });
    expect((await json<AppendResult>(dflt)).version).toBe(6);

    const missing = await append(t.key, `campaign-${uuid()}`, { expected_version: 'stream_exists', events: [ev('campaign.paused')] });
    expect(missing.status).toBe(409);
    expect((await json<Problem>(missing)).current_version).toBe(0);
    const wrongZero = await append(t.key, `campaign-${uuid()}`, { expected_version: 3, events: [ev('campaign.paused')] });
    expect((await json<Problem>(wrongZero)).current_version).toBe(0);
    const zero = await append(t.key, `campaign-${uuid()}`, { expected_version: 0, events: [ev('campaign.created')] });
    expect(zero.status).toBe(201);
  });

  it('concurrent appends with the same expected version: exactly one wins, the others get 409 with the current version', async () => {
    const t = await newTenant();
    const s = `order-${uuid()}`;
    await append(t.key, s, { expected_version: 'no_stream', events: [ev('order.placed')] });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => append(t.key, s, { expected_version: 1, events: [ev('order.updated', { i }), ev('order.updated', { i, second: true })] })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const r of results.filter((r) => r.status === 409)) expect((await json<Problem>(r)).current_version).toBe(3);
    const read = await json<{ version: number; events: unknown[] }>(await call('GET', `/api/v1/streams/${s}`, { key: t.key }));
    expect(read.version).toBe(3);
    expect(read.events).toHaveLength(3);
    await eventually(async () => (await d1Count(t.id, s)) === 3);
  });

  it('an idempotent retry returns the original result and writes nothing', async () => {
    const t = await newTenant();
    const s = `invoice-${uuid()}`;
    const body = { expected_version: 'no_stream', events: [ev('invoice.issued', { amount: 10 }, { id: uuid() }), ev('invoice.sent', {}, { id: uuid() })] };
    const first = await json<AppendResult>(await append(t.key, s, body, {}, '?wait=position'));
    const retry = await append(t.key, s, body);
    expect(retry.status).toBe(200);
    const again = await json<AppendResult>(retry);
    expect(again.created).toBe(false);
    expect(again.events).toEqual(first.events);
    expect(again.version).toBe(2);
    // The same ids with another body: a conflict, not a replay.
    const changed = await append(t.key, s, { ...body, events: [{ ...body.events[0], payload: { amount: 11 } }, body.events[1]] });
    expect(changed.status).toBe(409);
    // Idempotency-Key without ids.
    const keyed = { expected_version: 2, events: [ev('invoice.paid', { amount: 10 })] };
    const k1 = await json<AppendResult>(await append(t.key, s, keyed, { 'idempotency-key': 'pay-1' }));
    const k2 = await append(t.key, s, keyed, { 'idempotency-key': 'pay-1' });
    expect(k2.status).toBe(200);
    expect((await json<AppendResult>(k2)).events[0]!.id).toBe(k1.events[0]!.id);
    const read = await json<{ version: number }>(await call('GET', `/api/v1/streams/${s}/metadata`, { key: t.key }));
    expect(read.version).toBe(3);
    await eventually(async () => (await d1Count(t.id, s)) === 3);
  });

  it('contact streams go to the contact hub with contact_id set (versions shared with the timeline)', async () => {
    const t = await newTenant();
    const contact = uuid();
    const s = `contact-${contact}`;
    const r = await append(t.key, s, { expected_version: 'no_stream', events: [ev('contact.created', { name: 'Ada Lovelace' })] });
    expect(r.status).toBe(201);
    // A timeline entry created directly by the foundation API takes the next sequence number.
    const direct = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact } });
    expect((await json<{ sequence_number: number; stream_id: string }>(direct)).stream_id).toBe(s);
    const read = await json<{ version: number; events: { contact_id: string; sequence_number: number; event_type: string }[] }>(
      await call('GET', `/api/v1/streams/${s}`, { key: t.key }),
    );
    expect(read.version).toBe(2);
    expect(read.events.map((e) => [e.event_type, e.sequence_number, e.contact_id])).toEqual([
      ['contact.created', 1, contact],
      ['message.sent', 2, contact],
    ]);
    const stale = await append(t.key, s, { expected_version: 1, events: [ev('contact.name_changed', { name: 'Ada' })] });
    expect((await json<Problem>(stale)).current_version).toBe(2);
  });

  it('reads forward and backward in pages, and serves metadata', async () => {
    const t = await newTenant();
    const s = `ledger-${uuid()}`;
    await append(t.key, s, { events: Array.from({ length: 25 }, (_, i) => ev('ledger.posted', { i })) }, {}, '?wait=position');
    const p1 = await json<{ events: { sequence_number: number; version: number; position: number | null }[]; next_after: number }>(
      await call('GET', `/api/v1/streams/${s}?limit=10`, { key: t.key }),
    );
    expect(p1.events.map((e) => e.sequence_number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Reads of a stream carry its version (on every stream the same number as sequence_number).
    expect(p1.events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(p1.events.every((e) => typeof e.position === 'number')).toBe(true);
    expect(p1.next_after).toBe(10);
    const p2 = await json<{ events: { sequence_number: number }[]; next_after: number }>(
      await call('GET', `/api/v1/streams/${s}?after=${p1.next_after}&limit=10`, { key: t.key }),
    );
    expect(p2.events.map((e) => e.sequence_number)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const p3 = await json<{ events: { sequence_number: number }[]; next_after: number | null }>(
      await call('GET', `/api/v1/streams/${s}?after=20&limit=10`, { key: t.key }),
    );
    expect(p3.events.map((e) => e.sequence_number)).toEqual([21, 22, 23, 24, 25]);
    expect(p3.next_after).toBeNull();
    const back = await json<{ events: { sequence_number: number }[]; next_after: number }>(
      await call('GET', `/api/v1/streams/${s}?direction=backward&limit=3`, { key: t.key }),
    );
    expect(back.events.map((e) => e.sequence_number)).toEqual([25, 24, 23]);
    expect(back.next_after).toBe(23);
    const back2 = await json<{ events: { sequence_number: number }[] }>(
      await call('GET', `/api/v1/streams/${s}?direction=backward&after=${back.next_after}&limit=3`, { key: t.key }),
    );
    expect(back2.events.map((e) => e.sequence_number)).toEqual([22, 21, 20]);
    const meta = await json<Record<string, unknown>>(await call('GET', `/api/v1/streams/${s}/metadata`, { key: t.key }));
    expect(meta).toMatchObject({ stream_id: s, aggregate_type: 'ledger', version: 25, event_count: 25 });
    expect(typeof meta.first_event_at).toBe('string');
    expect(Date.parse(meta.last_event_at as string)).toBeGreaterThanOrEqual(Date.parse(meta.first_event_at as string));
    expect((await call('GET', `/api/v1/streams/ledger-${uuid()}`, { key: t.key })).status).toBe(404);
    expect((await call('GET', `/api/v1/streams/ledger-${uuid()}/metadata`, { key: t.key })).status).toBe(404);
  });

  it('propagates correlation and causation ids from headers into metadata', async () => {
    const t = await newTenant();
    const s = `saga-${uuid()}`;
    const r = await append(t.key, s, { events: [ev('saga.started'), ev('saga.step', {}, { metadata: { correlation_id: 'own', causation_id: 'x' } })] }, {
      'x-correlation-id': 'corr-1',
      'x-causation-id': 'cmd-1',
    });
    expect(r.status).toBe(201);
    const read = await json<{ events: { metadata: Record<string, unknown> }[] }>(await call('GET', `/api/v1/streams/${s}`, { key: t.key }));
    expect(read.events[0]!.metadata).toMatchObject({ correlation_id: 'corr-1', causation_id: 'cmd-1' });
    expect(read.events[1]!.metadata).toMatchObject({ correlation_id: 'own', causation_id: 'x' });
  });

  it('isolates tenants: the same stream id in two tenants is two streams', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const s = `campaign-${uuid()}`;
    await append(a.key, s, { events: [ev('campaign.created')] });
    expect((await call('GET', `/api/v1/streams/${s}`, { key: b.key })).status).toBe(404);
    const rb = await append(b.key, s, { expected_version: 'no_stream', events: [ev('campaign.created')] });
    expect(rb.status).toBe(201);
    expect((await json<AppendResult>(rb)).version).toBe(1);
    expect((await call('GET', `/api/v1/streams/${s}`, { key: a.key, headers: {} }).then((r) => json<{ version: number }>(r))).version).toBe(1);
    expect((await call('GET', `/api/v1/streams/${s}`)).status).toBe(401);
  });

  it('rejects bad input naming each field, and writes nothing', async () => {
    const t = await newTenant();
    const s = `campaign-${uuid()}`;
    const bad = await append(t.key, s, {
      expected_version: -1,
      events: [{ event_type: 'Bad Type', payload: 'x' }, { event_type: 'a.b', extra: 1 }],
    });
    expect(bad.status).toBe(422);
    const p = await json<Problem>(bad);
    const paths = p.errors!.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['expected_version', 'events.0.event_type', 'events.0.payload', 'events.1.extra']));
    const dup = uuid();
    const dupRes = await append(t.key, s, { events: [ev('a.b', {}, { id: dup }), ev('a.c', {}, { id: dup })] });
    expect(dupRes.status).toBe(422);
    expect((await json<Problem>(dupRes)).errors!.map((e) => e.path)).toEqual(['events.1.id']);
    const future = await append(t.key, s, { events: [ev('contact.created', {}, { schema_version: 3 })] });
    expect((await json<Problem>(future)).errors!.map((e) => e.path)).toEqual(['events.0.schema_version']);
    expect((await append(t.key, 'Campaign_x', { events: [ev('a.b')] })).status).toBe(422);
    expect((await append(t.key, 'contact-not-a-uuid', { events: [ev('a.b')] })).status).toBe(422);
    expect((await append(t.key, s, { events: [] })).status).toBe(422);
    expect((await call('GET', `/api/v1/streams/${s}?direction=sideways&limit=0`, { key: t.key })).status).toBe(422);
    expect((await call('GET', `/api/v1/streams/${s}`, { key: t.key })).status).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('documents the event-store routes', async () => {
    const doc = await json<{ paths: Record<string, unknown> }>(await call('GET', '/openapi.json'));
    for (const p of [
      '/api/v1/streams/{stream_id}/events',
      '/api/v1/streams/{stream_id}',
      '/api/v1/streams/{stream_id}/metadata',
      '/api/v1/streams/{stream_id}/snapshot',
      '/api/v1/log',
      '/api/v1/log/stream',
      '/api/v1/subscriptions',
      '/api/v1/subscriptions/{name}/events',
      '/api/v1/projections',
      '/api/v1/projections/{name}/rebuild',
      '/api/v1/contacts/{contact_id}',
      '/api/v1/contacts',
      '/api/v1/events/replay',
    ]) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
  });
});
