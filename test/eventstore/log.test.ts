import { describe, expect, it } from 'vitest';
import { call, json, newTenant, uuid } from '../support/api';
import { readSse } from './sse';

interface LogEvent {
  position: number;
  id: string;
  event_type: string;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  schema_version: number;
}
interface LogPage {
  events: LogEvent[];
  next_after: number;
}

async function appendMany(key: string, stream: string, n: number, type = 'ledger.posted', offset = 0): Promise<void> {
  const r = await call('POST', `/api/v1/streams/${stream}/events?wait=position`, {
    key,
    body: { events: Array.from({ length: n }, (_, i) => ({ event_type: type, payload: { i: offset + i } })) },
  });
  expect(r.status).toBe(201);
}

const readLog = async (key: string, query: string) => json<LogPage>(await call('GET', `/api/v1/log?${query}`, { key }));

describe('the global log', () => {
  it('pages forward by position, filters by type, and stays within the tenant', async () => {
    const t = await newTenant();
    const other = await newTenant();
    await appendMany(t.key, `ledger-${uuid()}`, 12);
    await appendMany(other.key, `ledger-${uuid()}`, 5);
    await appendMany(t.key, `audit-${uuid()}`, 3, 'audit.checked');
    const all = await readLog(t.key, 'after=0&limit=1000');
    expect(all.events).toHaveLength(15);
    const positions = all.events.map((e) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(new Set(positions).size).toBe(15);
    expect(positions).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    const mine = new Set(all.events.map((e) => e.id));

    const collected: number[] = [];
    let after = 0;
    for (let i = 0; i < 10; i += 1) {
      const p = await readLog(t.key, `after=${after}&limit=4`);
      collected.push(...p.events.map((e) => e.position));
      if (p.events.length === 0) break;
      after = p.next_after;
    }
    expect(collected).toEqual(positions);

    const audits = await readLog(t.key, 'types=audit.*&limit=2');
    expect(audits.events.map((e) => e.event_type)).toEqual(['audit.checked', 'audit.checked']);
    const rest = await readLog(t.key, `types=audit.checked&after=${audits.next_after}`);
    expect(rest.events).toHaveLength(1);
    expect(rest.next_after).toBe(positions[positions.length - 1]);
    const none = await readLog(t.key, `after=${rest.next_after}&types=audit.*`);
    expect(none.events).toHaveLength(0);
    expect(none.next_after).toBe(rest.next_after);

    const theirs = await readLog(other.key, 'after=0');
    expect(theirs.events).toHaveLength(5);
    // Positions are per tenant: each log starts at 1, and neither sees the other's events.
    expect(theirs.events.map((e) => e.position)).toEqual([1, 2, 3, 4, 5]);
    expect(theirs.events.some((e) => mine.has(e.id))).toBe(false);
  });

  it('serves each event exactly as the stream read does (same JSON, plus the position)', async () => {
    const t = await newTenant();
    const stream = `ledger-${uuid()}`;
    const r = await call('POST', `/api/v1/streams/${stream}/events?wait=position`, {
      key: t.key,
      body: {
        events: [
          { event_type: 'ledger.posted', payload: { s: 'quote " and \\ and ünïcode', n: 1.5, nested: { a: [1, null, true] } }, timestamp: '2026-03-04T05:06:07.089+00:00', metadata: { user_id: 'u1' } },
          { event_type: 'ledger.posted', source: 'cron' },
        ],
      },
    });
    expect(r.status).toBe(201);
    const fromStream = await json<{ events: Record<string, unknown>[] }>(await call('GET', `/api/v1/streams/${stream}`, { key: t.key }));
    const fromLog = await readLog(t.key, 'after=0');
    // A stream read adds the stream `version` (the sequence number under the stream's own name).
    expect(fromStream.events.map((e) => e.version)).toEqual(fromStream.events.map((e) => e.sequence_number));
    expect(fromLog.events).toEqual(fromStream.events.map(({ version: _version, ...e }) => e));
    expect(fromLog.events[0]!.payload).toEqual({ s: 'quote " and \\ and ünïcode', n: 1.5, nested: { a: [1, null, true] } });
    expect((fromLog.events[0] as unknown as { timestamp: string }).timestamp).toBe('2026-03-04T05:06:07.089Z');
  });

  it('serves a page larger than D1\'s 2 MB value limit (chunked concatenation), in order', async () => {
    const t = await newTenant();
    const stream = `blob-${uuid()}`;
    const big = 'x'.repeat(60_000);
    for (let r = 0; r < 3; r += 1) {
      const res = await call('POST', `/api/v1/streams/${stream}/events?wait=position`, {
        key: t.key,
        body: { events: Array.from({ length: 15 }, (_, i) => ({ event_type: 'blob.stored', payload: { i: r * 15 + i, big } })) },
      });
      expect(res.status).toBe(201);
    }
    const page = await readLog(t.key, 'after=0&limit=100');
    expect(page.events.map((e) => e.payload.i)).toEqual(Array.from({ length: 45 }, (_, i) => i));
    expect(page.events.every((e) => e.payload.big === big)).toBe(true);
  });

  it('returns a saga by correlation id, in order, with causation links', async () => {
    const t = await newTenant();
    const corr = `saga-${uuid()}`;
    const post = (stream: string, type: string, causation?: string) =>
      call('POST', `/api/v1/streams/${stream}/events?wait=position`, {
        key: t.key,
        headers: { 'x-correlation-id': corr, ...(causation ? { 'x-causation-id': causation } : {}) },
        body: { events: [{ event_type: type }] },
      }).then((r) => json<{ events: { id: string }[] }>(r));
    const a = await post(`order-${uuid()}`, 'order.placed');
    const b = await post(`payment-${uuid()}`, 'payment.captured', a.events[0]!.id);
    await post(`shipment-${uuid()}`, 'shipment.created', b.events[0]!.id);
    await appendMany(t.key, `noise-${uuid()}`, 3, 'noise.made');
    const saga = await readLog(t.key, `correlation_id=${corr}`);
    expect(saga.events.map((e) => e.event_type)).toEqual(['order.placed', 'payment.captured', 'shipment.created']);
    expect(saga.events[1]!.metadata.causation_id).toBe(saga.events[0]!.id);
    expect(saga.events[2]!.metadata.causation_id).toBe(saga.events[1]!.id);
  });

  it('rejects bad query parameters', async () => {
    const t = await newTenant();
    const r = await call('GET', '/api/v1/log?after=-1&limit=0&types=Bad!', { key: t.key });
    expect(r.status).toBe(422);
    const p = await json<{ errors: { path: string }[] }>(r);
    expect(p.errors.map((e) => e.path).sort()).toEqual(['query.after', 'query.limit', 'query.types']);
    expect((await call('GET', '/api/v1/log')).status).toBe(401);
  });
});

describe('the log as Server-Sent Events', () => {
  it('catches up, then resumes by Last-Event-ID with live events, without gap or duplicate', async () => {
    const t = await newTenant();
    const stream = `ledger-${uuid()}`;
    await appendMany(t.key, stream, 30);
    const first = await call('GET', '/api/v1/log/stream?after=0&max_events=10', { key: t.key });
    expect(first.headers.get('content-type')).toContain('text/event-stream');
    const m1 = (await readSse(first)).filter((m) => m.data !== null);
    expect(m1).toHaveLength(10);
    expect(m1.every((m) => m.id === String((JSON.parse(m.data!) as LogEvent).position))).toBe(true);
    const lastId = m1[m1.length - 1]!.id!;

    // Reconnect with Last-Event-ID (it wins over ?after), and append more while the stream is open.
    const resumed = call('GET', '/api/v1/log/stream?after=0&max_events=25&max_seconds=10', { key: t.key, headers: { 'last-event-id': lastId } });
    await new Promise((r) => setTimeout(r, 300));
    await appendMany(t.key, stream, 5, 'ledger.posted', 30);
    const m2 = (await readSse(await resumed)).filter((m) => m.data !== null);
    const items = [...m1, ...m2].map((m) => (JSON.parse(m.data!) as LogEvent).payload.i);
    expect(items).toEqual(Array.from({ length: 35 }, (_, i) => i));
    const ids = [...m1, ...m2].map((m) => Number(m.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('sends a retry hint, closes after max_seconds, and moves Last-Event-ID past filtered-out events', async () => {
    const t = await newTenant();
    await appendMany(t.key, `ledger-${uuid()}`, 3);
    await appendMany(t.key, `audit-${uuid()}`, 2, 'audit.checked');
    const started = Date.now();
    const res = await call('GET', '/api/v1/log/stream?after=0&types=ledger.*&max_seconds=1', { key: t.key });
    const msgs = await readSse(res);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(msgs[0]!.retry).toBe(1000);
    const data = msgs.filter((m) => m.data !== null);
    expect(data).toHaveLength(3);
    const head = (await readLog(t.key, 'after=0')).events.at(-1)!.position;
    const lastId = msgs.filter((m) => m.id !== null).at(-1)!.id;
    expect(Number(lastId)).toBe(head);
    expect((await call('GET', '/api/v1/log/stream', { key: t.key, headers: { 'last-event-id': 'abc' } })).status).toBe(422);
  });

  it('without after or Last-Event-ID starts at the head (live only)', async () => {
    const t = await newTenant();
    await appendMany(t.key, `ledger-${uuid()}`, 4);
    const open = call('GET', '/api/v1/log/stream?max_events=2&max_seconds=10', { key: t.key });
    await new Promise((r) => setTimeout(r, 300));
    await appendMany(t.key, `ledger-${uuid()}`, 2, 'ledger.posted', 100);
    const msgs = (await readSse(await open)).filter((m) => m.data !== null);
    expect(msgs.map((m) => (JSON.parse(m.data!) as LogEvent).payload.i)).toEqual([100, 101]);
  });
});
