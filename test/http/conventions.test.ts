import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, type Tenant, shardOf } from '../support/api';
import { expectProblem, fieldPaths } from '../support/problem';
import { hookPath, hookUrl } from '../support/receiver';

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };


async function entry(t: Tenant, contact: string, over: Record<string, unknown> = {}): Promise<{ id: string; sequence_number: number }> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, {
    key: t.key,
    body: { event_type: 'note_added', category: 'note', source: 'agent', title: 'Refund note', is_realtime: true, ...over },
  });
  expect(res.status).toBe(201);
  return json(res);
}

describe('unknown query parameters: one rule on every route', () => {
  it('answers 422 naming each unknown parameter, on reads, writes, admin and health alike', async () => {
    const t = await newTenant();
    const contact = uuid();
    const e = await entry(t, contact);
    const cases: [string, string, Record<string, string>, string[]][] = [
      ['GET', '/api/v1/events?event_type=x', {}, ['query.event_type']],
      // Before, an unknown parameter on /events/{id} was silently ignored: now it is named.
      ['GET', `/api/v1/events/${uuid()}?contact_id=${contact}`, {}, ['query.contact_id']],
      ['GET', '/api/v1/webhooks?foo=1&bar=2', {}, ['query.bar', 'query.foo']],
      ['GET', `/api/v1/contacts/${contact}/events?since=2025-10-01`, {}, ['query.since']],
      ['GET', '/api/v1/contact-events?start=2025-10-01&since=2025-10-01', {}, ['query.since', 'query.start']],
      ['GET', '/api/v1/log?from=1', {}, ['query.from']],
      ['GET', '/api/v1/streams/order-1?from_version=1', {}, ['query.from_version']],
      ['GET', '/api/v1/admin/tenants?all=true', admin, ['query.all']],
      ['GET', '/api/v1/health?verbose=1', {}, ['query.verbose']],
      ['POST', `/api/v1/contact-events/${e.id}/mark-read?now=1`, {}, ['query.now']],
    ];
    for (const [method, path, headers, expected] of cases) {
      // The admin route authenticates with the admin token instead of the tenant's key.
      const res = await call(method, path, path.includes('/admin/') ? { headers } : { key: t.key, headers });
      const p = await expectProblem(res, 422);
      expect(fieldPaths(p), `${method} ${path}`).toEqual(expected);
      expect(p.errors!.every((x) => x.message === 'is not a known field')).toBe(true);
    }
    // The entry was not marked read by the refused request.
    const got = await json<{ read: boolean }>(await call('GET', `/api/v1/contact-events/${e.id}?contact_id=${contact}`, { key: t.key }));
    expect(got.read).toBe(false);
  });

  it('a refused append writes nothing; declared parameters still pass', async () => {
    const t = await newTenant();
    const body = { event_type: 'tag.added', source: 'manual' };
    const p = await expectProblem(await call('POST', '/api/v1/events?dry_run=true', { key: t.key, body }), 422);
    expect(fieldPaths(p)).toEqual(['query.dry_run']);
    expect(p.detail).toMatch(/dry_run/);
    const n = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ?').bind(t.id).first<{ n: number }>();
    expect(n!.n).toBe(0);
    expect((await call('GET', '/api/v1/events?limit=5&order=asc', { key: t.key })).status).toBe(200);
    expect((await call('POST', '/api/v1/streams/order-7/events?wait=position', { key: t.key, body: { events: [{ event_type: 'order.placed' }] } })).status).toBe(201);
  });
});

describe('POSTs that take no body', () => {
  it('accept an empty JSON body and {} on every such route', async () => {
    const t = await newTenant();
    const contact = uuid();
    const sub = await json<{ id: string }>(await call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'x', url: hookUrl(hookPath()), events: ['*'] } }));
    await call('POST', '/api/v1/subscriptions', { key: t.key, body: { name: 'etl' } });
    await call('POST', '/api/v1/subscriptions/etl/pause', { key: t.key });
    for (const body of ['', '{}']) {
      const e = await entry(t, contact);
      const test = await call('POST', `/api/v1/webhooks/${sub.id}/test`, { key: t.key, body, headers: JSON_TYPE });
      expect(test.status, `test ${JSON.stringify(body)}`).toBe(200);
      const delivery = (await json<{ delivery: { id: string } }>(test)).delivery.id;
      const routes: [string, number[]][] = [
        [`/api/v1/contact-events/${e.id}/mark-read?contact_id=${contact}`, [200]],
        [`/api/v1/contact-events/${e.id}/mark-delivered?contact_id=${contact}`, [200]],
        [`/api/v1/webhooks/${sub.id}/rotate-secret`, [200]],
        [`/api/v1/webhooks/${sub.id}/recover?from=2020-01-01`, [202]],
        [`/api/v1/webhook-deliveries/${delivery}/redeliver`, [202]],
        [`/api/v1/subscriptions/etl/resume`, [200]],
        [`/api/v1/subscriptions/etl/pause`, [200]],
        // The second round finds the first rebuild still running: a 409, not a complaint about the body.
        ['/api/v1/projections/contacts/rebuild', [202, 409]],
      ];
      for (const [path, statuses] of routes) {
        const res = await call('POST', path, { key: t.key, body, headers: JSON_TYPE });
        expect(statuses, `${path} with ${JSON.stringify(body)}: ${res.status} ${await res.clone().text()}`).toContain(res.status);
      }
    }
  });

  it('a route that needs a body still refuses an empty one; an optional body reads as {}', async () => {
    const t = await newTenant();
    const empty = await expectProblem(await call('POST', '/api/v1/events', { key: t.key, body: '', headers: JSON_TYPE }), 400);
    expect(empty.errors).toEqual([{ path: '(body)', message: 'is empty' }]);
    // Without a content type the schema names what is missing.
    const none = await expectProblem(await call('POST', '/api/v1/events', { key: t.key }), 422);
    expect(fieldPaths(none)).toEqual(['event_type', 'source']);
    const key = await call('POST', `/api/v1/admin/tenants/${t.id}/keys`, { headers: { ...admin, ...JSON_TYPE }, body: '' });
    expect(key.status).toBe(201);
    expect((await json<{ name: string }>(key)).name).toBe('key');
  });
});

describe('/openapi.json: one name per path parameter', () => {
  it('names every path parameter after its resource and declares each template once', async () => {
    const doc = await json<{ paths: Record<string, unknown> }>(await call('GET', '/openapi.json'));
    const templates = Object.keys(doc.paths);
    const shapes = templates.map((p) => p.replace(/\{[^}]+\}/g, '{}'));
    expect(shapes.filter((s, i) => shapes.indexOf(s) !== i)).toEqual([]);
    const names = new Set(templates.flatMap((p) => [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)));
    expect([...names].filter((n) => !/_id$/.test(n) && n !== 'name' && n !== 'key')).toEqual([]);
    expect(names).toContain('entry_id');
    expect(names).toContain('webhook_id');
    expect(names).toContain('delivery_id');
    expect(names).not.toContain('id');
  });
});

/** Walks a list with limit=1, following next_cursor; returns every item's id in order. */
async function walk(t: Tenant | { headers: Record<string, string> }, path: string, field: string, idOf: (x: Record<string, unknown>) => string = (x) => x.id as string) {
  const opts = 'key' in t ? { key: t.key } : { headers: t.headers };
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 500; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await call('GET', `${path}${sep}limit=1${cursor ? `&cursor=${cursor}` : ''}`, opts);
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
    const page = await json<Record<string, unknown>>(res);
    const items = page[field] as Record<string, unknown>[];
    expect(items.length).toBeLessThanOrEqual(1);
    seen.push(...items.map(idOf));
    expect(page).toHaveProperty('next_cursor');
    cursor = page.next_cursor as string | null;
    if (cursor === null) return seen;
  }
  throw new Error(`${path}: no last page`);
}

describe('lists page one way: limit, cursor, next_cursor', () => {
  it('webhooks, subscriptions, projections, tenants and API keys', async () => {
    const t = await newTenant();
    const hooks = [];
    for (let i = 0; i < 3; i += 1) hooks.push((await json<{ id: string }>(await call('POST', '/api/v1/webhooks', { key: t.key, body: { name: `h${i}`, url: hookUrl(hookPath()), events: ['*'] } }))).id);
    expect((await walk(t, '/api/v1/webhooks', 'webhooks')).sort()).toEqual([...hooks].sort());

    for (const name of ['c-sub', 'a-sub', 'b-sub']) await call('POST', '/api/v1/subscriptions', { key: t.key, body: { name } });
    const subs = await walk(t, '/api/v1/subscriptions', 'subscriptions', (s) => s.name as string);
    expect(subs.filter((n) => n.endsWith('-sub'))).toEqual(['a-sub', 'b-sub', 'c-sub']);
    expect(new Set(subs).size).toBe(subs.length);

    expect(await walk(t, '/api/v1/projections', 'projections', (p) => p.name as string)).toEqual(['contacts']);

    for (const name of ['k1', 'k2']) await call('POST', `/api/v1/admin/tenants/${t.id}/keys`, { headers: admin, body: { name } });
    const keys = await walk({ headers: admin }, `/api/v1/admin/tenants/${t.id}/keys`, 'keys');
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(3);
    const tenants = await walk({ headers: admin }, '/api/v1/admin/tenants', 'tenants');
    expect(tenants).toContain(t.id);
    expect(new Set(tenants).size).toBe(tenants.length);
  });

  it('the timeline lists: per contact (with total/offset), tenant-wide, a session, search, undelivered', async () => {
    const t = await newTenant();
    const contact = uuid();
    const session = uuid();
    const made: string[] = [];
    for (let i = 0; i < 3; i += 1) made.push((await entry(t, contact, { session_id: session, description: `payment reminder ${i}` })).id);
    const newestFirst = [...made].reverse();

    expect(await walk(t, `/api/v1/contacts/${contact}/events`, 'events')).toEqual(newestFirst);
    const first = await json<{ total: number; offset: number; next_cursor: string }>(await call('GET', `/api/v1/contacts/${contact}/events?limit=2`, { key: t.key }));
    expect(first).toMatchObject({ total: 3, offset: 0 });
    const second = await json<{ total: number; offset: number; next_cursor: string | null }>(
      await call('GET', `/api/v1/contacts/${contact}/events?limit=2&cursor=${first.next_cursor}`, { key: t.key }),
    );
    expect(second).toMatchObject({ total: 3, offset: 2, next_cursor: null });
    const both = await expectProblem(await call('GET', `/api/v1/contacts/${contact}/events?offset=1&cursor=${first.next_cursor}`, { key: t.key }), 422);
    expect(fieldPaths(both)).toEqual(['query.offset']);

    expect(await walk(t, `/api/v1/contact-events/undelivered?contact_id=${contact}`, 'events')).toEqual(made);
    expect(await walk(t, `/api/v1/sessions/${session}/events?contact_id=${contact}`, 'events')).toEqual(made);
    // The D1 lists, once the relay has carried the entries there.
    await eventually(async () => (await json<{ events: unknown[] }>(await call('GET', '/api/v1/contact-events', { key: t.key }))).events.length === 3);
    expect(await walk(t, '/api/v1/contact-events', 'events')).toEqual(newestFirst);
    expect(await walk(t, `/api/v1/sessions/${session}/events`, 'events')).toEqual(made);
    expect((await walk(t, '/api/v1/contact-events/search?q=payment', 'events')).sort()).toEqual([...made].sort());
  });

  it('the contacts read model, and cursors are checked', async () => {
    const t = await newTenant();
    const contacts = [uuid(), uuid(), uuid()];
    for (const c of contacts) await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'contact.created', source: 'system', contact_id: c, payload: { name: 'Ada' } } });
    await eventually(async () => (await json<{ contacts: unknown[] }>(await call('GET', '/api/v1/contacts', { key: t.key }))).contacts.length === 3, { timeoutMs: 10_000 });
    expect(await walk(t, '/api/v1/contacts', 'contacts', (c) => c.contact_id as string)).toEqual([...contacts].sort());

    const hook = await json<{ id: string }>(await call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'h', url: hookUrl(hookPath()), events: ['*'] } }));
    await call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'h2', url: hookUrl(hookPath()), events: ['*'] } });
    const webhooksCursor = (await json<{ next_cursor: string }>(await call('GET', '/api/v1/webhooks?limit=1', { key: t.key }))).next_cursor;
    expect(webhooksCursor).toEqual(expect.any(String));
    // A cursor of one list is refused by another, and a made-up one by any.
    for (const path of [`/api/v1/contacts?cursor=${webhooksCursor}`, `/api/v1/webhooks/${hook.id}/deliveries?cursor=${webhooksCursor}`, '/api/v1/webhooks?cursor=bm90LWEtY3Vyc29y', '/api/v1/subscriptions?cursor=%21%21']) {
      expect(fieldPaths(await expectProblem(await call('GET', path, { key: t.key }), 422)), path).toEqual(['query.cursor']);
    }
  });

  it('subscription batches read ahead with after and answer next_after', async () => {
    const t = await newTenant();
    await call('POST', '/api/v1/streams/ledger-1/events?wait=position', { key: t.key, body: { events: Array.from({ length: 5 }, (_, i) => ({ event_type: 'ledger.posted', payload: { i } })) } });
    await call('POST', '/api/v1/subscriptions', { key: t.key, body: { name: 'reader' } });
    type Batch = { checkpoint: number; events: { payload: { i: number } }[]; next_after: number };
    const a = await json<Batch>(await call('GET', '/api/v1/subscriptions/reader/events?limit=2', { key: t.key }));
    expect(a.events.map((e) => e.payload.i)).toEqual([0, 1]);
    const b = await json<Batch>(await call('GET', `/api/v1/subscriptions/reader/events?limit=2&after=${a.next_after}`, { key: t.key }));
    expect(b.events.map((e) => e.payload.i)).toEqual([2, 3]);
    expect(b.checkpoint).toBe(0); // reading ahead does not move the checkpoint
  });
});
