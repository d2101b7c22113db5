import { describe, expect, it } from 'vitest';
import { EXPORT_PAGE_SIZE } from '../../src/http/events';
import { call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';

interface Ev {
  id: string;
  event_type: string;
  source: string;
  contact_id: string | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  position?: number;
  timestamp: string;
}
interface Page {
  events: Ev[];
  total: number;
  next_cursor: string | null;
  time_range?: { from: string | null; to: string | null };
}

const get = async <T = Page>(t: Tenant, path: string): Promise<T> => {
  const res = await call('GET', path, { key: t.key });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return json<T>(res);
};
const batch = async (t: Tenant, events: unknown[]): Promise<Ev[]> => {
  const res = await call('POST', '/api/v1/events/batch', { key: t.key, body: { events } });
  expect(res.status).toBe(201);
  return (await json<{ events: Ev[] }>(res)).events;
};
const at = (day: number, hour = 12, minute = 0) => new Date(Date.UTC(2025, 9, day, hour, minute)).toISOString();

/** A small fixed log: 12 events from Oct 1 to Oct 12 2025, varied types, sources and links. */
async function seedLog(t: Tenant) {
  const session = uuid();
  const message = uuid();
  const types = ['message.sent', 'message.received', 'session.started', 'tag.added'];
  const sources = ['system', 'webhook', 'manual'];
  const events = Array.from({ length: 12 }, (_, i) => ({
    event_type: types[i % 4],
    source: sources[i % 3],
    timestamp: at(i + 1),
    payload: { i },
    ...(i < 4 ? { session_id: session } : {}),
    ...(i === 5 ? { message_id: message } : {}),
    ...(i % 5 === 0 ? { metadata: { correlation_id: 'corr-5' } } : {}),
  }));
  const created = await batch(t, events);
  return { session, message, created, events };
}

describe('GET /events', () => {
  it('lists newest first with total; filters by type, source, session, message, correlation id', async () => {
    const t = await newTenant();
    const { session, message, created } = await seedLog(t);
    const all = await get(t, '/api/v1/events');
    expect(all.total).toBe(12);
    expect(all.next_cursor).toBeNull();
    expect(all.time_range).toBeUndefined();
    expect(all.events.map((e) => e.payload.i)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(all.events[0]!.position).toBeTypeOf('number');

    const byType = await get(t, '/api/v1/events?type=message.sent&limit=100');
    expect(byType.total).toBe(3);
    expect(byType.events.map((e) => e.payload.i)).toEqual([8, 4, 0]);
    expect((await get(t, '/api/v1/events?source=webhook')).events.map((e) => e.payload.i)).toEqual([10, 7, 4, 1]);
    expect((await get(t, `/api/v1/events?session_id=${session}`)).events.map((e) => e.payload.i)).toEqual([3, 2, 1, 0]);
    expect((await get(t, `/api/v1/events?message_id=${message}`)).events.map((e) => e.id)).toEqual([created[5]!.id]);
    expect((await get(t, '/api/v1/events?correlation_id=corr-5&order=asc')).events.map((e) => e.payload.i)).toEqual([0, 5, 10]);
    const combined = await get(t, `/api/v1/events?type=message.sent&source=manual&session_id=${session}`);
    expect(combined.events.map((e) => e.payload.i)).toEqual([]);
    expect((await get(t, '/api/v1/events?type=message.sent&source=system')).events.map((e) => e.payload.i)).toEqual([0]);
    expect((await get(t, '/api/v1/events?type=note.added')).total).toBe(0);
  });

  it('filters by contact once the hub has relayed to D1', async () => {
    const t = await newTenant();
    const contact = uuid();
    await batch(t, [
      { event_type: 'contact.created', source: 'system', contact_id: contact, timestamp: at(1) },
      { event_type: 'message.sent', source: 'system', contact_id: contact, timestamp: at(2) },
      { event_type: 'message.sent', source: 'system', contact_id: uuid(), timestamp: at(3) },
    ]);
    const page = await eventually(async () => {
      const p = await get(t, `/api/v1/events?contact_id=${contact}`);
      return p.total === 2 && p;
    });
    expect(page.events.map((e) => e.event_type)).toEqual(['message.sent', 'contact.created']);
  });

  it('from/to take dates, date-times and epoch ms, are inclusive, and are echoed as time_range', async () => {
    const t = await newTenant();
    await seedLog(t);
    const days = await get(t, '/api/v1/events?from=2025-10-03&to=2025-10-05');
    expect(days.time_range).toEqual({ from: '2025-10-03T00:00:00.000Z', to: '2025-10-05T23:59:59.999Z' });
    expect(days.total).toBe(3);
    expect(days.events.map((e) => e.payload.i)).toEqual([4, 3, 2]);
    // Exact bounds are inclusive.
    const exact = await get(t, `/api/v1/events?from=${encodeURIComponent(at(3))}&to=${encodeURIComponent('2025-10-05T14:00:00+02:00')}`);
    expect(exact.events.map((e) => e.payload.i)).toEqual([4, 3, 2]);
    const ms = await get(t, `/api/v1/events?from=${Date.parse(at(10))}`);
    expect(ms.time_range).toEqual({ from: at(10), to: null });
    expect(ms.events.map((e) => e.payload.i)).toEqual([11, 10, 9]);
    const open = await get(t, '/api/v1/events?to=2025-10-01');
    expect(open.events.map((e) => e.payload.i)).toEqual([0]);
    // A range and a filter together.
    expect((await get(t, '/api/v1/events?type=message.sent&from=2025-10-02&to=2025-10-09')).events.map((e) => e.payload.i)).toEqual([8, 4]);
  });

  it('pages with an opaque cursor until next_cursor is null, each event once, in both orders', async () => {
    const t = await newTenant();
    // 25 events, several sharing a timestamp: the cursor must break ties by position.
    await batch(t, Array.from({ length: 25 }, (_, i) => ({ event_type: 'message.sent', source: 'system', timestamp: at(1 + Math.floor(i / 4)), payload: { i } })));
    for (const order of ['desc', 'asc'] as const) {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Page = await get(t, `/api/v1/events?limit=7&order=${order}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.total).toBe(25);
        seen.push(...page.events.map((e) => e.payload.i as number));
        cursor = page.next_cursor;
        pages += 1;
      } while (cursor);
      expect(pages).toBe(4);
      const expected = Array.from({ length: 25 }, (_, i) => i);
      // Within one timestamp, insertion (position) order; across, by time.
      expect(seen).toEqual(order === 'asc' ? expected : expected.reverse());
    }
    const first = await get(t, '/api/v1/events?limit=5');
    expect(first.next_cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const mismatched = await call('GET', `/api/v1/events?limit=5&order=asc&cursor=${first.next_cursor}`, { key: t.key });
    expect(mismatched.status).toBe(422);
  });

  it('keeps pages stable while events are appended: no event twice, none of the existing skipped', async () => {
    const t = await newTenant();
    const original = await batch(t, Array.from({ length: 30 }, (_, i) => ({ event_type: 'message.sent', source: 'system', timestamp: at(1, 0, i), payload: { i } })));
    const seen: string[] = [];
    let page = await get(t, '/api/v1/events?limit=10');
    seen.push(...page.events.map((e) => e.id));
    // Meanwhile: newer events, and backdated ones falling inside pages not read yet and already read.
    await batch(t, [
      ...Array.from({ length: 5 }, (_, i) => ({ event_type: 'tag.added', source: 'manual', timestamp: at(2, 0, i) })),
      { event_type: 'tag.added', source: 'manual', timestamp: at(1, 0, 5) },
      { event_type: 'tag.added', source: 'manual', timestamp: at(1, 0, 25) },
    ]);
    while (page.next_cursor) {
      page = await get(t, `/api/v1/events?limit=10&cursor=${page.next_cursor}`);
      seen.push(...page.events.map((e) => e.id));
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const e of original) expect(seen).toContain(e.id);
  });
});

describe('GET /events/count and /events/stats', () => {
  it('counts by contact and by session', async () => {
    const t = await newTenant();
    const [contact, session] = [uuid(), uuid()];
    await batch(t, [
      ...Array.from({ length: 3 }, () => ({ event_type: 'message.sent', source: 'system', contact_id: contact, session_id: session })),
      ...Array.from({ length: 2 }, () => ({ event_type: 'message.sent', source: 'system', session_id: session })),
      { event_type: 'message.sent', source: 'system', contact_id: contact },
      { event_type: 'message.sent', source: 'system' },
    ]);
    await eventually(async () => (await get<{ count: number }>(t, `/api/v1/events/count?contact_id=${contact}`)).count === 4);
    expect(await get(t, `/api/v1/events/count?contact_id=${contact}`)).toEqual({ count: 4, contact_id: contact });
    expect(await get(t, `/api/v1/events/count?session_id=${session}`)).toEqual({ count: 5, session_id: session });
    expect((await get<{ count: number }>(t, `/api/v1/events/count?contact_id=${contact}&session_id=${session}`)).count).toBe(3);
    expect((await get<{ count: number }>(t, `/api/v1/events/count?contact_id=${uuid()}`)).count).toBe(0);
  });

  it('groups a window by type, source or hour in SQL', async () => {
    const t = await newTenant();
    await seedLog(t);
    await batch(t, [
      { event_type: 'message.sent', source: 'cron', timestamp: '2025-10-05T12:30:00Z' },
      { event_type: 'message.sent', source: 'cron', timestamp: '2025-10-05T13:10:00Z' },
    ]);
    type Stats = { from: string; to: string; group_by: string; total: number; groups: { key: string; count: number }[] };
    const byType = await get<Stats>(t, '/api/v1/events/stats?from=2025-10-01&to=2025-10-06');
    expect(byType).toEqual({
      from: '2025-10-01T00:00:00.000Z',
      to: '2025-10-06T23:59:59.999Z',
      group_by: 'type',
      computed_from: 'log', // just appended: the rollups are not trusted for it yet
      total: 8,
      groups: [
        { key: 'message.sent', count: 4 },
        { key: 'message.received', count: 2 },
        { key: 'session.started', count: 1 },
        { key: 'tag.added', count: 1 },
      ],
    });
    const bySource = await get<Stats>(t, '/api/v1/events/stats?from=2025-10-01&to=2025-10-06&group_by=source');
    expect(bySource.groups).toEqual([
      { key: 'cron', count: 2 },
      { key: 'system', count: 2 },
      { key: 'webhook', count: 2 },
      { key: 'manual', count: 2 },
    ].sort((a, b) => b.count - a.count || a.key.localeCompare(b.key)));
    const byHour = await get<Stats>(t, '/api/v1/events/stats?from=2025-10-05&to=2025-10-05&group_by=hour');
    expect(byHour.groups).toEqual([
      { key: '2025-10-05T12:00:00.000Z', count: 2 },
      { key: '2025-10-05T13:00:00.000Z', count: 1 },
    ]);
    // Defaults: the last 24 hours, by type.
    await batch(t, [{ event_type: 'note.added', source: 'manual' }]);
    const recent = await get<Stats>(t, '/api/v1/events/stats');
    expect(recent.group_by).toBe('type');
    expect(Date.parse(recent.to) - Date.parse(recent.from)).toBe(24 * 3_600_000);
    expect(recent.groups).toEqual([{ key: 'note.added', count: 1 }]);
  });
});

/** RFC 4180 parser for the test: quoted fields, doubled quotes, CRLF inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += ch;
  }
  expect(field).toBe('');
  expect(row).toEqual([]);
  return rows;
}

describe('GET /events/export', () => {
  it('streams NDJSON oldest first across several pages, only what existed when it began', async () => {
    const t = await newTenant();
    const n = EXPORT_PAGE_SIZE * 2 + 1;
    const created = [
      ...(await batch(t, Array.from({ length: 1000 }, (_, i) => ({ event_type: 'message.sent', source: 'system', timestamp: at(1, 0, 0) , payload: { i } })))),
      ...(await batch(t, Array.from({ length: n - 1000 }, (_, i) => ({ event_type: 'message.sent', source: 'system', timestamp: at(2), payload: { i: 1000 + i } })))),
    ];
    const res = await call('GET', '/api/v1/events/export?format=ndjson', { key: t.key });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="events-\d{4}-\d{2}-\d{2}\.ndjson"$/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const firstChunk = await reader.read();
    text += firstChunk.value ?? '';
    // Appended after the export began: left out.
    await batch(t, [{ event_type: 'tag.added', source: 'manual', timestamp: at(3) }]);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    const exported = lines.map((l) => JSON.parse(l) as Ev);
    expect(exported.map((e) => e.id)).toEqual(created.map((e) => e.id));
    expect(exported.map((e) => e.payload.i)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('writes RFC 4180 CSV: header, quoted commas, quotes and newlines, JSON columns', async () => {
    const t = await newTenant();
    const tricky = 'He said "hi", then\r\nleft,\nagain';
    const [e] = await batch(t, [
      { event_type: 'note.added', source: 'manual', timestamp: at(4), payload: { text: tricky, n: 1 }, metadata: { correlation_id: 'a,"b"', user_agent: 'x\ny' } },
    ]);
    await batch(t, [{ event_type: 'tag.added', source: 'cron', timestamp: at(5) }]);
    const res = await call('GET', '/api/v1/events/export?format=csv&from=2025-10-01&to=2025-10-04', { key: t.key });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const rows = parseCsv(await res.text());
    expect(rows).toHaveLength(2);
    const [header, row] = rows as [string[], string[]];
    expect(header).toEqual([
      'id', 'event_type', 'source', 'contact_id', 'session_id', 'message_id', 'correlation_id', 'causation_id', 'stream_id',
      'sequence_number', 'schema_version', 'position', 'timestamp', 'created_at', 'payload', 'metadata',
    ]);
    const rec = Object.fromEntries(header.map((h, i) => [h, row[i]]));
    expect(rec).toMatchObject({ id: e!.id, event_type: 'note.added', source: 'manual', contact_id: '', correlation_id: 'a,"b"', timestamp: at(4), schema_version: '1' });
    expect(JSON.parse(rec.payload!)).toEqual({ text: tricky, n: 1 });
    expect(JSON.parse(rec.metadata!)).toEqual({ correlation_id: 'a,"b"', user_agent: 'x\ny' });
  });

  it('filters like the list, and an empty export is just the header (CSV) or nothing (NDJSON)', async () => {
    const t = await newTenant();
    await seedLog(t);
    const text = await (await call('GET', '/api/v1/events/export?type=tag.added&from=2025-10-01&to=2025-10-08', { key: t.key })).text();
    expect(text.trim().split('\n').map((l) => (JSON.parse(l) as Ev).payload.i)).toEqual([3, 7]);
    const none = await call('GET', '/api/v1/events/export?format=csv&type=note.added', { key: t.key });
    expect(parseCsv(await none.text())).toHaveLength(1);
    expect(await (await call('GET', '/api/v1/events/export?type=note.added', { key: t.key })).text()).toBe('');
  });
});

describe('GET /event-types', () => {
  it('lists the predefined event types and the rule', async () => {
    const t = await newTenant();
    const body = await get<{ pattern: string; max_length: number; sources: string[]; event_types: { type: string; aggregate: string; description: string }[] }>(t, '/api/v1/event-types');
    expect(body.max_length).toBe(100);
    expect(body.sources).toEqual(['system', 'webhook', 'manual', 'cron', 'workflow']);
    expect(body.event_types).toHaveLength(17);
    expect(body.event_types).toContainEqual(expect.objectContaining({ type: 'custom_field.updated', aggregate: 'custom_field', description: 'A custom field changed' }));
    const rule = new RegExp(body.pattern);
    for (const { type } of body.event_types) expect(rule.test(type)).toBe(true);
  });
});
