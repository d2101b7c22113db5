import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { sequenceOfId } from '../../src/domain/hub-ids';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import type { TimelineStore } from '../../src/hub/timeline-store';
import { call, eventually, json, newTenant, shardOf, uuid, type Tenant } from '../support/api';

// The hub's rows per append (src/hub/storage.ts, meta.ts, outbox.ts): what each rule saves is a row
// written, and each test below fails without its rule.

const entry = (over: Record<string, unknown> = {}) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: 'a note', ...over });

async function addEntry(t: Tenant, contact: string, over: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: entry(over), headers });
  expect(res.status).toBeLessThan(300);
  return json<{ id: string; sequence_number: number }>(res);
}

type Sql = SqlStorage;
const inHub = <T>(t: Tenant, contact: string, fn: (sql: Sql) => T) =>
  runInDurableObject(contactHubStub(env, t.id, contact), (_hub: StreamHub, state) => fn(state.storage.sql));

const indexSql = (sql: Sql, table: string) =>
  sql.exec<{ name: string; sql: string | null }>(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name`, table).toArray();

/** The schema of hubs stored before these rules (inline UNIQUE on usually-null columns, AUTOINCREMENT). */
const OLD_SCHEMA = [
  `DROP TABLE log`,
  `DROP TABLE timeline`,
  `DROP TABLE outbox`,
  `CREATE TABLE log (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, idempotency_key TEXT UNIQUE, request_hash TEXT NOT NULL,
     event_type TEXT NOT NULL, timestamp INTEGER NOT NULL, body TEXT NOT NULL)`,
  `CREATE TABLE timeline (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, idempotency_key TEXT UNIQUE, request_hash TEXT,
     origin_event_id TEXT UNIQUE, session_id TEXT, event_type TEXT NOT NULL, category TEXT NOT NULL, is_realtime INTEGER NOT NULL,
     delivered INTEGER NOT NULL, read INTEGER NOT NULL, visible_to_client INTEGER NOT NULL, visible_to_agent INTEGER NOT NULL,
     expires_at INTEGER, occurred_at INTEGER NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL)`,
  `CREATE INDEX timeline_session ON timeline (session_id, seq)`,
  `CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL, d1 INTEGER NOT NULL,
     wq INTEGER NOT NULL, aq INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
  // A counter above every stored row, as AUTOINCREMENT leaves it after deletes.
  `INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', 500)`,
];

describe('hub storage: usually-null columns are indexed only where set', () => {
  it('a new hub has partial indexes for idempotency keys and sessions, and they still refuse a repeated key', async () => {
    const t = await newTenant();
    const contact = uuid();
    await addEntry(t, contact);
    const { log, timeline } = await inHub(t, contact, (sql) => ({ log: indexSql(sql, 'log'), timeline: indexSql(sql, 'timeline') }));
    // No automatic index: no inline UNIQUE on idempotency_key or origin_event_id, and none on the id
    // (test/hub/record-ids.test.ts).
    expect(log.filter((i) => i.sql === null)).toHaveLength(0);
    expect(timeline.filter((i) => i.sql === null)).toHaveLength(0);
    expect(log.find((i) => i.name === 'log_idempotency')?.sql).toContain('WHERE idempotency_key IS NOT NULL');
    expect(timeline.find((i) => i.name === 'timeline_idempotency')?.sql).toContain('WHERE idempotency_key IS NOT NULL');
    expect(timeline.find((i) => i.name === 'timeline_by_session')?.sql).toContain('WHERE session_id IS NOT NULL');
    expect(timeline.map((i) => i.name)).not.toContain('timeline_session');

    // The key is still unique: a replay answers the first entry.
    const headers = { 'idempotency-key': `k-${uuid()}` };
    const first = await addEntry(t, contact, { title: 'keyed' }, headers);
    const again = await addEntry(t, contact, { title: 'keyed' }, headers);
    expect(again.id).toBe(first.id);
    const duplicate = await inHub(t, contact, (sql) => {
      try {
        sql.exec(`INSERT INTO log (seq, id, idempotency_key, request_hash, event_type, timestamp, body) VALUES (900, 'a', 'same', '', 't', 0, '{}')`);
        sql.exec(`INSERT INTO log (seq, id, idempotency_key, request_hash, event_type, timestamp, body) VALUES (901, 'b', 'same', '', 't', 0, '{}')`);
        return 'inserted';
      } catch (e) {
        return String(e);
      } finally {
        sql.exec(`DELETE FROM log WHERE seq >= 900`);
      }
    });
    expect(duplicate).toMatch(/UNIQUE constraint failed/);
  });

  it('the entry a log event derived is found by its sequence number (no origin_event_id index)', async () => {
    const t = await newTenant();
    const contact = uuid();
    const body = { event_type: 'note.added', source: 'manual', contact_id: contact, payload: { text: 'hello' } };
    const headers = { 'idempotency-key': `k-${uuid()}` };
    const first = await json<{ id: string }>(await call('POST', '/api/v1/events', { key: t.key, body, headers }));
    const replay = await call('POST', '/api/v1/events', { key: t.key, body, headers });
    expect(replay.status).toBeLessThan(300);
    // What a replay answers as the event's derived entry (StreamWriter.appendEvents).
    const derived = await runInDurableObject(contactHubStub(env, t.id, contact), (hub: StreamHub) =>
      (hub as unknown as { timeline: TimelineStore }).timeline.derivedFrom(first.id),
    );
    expect(derived).toMatchObject({ event_type: 'note_added', origin_event_id: first.id });
    expect(await inHub(t, contact, (sql) => indexSql(sql, 'timeline').map((i) => i.name))).not.toContain('sqlite_autoindex_timeline_3');
  });
});

describe('hub storage: the sequence counter', () => {
  it('is stored by a delete, not by every append: deleting the newest entry never hands its number out again', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (const n of [1, 2, 3]) expect((await addEntry(t, contact)).sequence_number).toBe(n);
    // Appends store no counter row: the counter is the highest stored row.
    expect(await inHub(t, contact, (sql) => sql.exec(`SELECT 1 FROM meta WHERE key = 'seq'`).toArray().length)).toBe(0);
    const newest = await addEntry(t, contact);
    expect(newest.sequence_number).toBe(4);
    expect((await call('DELETE', `/api/v1/contact-events/${newest.id}`, { key: t.key })).status).toBe(204);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    expect((await addEntry(t, contact)).sequence_number).toBe(5);
  });
});

describe('hub storage: a hub stored with the schema of before', () => {
  it('keeps appending, deduplicating and relaying, with outbox ids above its AUTOINCREMENT counter', async () => {
    const t = await newTenant();
    const contact = uuid();
    // A hub with nothing stored yet, its tables replaced by those of before.
    await inHub(t, contact, (sql) => {
      for (const s of OLD_SCHEMA) sql.exec(s);
    });
    await evictDurableObject(contactHubStub(env, t.id, contact));

    const headers = { 'idempotency-key': `k-${uuid()}` };
    const keyed = { title: 'old hub', session_id: uuid() };
    const a = await addEntry(t, contact, keyed, headers);
    const again = await addEntry(t, contact, keyed, headers);
    expect(again.id).toBe(a.id);
    const b = await addEntry(t, contact);
    expect(b.sequence_number).toBe(a.sequence_number + 1);
    await eventually(async () => {
      const row = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND id IN (?, ?)`).bind(t.id, a.id, b.id).first<{ n: number }>();
      return row?.n === 2;
    });

    const state = await inHub(t, contact, (sql) => ({
      log: indexSql(sql, 'log').map((i) => i.name),
      timeline: indexSql(sql, 'timeline').map((i) => i.name),
      sequence: sql.exec<{ seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).one().seq,
    }));
    // No second index for the columns the old tables already index inline.
    expect(state.log).not.toContain('log_idempotency');
    expect(state.timeline).not.toContain('timeline_idempotency');
    expect(state.timeline).toContain('timeline_by_session');
    expect(state.sequence).toBeGreaterThan(500);

    // Its UNIQUE index on id finds every id: no hub_ids rows, even for the id given before registration.
    for (const e of [a, b]) expect((await call('GET', `/api/v1/contact-events/${e.id}`, { key: t.key })).status).toBe(200);
    expect(await inHub(t, contact, (sql) => sql.exec(`SELECT 1 FROM hub_ids`).toArray().length)).toBe(0);
    // An erase recreates the tables as new hubs have them, and the ids after it are found by their number.
    expect((await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(200);
    const c = await addEntry(t, contact);
    const d = await addEntry(t, contact);
    expect(await inHub(t, contact, (sql) => indexSql(sql, 'timeline').filter((i) => i.sql === null))).toEqual([]);
    expect(sequenceOfId(d.id)).toBe(d.sequence_number);
    for (const e of [c, d]) expect((await call('GET', `/api/v1/contact-events/${e.id}`, { key: t.key })).status).toBe(200);
  });
});

describe('hub storage: an erase and the owner index', () => {
  it('removes the owner rows of client-chosen ids that never reached D1 (no index by owner finds them)', async () => {
    const t = await newTenant();
    const contact = uuid();
    const relayed = await addEntry(t, contact, { id: uuid() });
    await eventually(async () => {
      const row = await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND id = ?`).bind(t.id, relayed.id).first<{ n: number }>();
      return row?.n === 1;
    });
    // This instance relays nothing from now on: the next entry's owner row is written, its D1 row is not.
    await runInDurableObject(contactHubStub(env, t.id, contact), (hub: StreamHub) => hub.testHooks.stallRelay());
    const pending = await addEntry(t, contact, { id: uuid() });
    const owners = async () => (await shardOf(t.id)).prepare(`SELECT id FROM id_owners WHERE tenant_id = ? ORDER BY id`).bind(t.id).all<{ id: string }>();
    expect((await owners()).results.map((r) => r.id).sort()).toEqual([relayed.id, pending.id].sort());
    expect((await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(200);
    expect((await owners()).results).toEqual([]);
  });
});
