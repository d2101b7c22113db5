import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { rollupStatements } from '../../src/db/analytics';
import { bulkInsert } from '../../src/db/bulk';
import { timelineEntryFromRow, timelineEntryToRow, upsertContactEventsStatement, type TimelineEntryRow } from '../../src/db/contact-events';
import { contactEvents } from '../../src/db/schema/core';
import type { RollupItem } from '../../src/domain/analytics';
import { DAY_MS } from '../../src/domain/time';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { uuid } from '../support/api';

// bulkInsert and the analytics rollups send their rows as arrays in column order (src/db/bulk.ts,
// src/db/analytics.ts): every column must land in its own place, whatever its type, and a row that
// leaves a column out stores NULL there.

const entry = (i: number, over: Partial<TimelineEntryRecord> = {}): TimelineEntryRecord => ({
  id: uuid(),
  contact_id: uuid(),
  sequence_number: i + 1,
  session_id: i % 2 === 0 ? null : uuid(),
  event_type: 'note_added',
  category: 'note',
  priority: 'high',
  title: `Quote "${i}" ✓`,
  description: i % 2 === 0 ? null : 'line\nbreak',
  payload: { i, nested: { list: [1, 'é', null] } },
  metadata: { correlation_id: `c-${i}` },
  source: 'agent',
  triggered_by: null,
  integration_source: i % 2 === 0 ? null : 'crm',
  is_realtime: i % 2 === 0,
  delivered: i % 3 === 0,
  delivered_at: i % 3 === 0 ? new Date(1_700_000_000_000 + i).toISOString() : null,
  read: false,
  read_at: null,
  visible_to_client: i % 2 === 1,
  visible_to_agent: true,
  expires_at: i % 2 === 0 ? null : new Date(1_800_000_000_000 + i).toISOString(),
  occurred_at: new Date(1_700_000_000_000 + i).toISOString(),
  created_at: new Date(1_700_000_000_001 + i).toISOString(),
  origin_event_id: i % 2 === 0 ? null : uuid(),
  ...over,
});

describe('bulkInsert: many rows in one statement', () => {
  it('stores every column of every row in its place (text, numbers, booleans, JSON text, nulls)', async () => {
    const tenantId = `t_${uuid()}`;
    const entries = Array.from({ length: 5 }, (_, i) => entry(i));
    await env.SHARD_0.batch([upsertContactEventsStatement(env.SHARD_0, tenantId, entries.map((record) => ({ record, revision: 3 })))]);
    const { results } = await env.SHARD_0.prepare(`SELECT * FROM contact_events WHERE tenant_id = ? ORDER BY sequence_number`).bind(tenantId).all<TimelineEntryRow>();
    expect(results.map((r) => ({ ...r }))).toEqual(entries.map((e) => ({ tenant_id: tenantId, ...timelineEntryToRow(e, 3) })));
    expect(results.map(timelineEntryFromRow)).toEqual(entries);
  });

  it('stores NULL for a column a row leaves out', async () => {
    const tenantId = `t_${uuid()}`;
    const full = timelineEntryToRow(entry(1), 1);
    const { session_id: _s, title: _t, ...partial } = full;
    const columns = Object.keys(full) as (keyof typeof full)[];
    await env.SHARD_0.batch([bulkInsert(env.SHARD_0, contactEvents, tenantId, columns, [partial], 'ON CONFLICT DO NOTHING')]);
    const row = await env.SHARD_0.prepare(`SELECT * FROM contact_events WHERE tenant_id = ?`).bind(tenantId).first<TimelineEntryRow>();
    expect({ ...row }).toEqual({ tenant_id: tenantId, ...full, session_id: null, title: null });
  });
});

describe('rollupStatements: items as arrays', () => {
  it('counts each item under its hour, day and columns, and marks it by its marker', async () => {
    const t = `t_${uuid()}`;
    const hour = Date.UTC(2026, 0, 1, 10);
    const day = Date.UTC(2026, 0, 1);
    const event = uuid();
    const none = { entry_id: null, entry_type: '', entry_source: '', category: '', entries: 0 } as const;
    const items: RollupItem[] = [
      { tenant_id: t, event_id: event, marker: event, hour, day, event_type: 'message.sent', source: 'system', events: 1, ...none },
      { tenant_id: t, event_id: uuid(), entry_id: 'e', marker: event, hour, day, event_type: '', source: '', events: 0, entry_type: 'note_added', entry_source: 'agent', category: 'note', entries: 1 },
    ];
    const results = await env.SHARD_0.batch<{ tenant_id: string; event_id: string }>(rollupStatements(env.SHARD_0, items, 7));
    expect(results[2]!.results).toEqual([{ tenant_id: t, event_id: event }]);
    const hourly = await env.SHARD_0.prepare(`SELECT hour, event_type, source, entry_type, entry_source, category, events, entries FROM analytics_hourly WHERE tenant_id = ? ORDER BY events`).bind(t).all();
    expect(hourly.results).toEqual([
      { hour, event_type: '', source: '', entry_type: 'note_added', entry_source: 'agent', category: 'note', events: 0, entries: 1 },
      { hour, event_type: 'message.sent', source: 'system', entry_type: '', entry_source: '', category: '', events: 1, entries: 0 },
    ]);
    const daily = () => env.SHARD_0.prepare(`SELECT day, events, entries FROM analytics_daily WHERE tenant_id = ? ORDER BY events`).bind(t).all();
    // The day is not compacted yet (no watermark): the daily table waits for the compaction.
    expect((await daily()).results).toEqual([]);
    // Once it is, an item of that day (a backdated event) counts in both tables.
    await env.SHARD_0.prepare(`INSERT INTO analytics_compacted (tenant_id, through_day) VALUES (?, ?)`).bind(t, day + DAY_MS).run();
    const late = uuid();
    await env.SHARD_0.batch(rollupStatements(env.SHARD_0, [{ ...items[0]!, event_id: late, marker: late }], 8));
    expect((await daily()).results).toEqual([{ day, events: 1, entries: 0 }]);
    const hourlyNow = await env.SHARD_0.prepare(`SELECT events AS n FROM analytics_hourly WHERE tenant_id = ? AND events > 0`).bind(t).first<{ n: number }>();
    expect(hourlyNow!.n).toBe(2);
  });
});
