import { describe, expect, it } from 'vitest';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';
import { expectProblem } from '../support/problem';
import { type Page, entry, add, d1Entry, d1Count, hubCount, addFull } from '../support/timeline';

describe('contact timeline: appends', () => {
  it('creates an entry with every field of a timeline entry, numbered 1 by the contact hub', async () => {
    const t = await newTenant();
    const contact = uuid();
    const { body, res } = await addFull(t, contact);
    expect(res.status).toBe(201);
    const e = await json<TimelineEntryRecord>(res);
    expect(e).toMatchObject({ ...body, contact_id: contact, sequence_number: 1, delivered: false, read: false, origin_event_id: null });
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('numbers the next entry 2 and fills the defaults of the fields left out', async () => {
    const t = await newTenant();
    const contact = uuid();
    await addFull(t, contact);
    const second = await add(t, contact, entry());
    expect(second.sequence_number).toBe(2);
    expect(second).toMatchObject({ priority: 'normal', is_realtime: false, visible_to_client: false, visible_to_agent: true, expires_at: null });
  });

  it('relays a new entry to D1 with its fields', async () => {
    const t = await newTenant();
    const contact = uuid();
    const { body, res } = await addFull(t, contact);
    const e = await json<TimelineEntryRecord>(res);
    const row = await eventually(() => d1Entry(t.id, e.id));
    expect(row).toMatchObject({ contact_id: contact, sequence_number: 1, category: 'pipeline', priority: 'high', session_id: body.session_id, triggered_by: body.triggered_by });
    expect(row.occurred_at).toBe(Date.parse(body.occurred_at));
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
    const { events } = await json<{ events: TimelineEntryRecord[] }>(res);
    expect(events.map((e) => e.sequence_number)).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
    expect(events.map((e) => e.title)).toEqual(Array.from({ length: 25 }, (_, i) => `n${i}`));
    await eventually(async () => (await d1Count(t.id, contact)) === 25);
  });

  it('refuses a batch of 1,001 entries without writing', async () => {
    const t = await newTenant();
    const contact = uuid();
    const tooMany = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
      key: t.key,
      body: { events: Array.from({ length: 1001 }, () => entry({ description: undefined })) },
    });
    await expectProblem(tooMany, 422, ['events']);
    expect(await hubCount(t, contact)).toBe(0);
  });

  it('accepts 1,000 entries in one batch and relays them all', async () => {
    const t = await newTenant();
    const contact = uuid();
    const ok = await call('POST', `/api/v1/contacts/${contact}/events/batch`, {
      key: t.key,
      body: { events: Array.from({ length: 1000 }, () => entry({ description: undefined })) },
    });
    expect(ok.status).toBe(201);
    const { events } = await json<{ events: TimelineEntryRecord[] }>(ok);
    expect(events[999]!.sequence_number).toBe(1000);
    await eventually(async () => (await d1Count(t.id, contact)) === 1000, { timeoutMs: 10_000 });
  });
});

describe('contact timeline: idempotency', () => {
  it('replays a request with the same Idempotency-Key and body', async () => {
    const t = await newTenant();
    const contact = uuid();
    const headers = { 'idempotency-key': 'note-1' };
    const first = await add(t, contact, entry(), headers);
    const again = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry(), headers });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(first);
  });

  it('refuses another body under the same Idempotency-Key, writing nothing', async () => {
    const t = await newTenant();
    const contact = uuid();
    const headers = { 'idempotency-key': 'note-1' };
    await add(t, contact, entry(), headers);
    const other = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry({ title: 'changed' }), headers });
    await expectProblem(other, 409);
    expect(await hubCount(t, contact)).toBe(1);
  });

  it('replays a client-chosen id with its original number', async () => {
    const t = await newTenant();
    const contact = uuid();
    const id = uuid();
    const first = await add(t, contact, entry({ id }));
    const again = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry({ id }) });
    expect(again.status).toBe(200);
    expect((await json<TimelineEntryRecord>(again)).sequence_number).toBe(first.sequence_number);
    expect(await hubCount(t, contact)).toBe(1);
  });

  it('replays a batch with the same Idempotency-Key', async () => {
    const t = await newTenant();
    const contact = uuid();
    const batch = { events: [entry({ title: 'a' }), entry({ title: 'b' })] };
    const headers = { 'idempotency-key': 'batch-1' };
    const b1 = await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: batch, headers });
    expect(b1.status).toBe(201);
    const b2 = await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: batch, headers });
    expect(b2.status).toBe(200);
    expect(await json(b2)).toEqual(await json(b1));
    expect(await hubCount(t, contact)).toBe(2);
  });

  it('refuses an id another contact holds, writing nothing in the second hub', async () => {
    const t = await newTenant();
    const contact = uuid();
    const id = uuid();
    await add(t, contact, entry({ id }));
    await eventually(() => d1Entry(t.id, id));
    const elsewhere = uuid();
    await expectProblem(await call('POST', `/api/v1/contacts/${elsewhere}/events`, { key: t.key, body: entry({ id }) }), 409);
    expect(await hubCount(t, elsewhere)).toBe(0);
  });
});

describe('contact timeline: bad input writes nothing', () => {
  const nothingWritten = async (t: Tenant, contact: string) => {
    expect(await hubCount(t, contact)).toBe(0);
    expect(await d1Count(t.id, contact)).toBe(0);
  };

  it('names each bad field of a single append', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', `/api/v1/contacts/${contact}/events`, {
      key: t.key,
      body: { event_type: 'Bad Type', category: 'gossip', priority: 'meh', source: 'oracle', expires_at: 'tomorrow', is_realtime: 'yes', colour: 'red' },
    });
    await expectProblem(res, 422, ['event_type', 'category', 'priority', 'source', 'expires_at', 'is_realtime', 'colour']);
    await nothingWritten(t, contact);
  });

  it('names each missing required field', async () => {
    const t = await newTenant();
    const contact = uuid();
    const missing = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: { title: 'x' } });
    await expectProblem(missing, 422, ['event_type', 'category', 'source']);
    await nothingWritten(t, contact);
  });

  it('names a contact id that is not a UUID', async () => {
    const t = await newTenant();
    await expectProblem(await call('POST', `/api/v1/contacts/not-a-uuid/events`, { key: t.key, body: entry() }), 422, ['param.contact_id']);
  });

  it('refuses malformed JSON (400), another content type (415) and a missing API key (401)', async () => {
    const t = await newTenant();
    const contact = uuid();
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: '{"event_type":' }), 400);
    await expectProblem(
      await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: JSON.stringify(entry()), headers: { 'content-type': 'text/plain' } }),
      415,
    );
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events`, { body: entry() }), 401);
    await nothingWritten(t, contact);
  });

  it('refuses a whole batch when one item is bad', async () => {
    const t = await newTenant();
    const contact = uuid();
    const events = Array.from({ length: 5 }, () => entry());
    events[3] = entry({ category: 'nope' });
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events } }), 422, ['events.3.category']);
    expect(await hubCount(t, contact)).toBe(0);
  });

  it('refuses a whole batch when ids repeat', async () => {
    const t = await newTenant();
    const contact = uuid();
    const id = uuid();
    await expectProblem(
      await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events: [entry({ id }), entry(), entry({ id })] } }),
      422,
      ['events.2.id'],
    );
    expect(await hubCount(t, contact)).toBe(0);
  });

  it('refuses an empty batch', async () => {
    const t = await newTenant();
    const contact = uuid();
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events: [] } }), 422, ['events']);
    expect(await hubCount(t, contact)).toBe(0);
  });

  it('names each bad query parameter of a contact timeline listing', async () => {
    const t = await newTenant();
    const contact = uuid();
    await expectProblem(
      await call('GET', `/api/v1/contacts/${contact}/events?limit=0&offset=-1&visible_to=everyone&category=x&after_sequence=a&include_expired=maybe`, { key: t.key }),
      422,
      ['query.limit', 'query.offset', 'query.visible_to', 'query.category', 'query.after_sequence', 'query.include_expired'],
    );
  });

  it('names bad query parameters of the tenant-wide list, search, undelivered and export routes, and a bad entry id', async () => {
    const t = await newTenant();
    const contact = uuid();
    await expectProblem(await call('GET', '/api/v1/contact-events?from=yesterday', { key: t.key }), 422, ['query.from']);
    await expectProblem(await call('GET', '/api/v1/contact-events/search?q=%22%2A%28%29', { key: t.key }), 422, ['query.q']);
    await expectProblem(await call('GET', '/api/v1/contact-events/search', { key: t.key }), 422, ['query.q']);
    await expectProblem(await call('GET', '/api/v1/contact-events/undelivered', { key: t.key }), 422, ['query.contact_id']);
    await expectProblem(await call('GET', `/api/v1/contacts/${contact}/events/export?format=pdf`, { key: t.key }), 422, ['query.format']);
    await expectProblem(await call('GET', '/api/v1/contact-events/123', { key: t.key }), 422, ['param.entry_id']);
  });
});

describe('contact timeline: listing one contact', () => {
  /** Four entries: 1 tag (client and agent), 2 note, 3 assignment (client only), 4 note. */
  async function fourEntries(): Promise<{ t: Tenant; contact: string }> {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact, entry({ event_type: 'tag_added', category: 'tag', title: 'Tag Added', visible_to_client: true }));
    await add(t, contact, entry({ event_type: 'note_added', category: 'note' }));
    await add(t, contact, entry({ event_type: 'agent_assigned', category: 'assignment', title: 'Agent Assigned', visible_to_agent: false, visible_to_client: true }));
    await add(t, contact, entry({ event_type: 'note_added', category: 'note', title: 'Second note' }));
    return { t, contact };
  }
  const numbers = async (t: Tenant, contact: string, query = '') =>
    json<Page>(await call('GET', `/api/v1/contacts/${contact}/events${query}`, { key: t.key }));

  it('lists newest first with total and page', async () => {
    const { t, contact } = await fourEntries();
    const all = await numbers(t, contact);
    expect(all.total).toBe(4);
    expect(all.page).toBe(1);
    expect(all.events.map((e) => e.sequence_number)).toEqual([4, 3, 2, 1]);
  });

  it('pages with limit and offset', async () => {
    const { t, contact } = await fourEntries();
    const paged = await numbers(t, contact, '?limit=2&offset=2');
    expect(paged).toMatchObject({ total: 4, page: 2, limit: 2 });
    expect(paged.events.map((e) => e.sequence_number)).toEqual([2, 1]);
  });

  it('filters by visibility to the client or to agents', async () => {
    const { t, contact } = await fourEntries();
    expect((await numbers(t, contact, '?visible_to=client')).events.map((e) => e.sequence_number)).toEqual([3, 1]);
    expect((await numbers(t, contact, '?visible_to=agent')).events.map((e) => e.sequence_number)).toEqual([4, 2, 1]);
  });

  it('filters by category, by type and by after_sequence', async () => {
    const { t, contact } = await fourEntries();
    expect((await numbers(t, contact, '?category=note')).events.map((e) => e.sequence_number)).toEqual([4, 2]);
    expect((await numbers(t, contact, '?type=tag_added')).events.map((e) => e.sequence_number)).toEqual([1]);
    expect((await numbers(t, contact, '?after_sequence=2')).events.map((e) => e.sequence_number)).toEqual([4, 3]);
  });

  it('counts the contact entries', async () => {
    const { t, contact } = await fourEntries();
    const count = await json<{ count: number }>(await call('GET', `/api/v1/contacts/${contact}/events/count`, { key: t.key }));
    // One of the four is not visible to agents: not unread for them.
    expect(count).toEqual({ contact_id: contact, count: 4, unread: 3 });
  });
});

describe('contact timeline: reads across contacts', () => {
  /** Two entries of a session on one contact, a reminder on another; all relayed to D1. */
  async function threeEntries() {
    const t = await newTenant();
    const contact = uuid();
    const other = uuid();
    const session = uuid();
    const started = await add(t, contact, entry({ event_type: 'session_started', category: 'session', title: 'Session Started', session_id: session, occurred_at: '2025-10-10T14:30:00Z' }));
    const assigned = await add(t, contact, entry({ event_type: 'agent_assigned', category: 'assignment', title: 'Agent Assigned', description: 'John Doe assigned', session_id: session, occurred_at: '2025-10-10T14:31:00Z' }));
    const reminder = await add(t, other, entry({ event_type: 'notification_sent', category: 'notification', title: 'Payment Reminder', description: 'Your invoice #12345 is due tomorrow' }));
    const relayed = async () => {
      await eventually(() => d1Entry(t.id, reminder.id));
      await eventually(() => d1Entry(t.id, assigned.id));
      await eventually(() => d1Entry(t.id, started.id));
    };
    return { t, contact, session, started, assigned, reminder, relayed };
  }

  it('gets one entry from its hub with the contact_id hint, before any relay', async () => {
    const { t, contact, assigned } = await threeEntries();
    const hinted = await call('GET', `/api/v1/contact-events/${assigned.id}?contact_id=${contact}`, { key: t.key });
    expect(await json(hinted)).toEqual(assigned);
  });

  it('gets one entry by id alone; an unknown id or the wrong contact is a 404', async () => {
    const { t, contact, reminder, relayed } = await threeEntries();
    await relayed();
    const byId = await call('GET', `/api/v1/contact-events/${reminder.id}`, { key: t.key });
    expect(byId.status).toBe(200);
    expect(await json(byId)).toEqual(reminder);
    await expectProblem(await call('GET', `/api/v1/contact-events/${uuid()}`, { key: t.key }), 404);
    await expectProblem(await call('GET', `/api/v1/contact-events/${reminder.id}?contact_id=${contact}`, { key: t.key }), 404);
  });

  it('lists a session oldest first, from D1 and from the hub alike', async () => {
    const { t, contact, session, relayed } = await threeEntries();
    await relayed();
    const sess = await json<Page>(await call('GET', `/api/v1/sessions/${session}/events`, { key: t.key }));
    expect(sess.events.map((e) => e.event_type)).toEqual(['session_started', 'agent_assigned']);
    const sessHub = await json<Page>(await call('GET', `/api/v1/sessions/${session}/events?contact_id=${contact}`, { key: t.key }));
    expect(sessHub.events).toEqual(sess.events);
  });

  it('lists tenant-wide, by type, by category and from a time', async () => {
    const { t, assigned, reminder, relayed } = await threeEntries();
    await relayed();
    const all = await json<Page>(await call('GET', '/api/v1/contact-events', { key: t.key }));
    expect(all.events.length).toBe(3);
    const byType = await json<Page>(await call('GET', '/api/v1/contact-events?type=agent_assigned', { key: t.key }));
    expect(byType.events.map((e) => e.id)).toEqual([assigned.id]);
    const byCategory = await json<Page>(await call('GET', '/api/v1/contact-events?category=notification&limit=5', { key: t.key }));
    expect(byCategory.events.map((e) => e.id)).toEqual([reminder.id]);
    const since = await json<Page>(await call('GET', '/api/v1/contact-events?from=2025-10-10T14:30:30Z', { key: t.key }));
    expect(since.events.map((e) => e.id).sort()).toEqual([assigned.id, reminder.id].sort());
  });

  it('searches title and description by word and by case-insensitive prefix', async () => {
    const { t, reminder, relayed } = await threeEntries();
    await relayed();
    const found = await json<{ events: TimelineEntryRecord[] }>(await call('GET', '/api/v1/contact-events/search?q=invoice', { key: t.key }));
    expect(found.events.map((e) => e.id)).toEqual([reminder.id]);
    const prefix = await json<{ events: TimelineEntryRecord[] }>(await call('GET', '/api/v1/contact-events/search?q=PAYM%20remind', { key: t.key }));
    expect(prefix.events.map((e) => e.id)).toEqual([reminder.id]);
  });

  it('searches FTS5 syntax literally, and within one contact', async () => {
    const { t, contact, assigned, relayed } = await threeEntries();
    await relayed();
    const syntax = await call('GET', `/api/v1/contact-events/search?q=${encodeURIComponent('john" OR NEAR(')}`, { key: t.key });
    expect(syntax.status).toBe(200);
    expect((await json<{ events: TimelineEntryRecord[] }>(syntax)).events).toEqual([]);
    const john = await json<{ events: TimelineEntryRecord[] }>(await call('GET', `/api/v1/contact-events/search?q=john&contact_id=${contact}`, { key: t.key }));
    expect(john.events.map((e) => e.id)).toEqual([assigned.id]);
  });
});
