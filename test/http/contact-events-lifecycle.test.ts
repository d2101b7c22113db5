import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { call, eventually, json, newTenant, shardOf, uuid, type Tenant } from '../support/api';
import { expectProblem } from '../support/problem';
import { type Page, entry, add, d1Entry, d1Count, hubCount, iso, DAY } from '../support/timeline';

describe('contact timeline: receipts', () => {
  /** A realtime entry and a plain one, the realtime one relayed to D1. */
  async function realtimeEntry() {
    const t = await newTenant();
    const contact = uuid();
    const e = await add(t, contact, entry({ is_realtime: true, event_type: 'notification_sent', category: 'notification' }));
    await add(t, contact, entry({ is_realtime: false }));
    await eventually(() => d1Entry(t.id, e.id));
    return { t, contact, e };
  }
  const undelivered = async (t: Tenant, contact: string) =>
    json<{ events: TimelineEntryRecord[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: t.key }));

  it('lists only realtime entries as undelivered', async () => {
    const { t, contact, e } = await realtimeEntry();
    expect((await undelivered(t, contact)).events.map((x) => x.id)).toEqual([e.id]);
  });

  it('marks read once and keeps the first read time', async () => {
    const { t, e } = await realtimeEntry();
    const read = await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key });
    expect(read.status).toBe(200);
    const body = await json<{ success: boolean; id: string; read_at: string }>(read);
    expect(body).toEqual({ success: true, id: e.id, read_at: expect.any(String) });
    const again = await json<{ read_at: string }>(await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key }));
    expect(again.read_at).toBe(body.read_at);
  });

  it('marks delivered, after which the entry is no longer undelivered and reads back read and delivered', async () => {
    const { t, contact, e } = await realtimeEntry();
    const body = await json<{ read_at: string }>(await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key }));
    const delivered = await call('POST', `/api/v1/contact-events/${e.id}/mark-delivered?contact_id=${contact}`, { key: t.key });
    expect(await json(delivered)).toEqual({ success: true, id: e.id, delivered_at: expect.any(String) });
    expect((await undelivered(t, contact)).events).toEqual([]);
    const got = await json<TimelineEntryRecord>(await call('GET', `/api/v1/contact-events/${e.id}`, { key: t.key }));
    expect(got).toMatchObject({ read: true, read_at: body.read_at, delivered: true });
  });

  it('relays read and delivered to D1 as a newer revision', async () => {
    const { t, contact, e } = await realtimeEntry();
    const body = await json<{ read_at: string }>(await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key }));
    await call('POST', `/api/v1/contact-events/${e.id}/mark-delivered?contact_id=${contact}`, { key: t.key });
    const row = await eventually(async () => {
      const r = await d1Entry(t.id, e.id);
      return r && r.read === 1 && r.delivered === 1 ? r : undefined;
    });
    expect(row.read_at).toBe(Date.parse(body.read_at));
    expect(row.revision).toBe(3);
  });

  it('answers 404 to marking an unknown entry', async () => {
    const t = await newTenant();
    await expectProblem(await call('POST', `/api/v1/contact-events/${uuid()}/mark-read`, { key: t.key }), 404);
  });
});

describe('contact timeline: export', () => {
  it('exports CSV oldest first, quoted and formula-safe, without expired entries', async () => {
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
  });

  it('exports expired entries with include_expired=true', async () => {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact, entry({ title: 'gone', expires_at: iso(Date.now() - 1000) }));
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
});

describe('contact timeline: delete', () => {
  /** Two entries, the last relayed to D1 and then deleted. */
  async function deletedLast() {
    const t = await newTenant();
    const contact = uuid();
    await add(t, contact, entry());
    const last = await add(t, contact, entry());
    await eventually(() => d1Entry(t.id, last.id));
    const del = await call('DELETE', `/api/v1/contact-events/${last.id}`, { key: t.key });
    return { t, contact, last, del };
  }

  it('deletes an entry in the hub (204, then 404) and in D1; a second delete is a 404', async () => {
    const { t, contact, last, del } = await deletedLast();
    expect(del.status).toBe(204);
    await expectProblem(await call('GET', `/api/v1/contact-events/${last.id}?contact_id=${contact}`, { key: t.key }), 404);
    await eventually(async () => (await d1Entry(t.id, last.id)) === null);
    await expectProblem(await call('DELETE', `/api/v1/contact-events/${last.id}?contact_id=${contact}`, { key: t.key }), 404);
  });

  it('never hands a deleted entry number out again, even after eviction', async () => {
    const { t, contact, del } = await deletedLast();
    expect(del.status).toBe(204);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    const next = await add(t, contact, entry());
    expect(next.sequence_number).toBe(3);
  });
});

describe('contact timeline: expiry', () => {
  /** A live and an expired realtime entry in one session. */
  async function liveAndDead() {
    const t = await newTenant();
    const contact = uuid();
    const session = uuid();
    const live = await add(t, contact, entry({ title: 'live notice', is_realtime: true, session_id: session, expires_at: iso(Date.now() + DAY) }));
    const dead = await add(t, contact, entry({ title: 'dead notice', is_realtime: true, session_id: session, expires_at: iso(Date.now() - 1000) }));
    return { t, contact, session, live, dead };
  }

  it('hides expired entries from the contact listing, its count and undelivered, unless asked for', async () => {
    const { t, contact, live, dead } = await liveAndDead();
    const list = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
    expect(list.events.map((e) => e.id)).toEqual([live.id]);
    expect(list.total).toBe(1);
    const withExpired = await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events?include_expired=true`, { key: t.key }));
    expect(withExpired.events.map((e) => e.id)).toEqual([dead.id, live.id]);
    const und = await json<{ events: TimelineEntryRecord[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: t.key }));
    expect(und.events.map((e) => e.id)).toEqual([live.id]);
    expect((await json<{ count: number }>(await call('GET', `/api/v1/contacts/${contact}/events/count`, { key: t.key }))).count).toBe(1);
  });

  it('hides expired entries from the tenant-wide list, sessions and search, unless asked for', async () => {
    const { t, session, live, dead } = await liveAndDead();
    await eventually(() => d1Entry(t.id, dead.id));
    const tenantWide = await json<Page>(await call('GET', '/api/v1/contact-events', { key: t.key }));
    expect(tenantWide.events.map((e) => e.id)).toEqual([live.id]);
    expect((await json<Page>(await call('GET', '/api/v1/contact-events?include_expired=true', { key: t.key }))).events.length).toBe(2);
    const sess = await json<Page>(await call('GET', `/api/v1/sessions/${session}/events`, { key: t.key }));
    expect(sess.events.map((e) => e.id)).toEqual([live.id]);
    const found = await json<{ events: TimelineEntryRecord[] }>(await call('GET', '/api/v1/contact-events/search?q=notice', { key: t.key }));
    expect(found.events.map((e) => e.id)).toEqual([live.id]);
  });
});

describe('contact timeline: tenant isolation', () => {
  /** Tenant A's entry, relayed to D1, and tenant B. */
  async function twoTenants() {
    const a = await newTenant('a');
    const b = await newTenant('b');
    const contact = uuid();
    const session = uuid();
    const e = await add(a, contact, entry({ session_id: session, title: 'secret plan', is_realtime: true }));
    await eventually(() => d1Entry(a.id, e.id));
    return { a, b, contact, session, e };
  }
  const untouched = async (a: Tenant, id: string) => {
    const still = await json<TimelineEntryRecord>(await call('GET', `/api/v1/contact-events/${id}`, { key: a.key }));
    expect(still).toMatchObject({ id, title: 'secret plan', read: false, delivered: false });
    expect(await d1Entry(a.id, id)).toMatchObject({ title: 'secret plan', read: 0 });
  };

  it("tenant B cannot get, delete or mark tenant A's entry", async () => {
    const { a, b, contact, e } = await twoTenants();
    for (const path of [`/api/v1/contact-events/${e.id}`, `/api/v1/contact-events/${e.id}?contact_id=${contact}`]) {
      await expectProblem(await call('GET', path, { key: b.key }), 404);
      await expectProblem(await call('DELETE', path, { key: b.key }), 404);
    }
    await expectProblem(await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: b.key }), 404);
    await expectProblem(await call('POST', `/api/v1/contact-events/${e.id}/mark-delivered?contact_id=${contact}`, { key: b.key }), 404);
    await untouched(a, e.id);
  });

  it("tenant B lists, searches and exports none of tenant A's entries", async () => {
    const { b, contact, session } = await twoTenants();
    expect((await json<Page>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: b.key }))).events).toEqual([]);
    expect((await json<Page>(await call('GET', '/api/v1/contact-events', { key: b.key }))).events).toEqual([]);
    expect((await json<Page>(await call('GET', `/api/v1/sessions/${session}/events`, { key: b.key }))).events).toEqual([]);
    expect((await json<{ events: unknown[] }>(await call('GET', '/api/v1/contact-events/search?q=secret', { key: b.key }))).events).toEqual([]);
    expect((await json<{ events: unknown[] }>(await call('GET', `/api/v1/contact-events/undelivered?contact_id=${contact}`, { key: b.key }))).events).toEqual([]);
    const csv = await (await call('GET', `/api/v1/contacts/${contact}/events/export`, { key: b.key })).text();
    expect(csv.trimEnd().split('\r\n')).toHaveLength(1);
  });

  it("tenant B erasing the same contact id removes nothing of tenant A's", async () => {
    const { a, b, contact, e } = await twoTenants();
    const erase = await call('DELETE', `/api/v1/contacts/${contact}`, { key: b.key });
    expect(await json(erase)).toMatchObject({ contact_id: contact, removed: { hub_events: 0, hub_entries: 0, events: 0, contact_events: 0 }, sequence_number: 0 });
    await untouched(a, e.id);
  });

  it("tenant B reusing tenant A's entry id creates its own entry and leaves A's untouched", async () => {
    const { a, b, contact, e } = await twoTenants();
    const bSame = await call('POST', `/api/v1/contacts/${contact}/events`, { key: b.key, body: entry({ id: e.id, title: 'b copy' }) });
    expect(bSame.status).toBe(201);
    await eventually(() => d1Entry(b.id, e.id));
    await untouched(a, e.id);
  });
});

describe('contact timeline: GDPR erase', () => {
  /** A contact with two log events and one entry (all relayed), and another contact's entry. */
  async function erased() {
    const t = await newTenant();
    const contact = uuid();
    const keep = uuid();
    await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Ada' } } });
    await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact } });
    const e = await add(t, contact, entry());
    const kept = await add(t, keep, entry());
    await eventually(async () => (await d1Count(t.id, contact)) === 2);
    await eventually(() => d1Entry(t.id, kept.id));
    const events = async () => (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ? AND contact_id = ?').bind(t.id, contact).first<{ n: number }>();
    await eventually(async () => (await events())!.n === 2);
    const res = await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key });
    return { t, contact, e, kept, events, res };
  }

  it('answers with the counts it removed per store and the last sequence number', async () => {
    const { contact, res } = await erased();
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ contact_id: contact, removed: { hub_events: 2, events: 2, contact_events: 2 }, sequence_number: 3 });
  });

  it("removes the contact's log events and timeline from D1 and its hub, outbox included", async () => {
    const { t, contact, e, events } = await erased();
    expect((await events())!.n).toBe(0);
    expect(await d1Count(t.id, contact)).toBe(0);
    expect(await hubCount(t, contact)).toBe(0);
    await expectProblem(await call('GET', `/api/v1/contact-events/${e.id}?contact_id=${contact}`, { key: t.key }), 404);
    const stats = await runInDurableObject(contactHubStub(env, t.id, contact), (hub: StreamHub) => hub.outboxStats());
    expect(stats.pending).toBe(0);
  });

  it("keeps another contact's entries", async () => {
    const { t, kept } = await erased();
    expect(await d1Entry(t.id, kept.id)).not.toBeNull();
  });

  it('erasing again answers zero counts', async () => {
    const { t, contact } = await erased();
    const again = await json(await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key }));
    expect(again).toMatchObject({ contact_id: contact, removed: { hub_events: 0, hub_entries: 0, events: 0, contact_events: 0 }, sequence_number: 3 });
  });

  it('keeps the counter across the erase: the next entry gets the next number', async () => {
    const { t, contact } = await erased();
    // Numbers are never handed out twice.
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
