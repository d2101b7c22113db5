import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { queryRollups, rollupStatements } from '../../src/db/analytics';
import { deleteContactEventsStatements, upsertContactEventsStatement } from '../../src/db/contact-events';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { entryOwners, recordOwnersStatement } from '../../src/db/owners';
import { staleRelayOutboxSql } from '../../src/db/events';
import { rollupItems, type RollupItem } from '../../src/domain/analytics';

// D1 bills every row and index entry written. These tables are read only by their primary key, so
// they are WITHOUT ROWID (migrations/shard/0000_shard.sql): the key is the row, with no separate key index to write.
const tenant = () => `lean-${crypto.randomUUID()}`;

describe('rows written per marker and per owned id', () => {
  it('an owned id writes one row (a rowid table with an owner index wrote three)', async () => {
    const t = tenant();
    const ids = [
      { kind: 'event' as const, id: crypto.randomUUID() },
      { kind: 'entry' as const, id: crypto.randomUUID() },
    ];
    const r = await recordOwnersStatement(env.SHARD_0, t, { kind: 'contact', id: crypto.randomUUID() }, ids).run();
    expect(r.meta.rows_written).toBe(ids.length);
    // A replay writes nothing.
    const again = await recordOwnersStatement(env.SHARD_0, t, { kind: 'contact', id: crypto.randomUUID() }, ids).run();
    expect(again.meta.rows_written).toBe(0);
  });

  it("an analytics marker is one row (a rowid table wrote two), and a redelivered item counts nothing", async () => {
    const t = tenant();
    const hour = Date.UTC(2026, 0, 1, 10);
    const items: RollupItem[] = [1, 2, 3].map(() => {
      const id = crypto.randomUUID();
      return { tenant_id: t, event_id: id, entry_id: null, marker: id, hour, day: Date.UTC(2026, 0, 1), event_type: 'x.y', source: 's', entry_type: '', entry_source: '', category: '', events: 1, entries: 0 };
    });
    const first = await env.SHARD_0.batch(rollupStatements(env.SHARD_0, items, Date.now()));
    expect(first[2]!.meta.rows_written).toBe(items.length);
    const again = await env.SHARD_0.batch(rollupStatements(env.SHARD_0, items, Date.now()));
    expect(again.map((r) => r.meta.rows_written)).toEqual([0, 0, 0]);
    const row = await env.SHARD_0.prepare(`SELECT events AS n FROM analytics_hourly WHERE tenant_id = ? AND hour = ?`).bind(t, hour).first<{ n: number }>();
    expect(row?.n).toBe(3);
  });

  it("a batch's entries are summed before D1 reads them: one JSON row per marker, bucket and key, the counts exact", async () => {
    const t = tenant();
    const marker = crypto.randomUUID();
    const at = (h: number) => `2026-01-01T${String(h).padStart(2, '0')}:10:00.000Z`;
    // 100 entries under one marker: 60 notes at 10:xx, 30 notes at 11:xx, 10 calls at 11:xx.
    const entries = Array.from({ length: 100 }, (_, i) => ({
      id: crypto.randomUUID(),
      event_type: i < 90 ? 'note_added' : 'call_logged',
      source: 'agent',
      category: i < 90 ? 'note' : 'call',
      occurred_at: at(i < 60 ? 10 : 11),
    }));
    const items = rollupItems({ kind: 'contact_events', tenant_id: t, marker, contact_events: entries } as never)!;
    expect(items).toHaveLength(100);
    const run = () => env.SHARD_0.batch(rollupStatements(env.SHARD_0, items, Date.now()));
    const first = await run();
    // Three rows to read out of the JSON, not 100: json_each's rows count as rows read.
    expect(first[0]!.meta.rows_read).toBeLessThan(20);
    expect(first[0]!.meta.rows_written).toBe(3);
    expect(first[2]!.meta.rows_written).toBe(1);
    const rows = await env.SHARD_0.prepare(`SELECT hour, entry_type, entries FROM analytics_hourly WHERE tenant_id = ? ORDER BY hour, entry_type`).bind(t).all();
    const h = (n: number) => Date.UTC(2026, 0, 1, n);
    expect(rows.results).toEqual([
      { hour: h(10), entry_type: 'note_added', entries: 60 },
      { hour: h(11), entry_type: 'call_logged', entries: 10 },
      { hour: h(11), entry_type: 'note_added', entries: 30 },
    ]);
    // Redelivered: the marker is there, nothing counts again.
    const again = await run();
    expect(again.map((r) => r.meta.rows_written)).toEqual([0, 0, 0]);
    const total = await env.SHARD_0.prepare(`SELECT sum(entries) AS n FROM analytics_hourly WHERE tenant_id = ?`).bind(t).first<{ n: number }>();
    expect(total?.n).toBe(100);
  });

  it('a log event and the entry it derived are counted in one rollup row, one row written', async () => {
    const t = tenant();
    const at = '2026-01-01T10:20:00.000Z';
    const event = { id: crypto.randomUUID(), event_type: 'invoice.paid', source: 'api', timestamp: at };
    const derived = { id: crypto.randomUUID(), event_type: 'payment_received', source: 'system', category: 'billing', occurred_at: at } as const;
    const items = rollupItems({ kind: 'event', tenant_id: t, event, derived } as never)!;
    expect(items).toHaveLength(1);
    const [hourly] = await env.SHARD_0.batch(rollupStatements(env.SHARD_0, items, Date.now()));
    expect(hourly!.meta.rows_written).toBe(1);
    const rows = await env.SHARD_0.prepare(`SELECT event_type, source, entry_type, entry_source, category, events, entries FROM analytics_hourly WHERE tenant_id = ?`).bind(t).all();
    expect(rows.results).toEqual([{ event_type: 'invoice.paid', source: 'api', entry_type: 'payment_received', entry_source: 'system', category: 'billing', events: 1, entries: 1 }]);
    // Each kind reads its own columns: the event under its type, the entry under its own type and category.
    const hourMs = Date.UTC(2026, 0, 1, 10);
    const range = { from: hourMs, to: hourMs + 3_600_000 };
    expect(await queryRollups(env.SHARD_0, t, range, 'type', { kind: 'event' })).toEqual([{ key: 'invoice.paid', count: 1 }]);
    expect(await queryRollups(env.SHARD_0, t, range, 'category', { kind: 'event' })).toEqual([{ key: '', count: 1 }]);
    expect(await queryRollups(env.SHARD_0, t, range, 'type', { kind: 'contact_event', category: 'billing' })).toEqual([{ key: 'payment_received', count: 1 }]);
    expect(await queryRollups(env.SHARD_0, t, range, 'source', { kind: 'contact_event' })).toEqual([{ key: 'system', count: 1 }]);
    expect(await queryRollups(env.SHARD_0, t, range, 'type', { kind: 'event', category: 'billing' })).toEqual([]);
  });

  it("an id's owner row leaves with its event or entry (no index by owner to find it later)", async () => {
    const t = tenant();
    const event = crypto.randomUUID();
    const entry = crypto.randomUUID();
    await recordOwnersStatement(env.SHARD_0, t, { kind: 'contact', id: crypto.randomUUID() }, [
      { kind: 'event', id: event },
      { kind: 'entry', id: entry },
    ]).run();
    await env.SHARD_0.prepare(
      `INSERT INTO events (tenant_id, position, id, event_type, source, payload, metadata, timestamp, created_at, schema_version) VALUES (?, 1, ?, 'x.y', 's', '{}', '{}', 0, 0, 1)`,
    )
      .bind(t, event)
      .run();
    const owners = () => env.SHARD_0.prepare(`SELECT kind FROM id_owners WHERE tenant_id = ? ORDER BY kind`).bind(t).all<{ kind: string }>();
    expect((await owners()).results.map((r) => r.kind)).toEqual(['entry', 'event']);
    await env.SHARD_0.prepare(`DELETE FROM events WHERE tenant_id = ? AND id = ?`).bind(t, event).run();
    expect((await owners()).results.map((r) => r.kind)).toEqual(['entry']);
    const names = await env.SHARD_0.prepare(`SELECT name FROM sqlite_master WHERE type IN ('trigger', 'index') AND tbl_name IN ('events', 'contact_events', 'id_owners')`).all<{ name: string }>();
    expect(names.results.map((r) => r.name)).toEqual(expect.arrayContaining(['events_owner_ad', 'contact_events_owner_ad']));
    expect(names.results.map((r) => r.name)).not.toContain('id_owners_owner');
  });

  it('both tables are WITHOUT ROWID', async () => {
    for (const name of ['id_owners', 'processed_events']) {
      const row = await env.SHARD_0.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`).bind(name).first<{ sql: string }>();
      expect(row?.sql).toMatch(/WITHOUT ROWID\s*$/);
    }
  });
});

describe('rows written per event no hub owns (relay_outbox) and per webhook attempt', () => {
  it('one row per event (a rowid table with a time index wrote three), WITHOUT ROWID and no other index', async () => {
    const t = tenant();
    const id = crypto.randomUUID();
    const insert = await env.SHARD_0.prepare(`INSERT INTO relay_outbox (tenant_id, event_id, created_at) VALUES (?, ?, ?)`).bind(t, id, 1).run();
    expect(insert.meta.rows_written).toBe(1);
    const table = await env.SHARD_0.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'relay_outbox'`).first<{ sql: string }>();
    expect(table!.sql).toMatch(/WITHOUT ROWID\s*$/);
    const indexes = await env.SHARD_0.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'relay_outbox' AND name NOT LIKE 'sqlite_%'`).all();
    expect(indexes.results).toEqual([]);
    // The tenant fences were made again with the table.
    const fences = await env.SHARD_0.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'relay_outbox' ORDER BY name`).all<{ name: string }>();
    expect(fences.results.map((r) => r.name)).toEqual(['fence_relay_outbox_delete', 'fence_relay_outbox_insert', 'fence_relay_outbox_update']);
    const del = await env.SHARD_0.prepare(`DELETE FROM relay_outbox WHERE tenant_id = ? AND event_id = ?`).bind(t, id).run();
    expect(del.meta.rows_written).toBe(1);
  });

  it('a webhook attempt is one row (WITHOUT ROWID; a rowid table wrote two)', async () => {
    const t = tenant();
    const r = await env.SHARD_0.prepare(
      `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, subscription_id, event_id, status_code, duration_ms, response_body, started_at)
       VALUES (?, ?, 1, 'sub', 'evt', 200, 5, ?, 1)`,
    )
      .bind(t, crypto.randomUUID(), 'x'.repeat(4096))
      .run();
    expect(r.meta.rows_written).toBe(1);
    const table = await env.SHARD_0.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'webhook_attempts'`).first<{ sql: string }>();
    expect(table!.sql).toMatch(/WITHOUT ROWID\s*$/);
    const fences = await env.SHARD_0.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'webhook_attempts' ORDER BY name`).all<{ name: string }>();
    expect(fences.results.map((x) => x.name)).toEqual(['fence_webhook_attempts_delete', 'fence_webhook_attempts_insert', 'fence_webhook_attempts_update']);
  });

  it('the sweep reads the outbox and finds each event by its id, never scanning the events', async () => {
    const { results } = await env.SHARD_0.prepare(`EXPLAIN QUERY PLAN ${staleRelayOutboxSql}`).bind(1, 10).all<{ detail: string }>();
    const plan = results.map((r) => r.detail).join('\n');
    expect(plan).toMatch(/^SCAN o$/m);
    expect(plan).toMatch(/SEARCH e USING INDEX events_tenant_id \(tenant_id=\? AND id=\?\)/);
    expect(plan).not.toMatch(/SCAN e/);
  });
});

describe('rows written per receipt', () => {
  it("a receipt updates the entry's row alone; a changed title still rewrites its full-text row", async () => {
    const t = tenant();
    const now = new Date().toISOString();
    const record: TimelineEntryRecord = {
      id: crypto.randomUUID(), contact_id: crypto.randomUUID(), sequence_number: 1, session_id: null, event_type: 'note_added', category: 'note', priority: 'normal',
      title: 'quarterly plan', description: null, payload: {}, metadata: {}, source: 'agent', triggered_by: null, integration_source: null, is_realtime: true,
      delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
      occurred_at: now, created_at: now, origin_event_id: null,
    };
    const upsert = (r: TimelineEntryRecord, revision: number) => upsertContactEventsStatement(env.SHARD_0, t, [{ record: r, revision }]).run();
    await upsert(record, 1);
    // Read: the row changes, its title does not: one row written (the full-text row was rewritten too, two more).
    const read = await upsert({ ...record, read: true, read_at: now }, 2);
    expect(read.meta.rows_written).toBe(1);
    const found = (word: string) =>
      env.SHARD_0.prepare(`SELECT count(*) AS n FROM contact_events_fts WHERE contact_events_fts MATCH ?`).bind(word).first<{ n: number }>();
    const renamed = await upsert({ ...record, read: true, read_at: now, title: 'yearly budget' }, 3);
    expect(renamed.meta.rows_written).toBeGreaterThan(1);
    expect((await found('yearly'))?.n).toBe(1);
    expect((await found('quarterly'))?.n).toBe(0);
  });
});

describe('contact_events keyed by (contact_id, sequence_number)', () => {
  const entry = (contactId: string, seq: number, id = crypto.randomUUID()): TimelineEntryRecord => {
    const now = new Date().toISOString();
    return {
      id, contact_id: contactId, sequence_number: seq, session_id: null, event_type: 'note_added', category: 'note', priority: 'normal',
      title: 'call back', description: null, payload: {}, metadata: {}, source: 'agent', triggered_by: null, integration_source: null, is_realtime: true,
      delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
      occurred_at: now, created_at: now, origin_event_id: null,
    };
  };
  const ids = (t: string) => env.SHARD_0.prepare(`SELECT id FROM contact_events WHERE tenant_id = ? ORDER BY contact_id, sequence_number`).bind(t).all<{ id: string }>().then((r) => r.results.map((x) => x.id));

  it('an entry writes its row, four indexes and its full-text row: no index of ids', async () => {
    const t = tenant();
    const r = await upsertContactEventsStatement(env.SHARD_0, t, [{ record: entry(crypto.randomUUID(), 1), revision: 1 }]).run();
    // The row, contact_events_seq, _type, _category, _tenant_time, and the full-text row.
    expect(r.meta.rows_written).toBe(6);
    const indexes = await env.SHARD_0.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contact_events'`).all<{ name: string }>();
    expect(indexes.results.map((x) => x.name)).not.toContain('sqlite_autoindex_contact_events_1');
  });

  it('a replay changes nothing, and another id at a stored key is refused', async () => {
    const t = tenant();
    const contact = crypto.randomUUID();
    const first = entry(contact, 1);
    await upsertContactEventsStatement(env.SHARD_0, t, [{ record: first, revision: 1 }]).run();
    const replay = await upsertContactEventsStatement(env.SHARD_0, t, [{ record: first, revision: 1 }]).run();
    expect(replay.meta.rows_written).toBe(0);
    // Refused, as the key on (tenant_id, id) refused it: the hub parks such a row.
    await expect(upsertContactEventsStatement(env.SHARD_0, t, [{ record: { ...entry(contact, 1), title: 'x' }, revision: 1 }]).run()).rejects.toThrow(/UNIQUE constraint failed/);
    await expect(upsertContactEventsStatement(env.SHARD_0, t, [{ record: { ...entry(contact, 1), title: 'x' }, revision: 2 }]).run()).rejects.toThrow(/UNIQUE constraint failed/);
    expect(await ids(t)).toEqual([first.id]);
    // A newer revision of the same entry goes through.
    const renamed = await upsertContactEventsStatement(env.SHARD_0, t, [{ record: { ...first, title: 'renamed' }, revision: 2 }]).run();
    expect(renamed.meta.rows_written).toBeGreaterThan(0);
  });

  it("an id the owner index gives another contact is not stored a second time", async () => {
    const t = tenant();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    const id = `client-${crypto.randomUUID()}`;
    await recordOwnersStatement(env.SHARD_0, t, { kind: 'contact', id: a }, [{ kind: 'entry', id }]).run();
    await upsertContactEventsStatement(env.SHARD_0, t, [{ record: entry(b, 1, id), revision: 1 }, { record: entry(b, 2), revision: 1 }]).run();
    await upsertContactEventsStatement(env.SHARD_0, t, [{ record: entry(a, 1, id), revision: 1 }]).run();
    const rows = await env.SHARD_0.prepare(`SELECT contact_id FROM contact_events WHERE tenant_id = ? AND id = ?`).bind(t, id).all<{ contact_id: string }>();
    expect(rows.results).toEqual([{ contact_id: a }]);
    expect((await entryOwners(env.SHARD_0, t, [id])).get(id)).toBe(a);
  });

  it('deletes by key, and by id alone for items stored before the key was carried', async () => {
    const t = tenant();
    const contact = crypto.randomUUID();
    const [e1, e2, e3] = [entry(contact, 1), entry(contact, 2), entry(contact, 3)];
    await upsertContactEventsStatement(env.SHARD_0, t, [e1, e2, e3].map((record) => ({ record, revision: 1 }))).run();
    // A key whose id does not match deletes nothing.
    const statements = deleteContactEventsStatements(env.SHARD_0, t, [
      { id: e1.id, contact_id: contact, sequence_number: 1 },
      { id: e2.id, contact_id: contact, sequence_number: 3 },
      { id: e3.id },
    ]);
    expect(statements).toHaveLength(2);
    await env.SHARD_0.batch(statements);
    expect(await ids(t)).toEqual([e2.id]);
  });

  it("the migration moves the ids only contact_events knew into the owner index, and no id a registered hub's hash names", async () => {
    const migration = env.SHARD_MIGRATIONS.find((m) => m.name.startsWith('0007_'))!;
    const backfill = migration.queries.find((q) => q.includes('INSERT OR IGNORE INTO id_owners'))!;
    const t = tenant();
    const contact = crypto.randomUUID();
    // A hub of the tenant with a registered key: a sequenced id carries its hash.
    const hash = '0123456789abcde';
    await env.SHARD_0.prepare(`INSERT INTO hub_keys (tenant_id, hash, owner) VALUES (?, ?, ?)`).bind(t, hash, `contact:${contact}`).run();
    const named = `01234567-89ab-8cde-8000-000000000001`;
    const client = `client-${crypto.randomUUID()}`;
    await upsertContactEventsStatement(env.SHARD_0, t, [{ record: entry(contact, 1, named), revision: 1 }, { record: entry(contact, 2, client), revision: 1 }]).run();
    await env.SHARD_0.prepare(backfill).run();
    const rows = await env.SHARD_0.prepare(`SELECT id, owner FROM id_owners WHERE tenant_id = ?`).bind(t).all<{ id: string; owner: string }>();
    expect(rows.results).toEqual([{ id: client, owner: `contact:${contact}` }]);
    const owners = await entryOwners(env.SHARD_0, t, [named, client]);
    expect([owners.get(named), owners.get(client)]).toEqual([contact, contact]);
  });
});
