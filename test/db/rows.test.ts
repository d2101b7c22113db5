import { env } from 'cloudflare:workers';
import { getTableColumns, getTableName, type Table } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { eventFromRow, insertEventsStatement, servedEvent, type EventRow } from '../../src/db/events';
import { readLogJson, readLogPage } from '../../src/db/log';
import * as analytics from '../../src/db/schema/analytics';
import * as control from '../../src/db/schema/control';
import * as core from '../../src/db/schema/core';
import * as eventstore from '../../src/db/schema/eventstore';
import * as webhooks from '../../src/db/schema/webhooks';
import type { EventRecord } from '../../src/domain/schemas/events';
import { uuid } from '../support/api';

// Each table with the kind of database it lives in (drizzle.config.ts, drizzle.control.config.ts).
const TABLES: [Table, 'control' | 'shard'][] = [
  ...[core, analytics, eventstore, webhooks].flatMap((m) => (Object.values(m) as Table[]).map((t) => [t, 'shard'] as [Table, 'shard'])),
  ...(Object.values(control) as Table[]).map((t) => [t, 'control'] as [Table, 'control']),
];

describe('row types come from the schema', () => {
  // Raw-SQL row types are D1Row<typeof table> (src/db/client.ts): they are right only while the
  // migrated tables have exactly the schema's columns.
  it.each(TABLES.map(([t, kind]) => [getTableName(t), t, kind] as const))('%s in D1 has exactly the schema columns', async (name, table, kind) => {
    const { results } = await (kind === 'control' ? env.DB : env.SHARD_1).prepare(`SELECT name FROM pragma_table_info(?1)`).bind(name).all<{ name: string }>();
    const schemaColumns = Object.values(getTableColumns(table)).map((c) => c.name);
    expect(results.map((r) => r.name).sort()).toEqual(schemaColumns.sort());
  });
});

describe('one event record builder', () => {
  const record = (eventType: string, schemaVersion: number, payload: Record<string, unknown>): EventRecord => ({
    id: uuid(),
    event_type: eventType,
    source: 'system',
    contact_id: null,
    session_id: null,
    message_id: null,
    payload,
    metadata: { correlation_id: 'c-1' },
    stream_id: null,
    sequence_number: null,
    schema_version: schemaVersion,
    timestamp: '2026-01-02T03:04:05.678Z',
    created_at: '2026-01-02T03:04:05.679Z',
  });

  it('the log serves an event SQLite encodes and one it upcasts in JS as servedEvent(eventFromRow(row)), keys in the same order', async () => {
    const tenant = `rows-${uuid()}`;
    // contact.created v1 has an upcaster (encoded in JS); message.sent v1 has none (encoded by SQLite).
    const upcast = record('contact.created', 1, { name: 'Ada Lovelace', email: 'ada@example.com' });
    const plain = record('message.sent', 1, { text: 'hi' });
    await insertEventsStatement(env.SHARD_0, tenant, [upcast, plain].map((r) => ({ record: r, idempotency_key: null, request_hash: null }))).run();
    const { results: rows } = await env.SHARD_0.prepare(`SELECT * FROM events WHERE tenant_id = ? ORDER BY position`).bind(tenant).all<EventRow>();
    const expected = rows.map((r) => servedEvent(eventFromRow(r)));
    expect(expected[0]!.schema_version).toBe(2);

    const json = await readLogJson(env.SHARD_0, tenant, { after: 0, limit: 10 });
    const page = JSON.parse((await readLogPage(env.SHARD_0, tenant, { after: 0, limit: 10 })).body) as unknown[];
    for (const served of [json.map((r) => JSON.parse(r.json) as unknown), page]) {
      expect(served).toEqual(expected);
      for (const [i, e] of served.entries()) expect(Object.keys(e as object)).toEqual(Object.keys(expected[i]!));
    }
  });
});
