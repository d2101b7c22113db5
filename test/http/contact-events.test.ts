import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/contact-hub';
import type { ContactHub } from '../../src/contact-hub/hub';
import type { ContactEventRecord } from '../../src/domain/schemas/contact-events';
import { call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';

interface Page {
  events: ContactEventRecord[];
  total: number;
  page: number;
  limit: number;
}
interface Problem {
  type: string;
  status: number;
  errors?: { path: string; message: string }[];
}

const entry = (over: Record<string, unknown> = {}) => ({
  event_type: 'note_added',
  category: 'note',
  source: 'agent',
  title: 'Note Added',
  description: 'Customer wants a refund',
  ...over,
});

async function add(t: Tenant, contact: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<ContactEventRecord> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body, ...(headers ? { headers } : {}) });
  expect(res.status).toBe(201);
  return json<ContactEventRecord>(res);
}

const d1Entry = (tenantId: string, id: string) =>
  env.DB.prepare('SELECT * FROM contact_events WHERE tenant_id = ? AND id = ?').bind(tenantId, id).first<Record<string, unknown>>();
const d1Count = async (tenantId: string, contact: string) =>
  (await env.DB.prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind(tenantId, contact).first<{ n: number }>())!.n;
const hubCount = async (t: Tenant, contact: string) =>
  (await json<{ count: number }>(await call('GET', `/api/v1/contacts/${contact}/events/count?include_expired=true`, { key: t.key }))).count;

async function expectProblem(res: Response, status: number, paths: string[] = []): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = await json<Problem>(res);
  expect(body.status).toBe(status);
  const got = (body.errors ?? []).map((e) => e.path);
  for (const p of paths) expect(got).toContain(p);
  return body;
}

const iso = (ms: number) => new Date(ms).toISOString();
const DAY = 86_400_000;

describe('contact timeline: appends', () => {
  it('creates an entry with every seed field, numbered by the contact hub, and relays it to D1', async () => {
    const t = await newTenant();
    const contact = uuid();
    const session = uuid();
    const agent = uuid();
    const occurred = '2025-10-10T14:35:00.000Z';
    const expires = iso(Date.now() + DAY);
    const body = {
      event_type: 'pipeline_stage_changed',
      category: 'pipeline',
      priority: 'high',
      source: 'agent',
      session_id: session,
      title: 'Pipeline Stage Changed',
      description: 'Contact moved from Lead to Qualified',
      payload: { old_status: 'Lead', new_status: 'Qualified' },
      metadata: { ui: 'board' },
      triggered_by: agent,
      integration_source: 'hubspot',
      is_realtime: true,
      visible_to_client: true,
      visible_to_agent: true,
      expires_at: expires,
      occurred_at: occurred,
    };
    const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body });
    expect(res.status).toBe(201);
    const e = await json<ContactEventRecord>(res);
    expect(e).toMatchObject({ ...body, contact_id: contact, sequence_number: 1, delivered: false, read: false, origin_event_id: null });
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);

    const second = await add(t, contact, entry());
    expect(second.sequence_number).toBe(2);
    expect(second).toMatchObject({ priority: 'normal', is_realtime: false, visible_to_client: false, visible_to_agent: true, expires_at: null });

    const row = await eventually(() => d1Entry(t.id, e.id));
    expect(row).toMatchObject({ contact_id: contact, sequence_number: 1, category: 'pipeline', priority: 'high', session_id: session, triggered_by: agent });
    expect(row.occurred_at).toBe(Date.parse(occurred));
  });

  it('appends a batch all or nothing with consecutive numbers after log events of the same contact', async () => {
    const t = await newTenant();
    const contact = uuid();
    const log = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact } });
    expect(await json<{ sequence_number: number }>(log)).toMatchObject({ sequence_number: 1 });
    const res = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
      key: t.key,
      body: { events: Array.from({ length: 25 }, (_, i) => entry({ title: `n${i}` })) },
    });
    expect(res.status).toBe(201);
    const { events } = await json<{ events: ContactEventRecord[] }>(res);
    expect(events.map((e) => e.sequence_number)).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
    expect(events.map((e) => e.title)).toEqual(Array.from({ length: 25 }, (_, i) => `n${i}`));
    await eventually(async () => (await d1Count(t.id, contact)) === 25);
  });

  it('accepts 1,000 entries in one batch and refuses 1,001 without writing', async () => {
    const t = await newTenant();
    const contact = uuid();
    const tooMany = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
      key: t.key,
      body: { events: Array.from({ length: 1001 }, () => entry({ description: undefined })) },
    });
    await expectProblem(tooMany, 422, ['events']);
    expect(await hubCount(t, contact)).toBe(0);
    const ok = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
      key: t.key,
      body: { events: Array.from({ length: 1000 }, () => entry({ description: undefined })) },
    });
    expect(ok.status).toBe(201);
    const { events } = await json<{ events: ContactEventRecord[] }>(ok);
    expect(events[999]!.sequence_number).toBe(1000);
    await eventually(async () => (await d1Count(t.id, contact)) === 1000, { timeoutMs: 10_000 });
  });
});

describe('contact timeline: idempotency', () => {
  it('replays a request with the same Idempotency-Key and body, and refuses another body', async () => {
    const t = await newTenant();
    const contact = uuid();
    const headers = { 'idempotency-key': 'note-1' };
    const first = await add(t, contact, entry(), headers);
    const again = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry(), headers });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(first);
    const other = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry({ title: 'changed' }), headers });
    await expectProblem(other, 409);
    expect(await hubCount(t, contact)).toBe(1);
  });

  it('replays a client-chosen id, a batch with the same key, and refuses an id another contact holds', async () => {
    const t = await newTenant();
    const contact = uuid();
    const id = uuid();
    const first = await add(t, contact, entry({ id }));
    const again = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry({ id }) });
    expect(again.status).toBe(200);
    expect((await json<ContactEventRecord>(again)).sequence_number).toBe(first.sequence_number);

    const batch = { events: [entry({ title: 'a' }), entry({ title: 'b' })] };
    const headers = { 'idempotency-key': 'batch-1' };
    const b1 = await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: batch, headers });
    expect(b1.status).toBe(201);
    const b2 = await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: batch, headers });
    expect(b2.status).toBe(200);
    expect(await json(b2)).toEqual(await json(b1));
    expect(await hubCount(t, contact)).toBe(3);

    await eventually(() => d1Entry(t.id, id));
    const elsewhere = uuid();
    await expectProblem(await call('POST', `/api/v1/contacts/${elsewhere}/events`, { key: t.key, body: entry({ id }) }), 409);
    expect(await hubCount(t, elsewhere)).toBe(0);
  });
});

describe('contact timeline: bad input writes nothing', () => {
  it('names each bad field of a single append', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', `/api/v1/contacts/${contact}/events`, {
      key: t.key,
      body: { event_type: 'Bad Type', category: 'gossip', priority: 'meh', source: 'oracle', expires_at: 'tomorrow', is_realtime: 'yes', colour: 'red' },
    });
    await expectProblem(res, 422, ['event_type', 'category', 'priority', 'source', 'expires_at', 'is_realtime', 'colour']);
    const missing = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: { title: 'x' } });
    await expectProblem(missing, 422, ['event_type', 'category', 'source']);
    await expectProblem(await call('POST', `/api/v1/contacts/not-a-uuid/events`, { key: t.key, body: entry() }), 422, ['param.contact_id']);
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: '{"event_type":' }), 400);
    await expectProblem(
      await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: JSON.stringify(entry()), headers: { 'content-type': 'text/plain' } }),
      415,
    );
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events`, { body: entry() }), 401);
    expect(await hubCount(t, contact)).toBe(0);
    expect(await d1Count(t.id, contact)).toBe(0);
  });

  it('refuses a whole batch when one item is bad or ids repeat', async () => {
    const t = await newTenant();
    const contact = uuid();
    const events = Array.from({ length: 5 }, () => entry());
    events[3] = entry({ category: 'nope' });
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events } }), 422, ['events.3.category']);
    const id = uuid();
    await expectProblem(
      await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events: [entry({ id }), entry(), entry({ id })] } }),
      422,
      ['events.2.id'],
    );
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events: [] } }), 422, ['events']);
    expect(await hubCount(t, contact)).toBe(0);
  });

  it('names bad query parameters', async () => {
    const t = await newTenant();
    const contact = uuid();
    await expectProblem(
      await call('GET', `/api/v1/contacts/${contact}/events?limit=0&offset=-1&visible_to=everyone&category=x&after_sequence=a&include_expired=maybe`, { key: t.key }),
      422,
      ['query.limit', 'query.offset', 'query.visible_to', 'query.category', 'query.after_sequence', 'query.include_expired'],
    );
    await expectProblem(await call('GET', '/api/v1/contact-events?from=yesterday', { key: t.key }), 422, ['query.from']);
    await expectProblem(await call('GET', '/api/v1/contact-events/search?q=%22%2A%28%29', { key: t.key }), 422, ['query.q']);
    await expectProblem(await call('GET', '/api/v1/contact-events/search', { key: t.key }), 422, ['query.q']);
    await expectProblem(await call('GET', '/api/v1/contact-events/undelivered', { key: t.key }), 422, ['query.contact_id']);
    await expectProblem(await call('GET', `/api/v1/contacts/${contact}/events/export?format=pdf`, { key: t.key }), 422, ['query.format']);
    await expectProblem(await call('GET', '/api/v1/contact-events/123', { key: t.key }), 422, ['param.entry_id']);
  });
});

describe('contact timeline: reads', () => {
  it('lists newest first with the seed shape, filters and pages', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact, entry({ event_type: 'tag_added', category: 'tag', title: 'Tag Added', visible_to_client: true }));
    await add(t, contact, entry({ event_type: 'note_added', category: 'note' }));
    await add(t, contact, entry({ event_type: 'agent_assigned', category: 'assignment', title: 'Agent Assigned', visible_to_agent: false, visible_to_client: true }));
    await add(t, contact, entry({ event_type: 'note_added', category: 'note', title: 'Second note' }));

    const all = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
    expect(all.total).toBe(4);
    expect(all.page).toBe(1);
    expect(all.events.map((e) => e.sequence_number)).toEqual([4, 3, 2, 1]);

    const paged = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?limit=2&offset=2`, { key: t.key }));
    expect(paged).toMatchObject({ total: 4, page: 2, limit: 2 });
    expect(paged.events.map((e) => e.sequence_number)).toEqual([2, 1]);

    const client = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?visible_to=client`, { key: t.key }));
    expect(client.events.map((e) => e.sequence_number)).toEqual([3, 1]);
    const agent = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?visible_to=agent`, { key: t.key }));
    expect(agent.events.map((e) => e.sequence_number)).toEqual([4, 2, 1]);
    const notes = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?category=note`, { key: t.key }));
    expect(notes.events.map((e) => e.sequence_number)).toEqual([4, 2]);
    const tags = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?type=tag_added`, { key: t.key }));
    expect(tags.events.map((e) => e.sequence_number)).toEqual([1]);
    const after = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?after_sequence=2`, { key: t.key }));
    expect(after.events.map((e) => e.sequence_number)).toEqual([4, 3]);

    const count = await json<{ count: number }>(await call('GET', `/api/v1/contacts/${contact}/events/count`, { key: t.key }));
    expect(count).toEqual({ contact_id: contact, count: 4 });
  });

  it('gets one entry by id (D1 lookup or contact_id hint), lists a session, tenant-wide and by search', async () => {
    const t = await newTenant();
    const contact = uuid();
    const other = uuid();
    const session = uuid();
    const started = await add(t, contact, entry({ event_type: 'session_started', category: 'session', title: 'Session Started', session_id: session, occurred_at: '2025-10-10T14:30:00Z' }));
    const assigned = await add(t, contact, entry({ event_type: 'agent_assigned', category: 'assignment', title: 'Agent Assigned', description: 'John Doe assigned', session_id: session, occurred_at: '2025-10-10T14:31:00Z' }));
    const reminder = await add(t, other, entry({ event_type: 'notification_sent', category: 'notification', title: 'Payment Reminder', description: 'Your invoice #12345 is due tomorrow' }));

    // Straight to the hub: consistent at once, before any relay.
    const hinted = await call('GET', `/api/v1/contact-events/${assigned.id}?contact_id=${contact}`, { key: t.key });
    expect(await json(hinted)).toEqual(assigned);
    await eventually(() => d1Entry(t.id, reminder.id));
    await eventually(() => d1Entry(t.id, assigned.id));
    await eventually(() => d1Entry(t.id, started.id));
    const byId = await call('GET', `/api/v1/contact-events/${reminder.id}`, { key: t.key });
    expect(byId.status).toBe(200);
    expect(await json(byId)).toEqual(reminder);
    await expectProblem(await call('GET', `/api/v1/contact-events/${uuid()}`, { key: t.key }), 404);
    await expectProblem(await call('GET', `/api/v1/contact-events/${reminder.id}?contact_id=${contact}`, { key: t.key }), 404);

    const sess = await json<Page>(await call('GET', `/api/v1/sessions/${session}/events`, { key: t.key }));
    expect(sess.events.map((e) => e.event_type)).toEqual(['session_started', 'agent_assigned']);
    const sessHub = await json<Page>(await call('GET', `/api/v1/sessions/${session}/events?contact_id=${contact}`, { key: t.key }));
    expect(sessHub.events).toEqual(sess.events);

    const all = await json<Page>(await call('GET', '/api/v1/contact-events', { key: t.key }));
    expect(all.events.length).toBe(3);
    const byType = await json<Page>(await call('GET', '/api/v1/contact-events?type=agent_assigned', { key: t.key }));
    expect(byType.events.map((e) => e.id)).toEqual([assigned.id]);
    const byCategory = await json<Page>(await call('GET', '/api/v1/contact-events?category=notification&limit=5', { key: t.key }));
    expect(byCategory.events.map((e) => e.id)).toEqual([reminder.id]);
    const since = await json<Page>(await call('GET', '/api/v1/contact-events?from=2025-10-10T14:30:30Z', { key: t.key }));
    expect(since.events.map((e) => e.id).sort()).toEqual([assigned.id, reminder.id].sort());

    const found = await json<{ events: ContactEventRecord[] }>(await call('GET', '/api/v1/contact-events/search?q=invoice', { key: t.key }));
    expect(found.events.map((e) => e.id)).toEqual([reminder.id]);
    const prefix = await json<{ events: ContactEventRecord[] }>(await call('GET', '/api/v1/contact-events/search?q=PAYM%20remind', { key: t.key }));
    expect(prefix.events.map((e) => e.id)).toEqual([reminder.id]);
    const syntax = await call('GET', `/api/v1/contact-events/search?q=${encodeURIComponent('john" OR NEAR(')}`, { key: t.key });
    expect(syntax.status).toBe(200);
    expect((await json<{ events: ContactEventRecord[] }>(syntax)).events).toEqual([]);
    const john = await json<{ events: ContactEventRecord[] }>(await call('GET', `/api/v1/contact-events/search?q=john&contact_id=${contact}`, { key: t.key }));
    expect(john.events.map((e) => e.id)).toEqual([assigned.id]);
  });

  it('marks read and delivered once, keeps the first time, and relays the change to D1', async () => {
    const t = await newTenant();
    const contact = uuid();
    const e = await add(t, contact, entry({ is_realtime: true, event_type: 'notification_sent', category: 'notification' }));
    await add(t, contact, entry({ is_realtime: false }));
    const undelivered = await json<{ events: ContactEventRecord[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: t.key }));
    expect(undelivered.events.map((x) => x.id)).toEqual([e.id]);

    await eventually(() => d1Entry(t.id, e.id));
    const read = await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key });
    expect(read.status).toBe(200);
    const body = await json<{ success: boolean; id: string; read_at: string }>(read);
    expect(body).toEqual({ success: true, id: e.id, read_at: expect.any(String) });
    const again = await json<{ read_at: string }>(await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key }));
    expect(again.read_at).toBe(body.read_at);

    const delivered = await call('POST', `/api/v1/contact-events/${e.id}/mark-delivered?contact_id=${contact}`, { key: t.key });
    expect(await json(delivered)).toEqual({ success: true, id: e.id, delivered_at: expect.any(String) });
    const after = await json<{ events: ContactEventRecord[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: t.key }));
    expect(after.events).toEqual([]);
    const got = await json<ContactEventRecord>(await call('GET', `/api/v1/contact-events/${e.id}`, { key: t.key }));
    expect(got).toMatchObject({ read: true, read_at: body.read_at, delivered: true });

    const row = await eventually(async () => {
      const r = await d1Entry(t.id, e.id);
      return r && r.read === 1 && r.delivered === 1 ? r : undefined;
    });
    expect(row.read_at).toBe(Date.parse(body.read_at));
    expect(row.revision).toBe(3);
    await expectProblem(await call('POST', `/api/v1/contact-events/${uuid()}/mark-read`, { key: t.key }), 404);
  });

  it('exports CSV oldest first, quoted and formula-safe', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact, entry({ title: 'Hello, "world"', description: 'line1\nline2' }));
    await add(t, contact, entry({ title: '=HYPERLINK("x")', payload: { a: 1 } }));
    await add(t, contact, entry({ title: 'gone', expires_at: iso(Date.now() - 1000) }));
    const res = await call('GET', `/api/v1/contacts/${contact}/events/export?format=csv`, { key: t.key });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toContain(`contact-${contact}-timeline.csv`);
    const text = await res.text();
    const lines = text.split('\r\n');
    expect(lines[0]).toMatch(/^sequence_number,id,occurred_at,created_at,event_type,category,priority,source,title,description,/);
    expect(text).toContain('"Hello, ""world"""');
    expect(text).toContain('"line1\nline2"');
    expect(text).toContain(`"'=HYPERLINK(""x"")"`);
    expect(text).toContain('"{""a"":1}"');
    expect(text).not.toContain('gone');
    expect(lines[1]!.startsWith('1,')).toBe(true);
    const withExpired = await (await call('GET', `/api/v1/contacts/${contact}/events/export?include_expired=true`, { key: t.key })).text();
    expect(withExpired).toContain('gone');
  });

  it('exports more than one hub page', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 0; i < 2; i++) {
      const res = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
        key: t.key,
        body: { events: Array.from({ length: 600 }, (_, j) => entry({ title: `t${i * 600 + j}`, description: undefined })) },
      });
      expect(res.status).toBe(201);
    }
    const text = await (await call('GET', `/api/v1/contacts/${contact}/events/export`, { key: t.key })).text();
    const rows = text.trimEnd().split('\r\n').slice(1);
    expect(rows.length).toBe(1200);
    expect(rows.map((r) => Number(r.split(',')[0]))).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
  });

  it('deletes an entry in the hub and D1, and never hands its number out again, even after eviction', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact, entry());
    const last = await add(t, contact, entry());
    await eventually(() => d1Entry(t.id, last.id));
    const del = await call('DELETE', `/api/v1/contact-events/${last.id}`, { key: t.key });
    expect(del.status).toBe(204);
    await expectProblem(await call('GET', `/api/v1/contact-events/${last.id}?contact_id=${contact}`, { key: t.key }), 404);
    await eventually(async () => (await d1Entry(t.id, last.id)) === null);
    await expectProblem(await call('DELETE', `/api/v1/contact-events/${last.id}?contact_id=${contact}`, { key: t.key }), 404);

    await evictDurableObject(contactHubStub(env, t.id, contact));
    const next = await add(t, contact, entry());
    expect(next.sequence_number).toBe(3);
  });
});

describe('contact timeline: expiry', () => {
  it('hides expired entries from every listing and delivery unless asked for', async () => {
    const t = await newTenant();
    const contact = uuid();
    const session = uuid();
    const live = await add(t, contact, entry({ title: 'live notice', is_realtime: true, session_id: session, expires_at: iso(Date.now() + DAY) }));
    const dead = await add(t, contact, entry({ title: 'dead notice', is_realtime: true, session_id: session, expires_at: iso(Date.now() - 1000) }));
    const list = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
    expect(list.events.map((e) => e.id)).toEqual([live.id]);
    expect(list.total).toBe(1);
    const withExpired = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?include_expired=true`, { key: t.key }));
    expect(withExpired.events.map((e) => e.id)).toEqual([dead.id, live.id]);
    const und = await json<{ events: ContactEventRecord[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: t.key }));
    expect(und.events.map((e) => e.id)).toEqual([live.id]);
    expect((await json<{ count: number }>(await call('GET', `/api/v1/contacts/${contact}/events/count`, { key: t.key }))).count).toBe(1);

    await eventually(() => d1Entry(t.id, dead.id));
    const tenantWide = await json<Page>(await call('GET', '/api/v1/contact-events', { key: t.key }));
    expect(tenantWide.events.map((e) => e.id)).toEqual([live.id]);
    expect((await json<Page>(await call('GET', '/api/v1/contact-events?include_expired=true', { key: t.key }))).events.length).toBe(2);
    const sess = await json<Page>(await call('GET', `/api/v1/sessions/${session}/events`, { key: t.key }));
    expect(sess.events.map((e) => e.id)).toEqual([live.id]);
    const found = await json<{ events: ContactEventRecord[] }>(await call('GET', '/api/v1/contact-events/search?q=notice', { key: t.key }));
    expect(found.events.map((e) => e.id)).toEqual([live.id]);
  });
});

describe('contact timeline: tenant isolation', () => {
  it('tenant B cannot read, mark, delete or erase tenant A\'s entries', async () => {
    const a = await newTenant('a');
    const b = await newTenant('b');
    const contact = uuid();
    const session = uuid();
    const e = await add(a, contact, entry({ session_id: session, title: 'secret plan', is_realtime: true }));
    await eventually(() => d1Entry(a.id, e.id));

    for (const path of [`/api/v1/contact-events/${e.id}`, `/api/v1/contact-events/${e.id}?contact_id=${contact}`]) {
      await expectProblem(await call('GET', path, { key: b.key }), 404);
      await expectProblem(await call('DELETE', path, { key: b.key }), 404);
    }
    await expectProblem(await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: b.key }), 404);
    await expectProblem(await call('POST', `/api/v1/contact-events/${e.id}/mark-delivered?contact_id=${contact}`, { key: b.key }), 404);
    expect((await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: b.key }))).events).toEqual([]);
    expect((await json<Page>(await call('GET', '/api/v1/contact-events', { key: b.key }))).events).toEqual([]);
    expect((await json<Page>(await call('GET', `/api/v1/sessions/${session}/events`, { key: b.key }))).events).toEqual([]);
    expect((await json<{ events: unknown[] }>(await call('GET', '/api/v1/contact-events/search?q=secret', { key: b.key }))).events).toEqual([]);
    expect((await json<{ events: unknown[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: b.key }))).events).toEqual([]);
    const csv = await (await call('GET', `/api/v1/contacts/${contact}/events/export`, { key: b.key })).text();
    expect(csv.trimEnd().split('\r\n')).toHaveLength(1);
    const erase = await call('DELETE', `/api/v1/contacts/${contact}`, { key: b.key });
    expect(await json(erase)).toMatchObject({ contact_id: contact, removed: { hub_events: 0, hub_entries: 0, events: 0, contact_events: 0 }, sequence_number: 0 });
    // Ids are scoped to the tenant: B reusing A's id creates B's own entry and leaves A's untouched.
    const bSame = await call('POST', `/api/v1/contacts/${contact}/events`, { key: b.key, body: entry({ id: e.id, title: 'b copy' }) });
    expect(bSame.status).toBe(201);
    await eventually(() => d1Entry(b.id, e.id));

    const still = await json<ContactEventRecord>(await call('GET', `/api/v1/contact-events/${e.id}`, { key: a.key }));
    expect(still).toMatchObject({ id: e.id, title: 'secret plan', read: false, delivered: false });
    expect(await d1Entry(a.id, e.id)).toMatchObject({ title: 'secret plan', read: 0 });
  });
});

describe('contact timeline: GDPR erase', () => {
  it('removes the timeline, the log events and the hub storage, everywhere, and answers with counts', async () => {
    const t = await newTenant();
    const contact = uuid();
    const keep = uuid();
    await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Ada' } } });
    await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact } });
    const e = await add(t, contact, entry());
    const kept = await add(t, keep, entry());
    await eventually(async () => (await d1Count(t.id, contact)) === 2);
    await eventually(() => d1Entry(t.id, kept.id));
    const events = () => env.DB.prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ? AND contact_id = ?').bind(t.id, contact).first<{ n: number }>();
    await eventually(async () => (await events())!.n === 2);

    const res = await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ contact_id: contact, removed: { hub_events: 2, events: 2, contact_events: 2 }, sequence_number: 3 });
    expect((await events())!.n).toBe(0);
    expect(await d1Count(t.id, contact)).toBe(0);
    expect(await hubCount(t, contact)).toBe(0);
    await expectProblem(await call('GET', `/api/v1/contact-events/${e.id}?contact_id=${contact}`, { key: t.key }), 404);
    const stats = await runInDurableObject(contactHubStub(env, t.id, contact), (hub: ContactHub) => hub.outboxStats());
    expect(stats.pending).toBe(0);
    expect(await d1Entry(t.id, kept.id)).not.toBeNull();

    const again = await json(await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key }));
    expect(again).toMatchObject({ contact_id: contact, removed: { hub_events: 0, hub_entries: 0, events: 0, contact_events: 0 }, sequence_number: 3 });
    // The counter survives the erase: numbers are never handed out twice.
    const fresh = await add(t, contact, entry());
    expect(fresh.sequence_number).toBe(4);
  });
});

describe('contact timeline: API document', () => {
  it('documents every timeline route in /openapi.json', async () => {
    const res = await call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(res);
    const expected: [string, string][] = [
      ['/api/v1/contacts/{contact_id}/events', 'post'],
      ['/api/v1/contacts/{contact_id}/events', 'get'],
      ['/api/v1/contacts/{contact_id}/events/batch', 'post'],
      ['/api/v1/contacts/{contact_id}/events/count', 'get'],
      ['/api/v1/contacts/{contact_id}/events/export', 'get'],
      ['/api/v1/contacts/{contact_id}', 'delete'],
      ['/api/v1/sessions/{session_id}/events', 'get'],
      ['/api/v1/contact-events', 'get'],
      ['/api/v1/contact-events/search', 'get'],
      ['/api/v1/contact-events/undelivered', 'get'],
      ['/api/v1/contact-events/{entry_id}', 'get'],
      ['/api/v1/contact-events/{entry_id}', 'delete'],
      ['/api/v1/contact-events/{entry_id}/mark-read', 'post'],
      ['/api/v1/contact-events/{entry_id}/mark-delivered', 'post'],
    ];
    for (const [path, method] of expected) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
  });
});
