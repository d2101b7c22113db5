import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { eventCountQuery, eventPageQuery, eventStatsQuery, findExistingSql, getEvent, getStreamEventById, insertEventsStatement, type EventFilters, type EventInsert, type SqlQuery } from '../../src/db/events';
import { positionsOf } from '../../src/db/log';
import { sequencedId } from '../../src/domain/hub-ids';
import { contactStreamId } from '../../src/hub/types';

/** SQLite's plan for a query, one line per step (`SEARCH events USING INDEX events_type (…)`). */
async function plan(q: SqlQuery): Promise<string> {
  const { results } = await env.SHARD_0.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).bind(...q.args).all<{ detail: string }>();
  return results.map((r) => r.detail).join('\n');
}

const T = 'index-test-tenant';
const uuid = '00000000-0000-4000-8000-000000000000';
const after = { timestamp: 1_760_000_000_000, position: 42 };

// Each filter of GET /events and the index that must serve it, with the order straight from the index.
const LIST_CASES: [string, EventFilters, string, string][] = [
  ['no filter', {}, 'events_tenant_time', 'tenant_id=?'],
  ['time range', { start: 1, end: 2 }, 'events_tenant_time', 'tenant_id=? AND timestamp>? AND timestamp<?'],
  ['type', { type: 'message.sent' }, 'events_type', 'tenant_id=? AND event_type=?'],
  ['type + range', { type: 'message.sent', start: 1, end: 2 }, 'events_type', 'tenant_id=? AND event_type=? AND timestamp>? AND timestamp<?'],
  ['source', { source: 'cron' }, 'events_source', 'tenant_id=? AND source=?'],
  ['contact', { contact_id: uuid }, 'events_contact', 'tenant_id=? AND contact_id=?'],
  ['contact + type + range', { contact_id: uuid, type: 'message.sent', start: 1 }, 'events_contact', 'tenant_id=? AND contact_id=? AND timestamp>?'],
  ['session', { session_id: uuid }, 'events_session', 'tenant_id=? AND session_id=?'],
  ['message', { message_id: uuid, start: 1 }, 'events_message', 'tenant_id=? AND message_id=? AND timestamp>?'],
  ['correlation', { correlation_id: 'saga' }, 'events_correlation', 'tenant_id=? AND correlation_id=?'],
];

describe('the events indexes match the queries', () => {
  it.each(LIST_CASES)('list by %s uses its index, with no sort step, on every page and in both orders', async (_name, filters, index, search) => {
    for (const order of ['desc', 'asc'] as const) {
      for (const cursor of [undefined, after]) {
        const p = await plan(eventPageQuery(T, filters, order, 101, cursor));
        expect(p).toContain(`SEARCH events USING INDEX ${index} (${search}`);
        expect(p).not.toMatch(/TEMP B-TREE/);
      }
    }
    // The export adds a snapshot bound on position: same index, still no sort.
    const exp = await plan(eventPageQuery(T, filters, 'asc', 500, after, 1_000_000));
    expect(exp).toMatch(new RegExp(`USING INDEX ${index} `));
    expect(exp).not.toMatch(/TEMP B-TREE/);
    // The total is counted through the same index (from the index alone when one filter is given).
    const covering = Object.keys(filters).filter((k) => k !== 'start' && k !== 'end').length <= 1;
    expect(await plan(eventCountQuery(T, filters))).toContain(`USING ${covering ? 'COVERING ' : ''}INDEX ${index} (${search}`);
  });

  it('count by contact / session reads only its covering index', async () => {
    expect(await plan(eventCountQuery(T, { contact_id: uuid }))).toMatch(/SEARCH events USING COVERING INDEX events_contact \(tenant_id=\? AND contact_id=\?\)/);
    expect(await plan(eventCountQuery(T, { session_id: uuid }))).toMatch(/SEARCH events USING COVERING INDEX events_session \(tenant_id=\? AND session_id=\?\)/);
  });

  it('stats scan only the window, through the tenant-time index', async () => {
    for (const group of ['type', 'source', 'hour'] as const) {
      expect(await plan(eventStatsQuery(T, { since: 1, until: 2 }, group))).toMatch(
        /SEARCH events USING (COVERING )?INDEX events_tenant_time \(tenant_id=\? AND timestamp>\? AND timestamp<\?\)/,
      );
    }
  });

  it('replay detection finds ids and keys through their indexes, not a tenant scan', async () => {
    const p = await plan({ sql: findExistingSql, args: [T, '[]', '[]'] });
    expect(p).toMatch(/SEARCH events USING INDEX events_tenant_id \(tenant_id=\? AND id=\?\)/);
    expect(p).toMatch(/SEARCH events USING INDEX events_idem_any \(tenant_id=\? AND idempotency_key=\?\)/);
    expect(p).not.toMatch(/events_tenant_time/);
  });

  it('the tenant log is the primary key (no rowid, no extra index): GET /log, subscriptions, projections read it in position order', async () => {
    const table = await env.SHARD_0.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'`).first<{ sql: string }>();
    expect(table!.sql).toMatch(/PRIMARY KEY\(`tenant_id`, `position`\)\s*\) WITHOUT ROWID$/);
    const p = await plan({ sql: `SELECT position FROM events WHERE tenant_id = ? AND position > ? ORDER BY position LIMIT 10`, args: [T, 5] });
    expect(p).toMatch(/SEARCH events USING PRIMARY KEY \(tenant_id=\? AND position>\?\)/);
    expect(p).not.toMatch(/TEMP B-TREE/);
  });

  it('the table has exactly these indexes', async () => {
    const { results } = await env.SHARD_0.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all<{ name: string }>();
    expect(results.map((r) => r.name)).toEqual([
      'events_contact', // contact filter, count (and the hub's erase)
      'events_correlation', // correlation filter
      'events_idem_any', // replay detection by key
      'events_message', // message filter
      'events_session', // session filter, count
      'events_source', // source filter
      'events_stream', // stream versions: unique (event store)
      'events_tenant_id', // by id (partial: not a hub's event under an id of its form), replay detection, relay ON CONFLICT
      'events_tenant_idem', // unique keys among events no hub owns
      'events_tenant_time', // unfiltered list/export, ranges, stats
      'events_type', // type filter
    ]);
  });
});

describe('indexes on columns an event often leaves null are partial', () => {
  // D1 bills every index entry as a row written: a row with a null contact, session, message or
  // correlation id writes no entry in these indexes, and `col = ?` still uses them (cases above).
  const PARTIAL: [string, string][] = [
    ['events_contact', 'contact_id IS NOT NULL'],
    ['events_session', 'session_id IS NOT NULL'],
    ['events_message', 'message_id IS NOT NULL'],
    ['events_correlation', 'correlation_id IS NOT NULL'],
    ['contact_events_session', 'session_id IS NOT NULL'],
  ];
  it.each(PARTIAL)('%s is WHERE %s', async (name, where) => {
    const row = await env.SHARD_0.prepare(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`).bind(name).first<{ sql: string }>();
    expect(row?.sql).toContain(`WHERE ${where}`);
  });

});

describe("a hub's event under an id of its form is found by (stream, sequence number), not by an index of ids", () => {
  const insert = (id: string, streamId: string | null, seq: number | null): EventInsert => {
    const now = new Date().toISOString();
    return {
      record: {
        id, event_type: 'note.added', source: 'system', contact_id: null, session_id: null, message_id: null, payload: {}, metadata: {},
        stream_id: streamId, sequence_number: seq, schema_version: 1, timestamp: now, created_at: now,
      } as EventInsert['record'],
      idempotency_key: null,
      request_hash: null,
    };
  };
  const tenant = () => `ids-${crypto.randomUUID()}`;
  const addressed = '01234567-89ab-8cde-8000-000000000000';

  it('the index of ids leaves such an event out: one row written less; a client id or an event no hub owns keeps its entry', async () => {
    const t = tenant();
    const write = async (e: EventInsert) => (await insertEventsStatement(env.SHARD_0, t, [e]).run()).meta.rows_written;
    // The row, events_stream, events_tenant_time, events_type, events_source.
    expect(await write(insert(sequencedId(addressed, 1, 'event'), 'orders-1', 1))).toBe(5);
    // The same, and the index of ids.
    expect(await write(insert(crypto.randomUUID(), 'orders-1', 2))).toBe(6);
    expect(await write(insert(sequencedId(addressed, 9, 'event'), null, null))).toBe(5);
    const index = await env.SHARD_0.prepare(`SELECT sql FROM sqlite_master WHERE name = 'events_tenant_id'`).first<{ sql: string }>();
    expect(index!.sql).toMatch(/WHERE stream_id IS NULL OR substr\(id, 15, 1\) <> '8'$/);
  });

  it('a replayed relay inserts nothing, and finds what is there through indexes, not a scan', async () => {
    const t = tenant();
    const rows = [insert(sequencedId(addressed, 1, 'event'), 'orders-2', 1), insert(crypto.randomUUID(), 'orders-2', 2), insert(crypto.randomUUID(), null, null)];
    await insertEventsStatement(env.SHARD_0, t, rows).run();
    const again = await insertEventsStatement(env.SHARD_0, t, rows).run();
    expect(again.meta.rows_written).toBe(0);
    const n = await env.SHARD_0.prepare(`SELECT count(*) AS n, max(position) AS p FROM events WHERE tenant_id = ?`).bind(t).first<{ n: number; p: number }>();
    expect(n).toEqual({ n: 3, p: 3 });
    const stmt = insertEventsStatement(env.SHARD_0, t, rows) as unknown as { statement: string };
    const { results } = await env.SHARD_0.prepare(`EXPLAIN QUERY PLAN ${stmt.statement}`).bind(t, '[]').all<{ detail: string }>();
    const p = results.map((r) => r.detail).join('\n');
    expect(p).toMatch(/SEARCH e USING (COVERING )?INDEX events_tenant_id \(tenant_id=\? AND id=\?\)/);
    expect(p).toMatch(/SEARCH e USING (COVERING )?INDEX events_stream \(tenant_id=\? AND stream_id=\? AND stream_version=\?\)/);
  });

  it('reads it by the hub and sequence number its id names or, for an id that carries none of the stream, by walking the stream; positions by sequence number', async () => {
    const t = tenant();
    const minted = sequencedId(addressed, 1, 'event');
    const early = '01234567-89ab-8cde-8000-00000000abcd'; // the hub's form, carrying no number of this stream
    await insertEventsStatement(env.SHARD_0, t, [insert(minted, 'orders-3', 1), insert(early, 'orders-3', 2)]).run();
    // Before the hub's key is registered, the minted id names no row; after, getEvent finds it in one query.
    expect(await getEvent(env.SHARD_0, t, minted)).toBeNull();
    await env.SHARD_0.prepare(`INSERT INTO hub_keys (tenant_id, hash, owner) VALUES (?, ?, ?)`).bind(t, '0123456789abcde', 'stream:orders-3').run();
    expect((await getEvent(env.SHARD_0, t, minted))?.id).toBe(minted);
    expect(await getEvent(env.SHARD_0, t, early)).toBeNull();
    expect((await getStreamEventById(env.SHARD_0, t, 'orders-3', early))?.id).toBe(early);
    // A contact's hub: its stream is contact-<id> (ownerStreamSql agrees with ownerStreamId).
    const contact = crypto.randomUUID();
    const t2 = tenant();
    const onContact = sequencedId(addressed, 4, 'event');
    await insertEventsStatement(env.SHARD_0, t2, [insert(onContact, contactStreamId(contact), 4)]).run();
    await env.SHARD_0.prepare(`INSERT INTO hub_keys (tenant_id, hash, owner) VALUES (?, ?, ?)`).bind(t2, '0123456789abcde', `contact:${contact}`).run();
    expect((await getEvent(env.SHARD_0, t2, onContact))?.id).toBe(onContact);
    const positions = await positionsOf(env.SHARD_0, t, 'orders-3', [{ id: minted, sequence_number: 1 }, { id: early, sequence_number: 2 }]);
    expect([...positions]).toEqual([[minted, 1], [early, 2]]);
  });
});
