import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { compactionStatements } from '../../src/db/analytics';
import { fenceStatement, liftFence } from '../../src/db/moves';
import { floorDay } from '../../src/domain/analytics';
import { DAY_MS, HOUR_MS } from '../../src/domain/time';
import { DAILY, runScheduled } from '../../src/jobs';
import { compactRollups } from '../../src/jobs/rollup-compaction';
import { newTenant, shardOf } from '../support/api';
import { dailyCounts, dayBefore, deliverAnalytics, rollupAnswers, sentRecords, spreadRecords, watermarkOf } from '../support/analytics';

const iso = (ms: number) => new Date(ms).toISOString();

describe('rollup compaction', () => {
  it('a day reads the same before and after its compaction, and a read across compacted and uncompacted days is their sum', async () => {
    const t = await newTenant();
    const today = floorDay(Date.now());
    expect((await deliverAnalytics(spreadRecords(t.id, today))).ackAll).toBe(true);
    const before = await rollupAnswers(t, today);
    expect(before.day).toEqual({ total: 10, [iso(dayBefore(today, 5))]: 3, [iso(dayBefore(today, 3))]: 2, [iso(dayBefore(today, 1))]: 4, [iso(today)]: 1 });
    expect(before.type).toEqual({ total: 10, 'message.sent': 7, 'contact.created': 2, 'tag.added': 1 });
    expect(before.ragged.total).toBe(7);
    expect(before.raggedDays.total).toBe(2);
    // The consumer wrote hourly rows only: no day of this tenant is compacted yet.
    expect(await dailyCounts(t.id)).toEqual({});

    // Compacted through day -3 (as the run of day -2 would): days -5 and -3 are read from the daily
    // table, day -1 and today from the hourly one; every answer is the same.
    const first = await compactRollups(env, { tenantIds: [t.id], now: dayBefore(today, 2) + HOUR_MS });
    expect(first).toMatchObject({ tenants: 1, steps: 2, errors: 0, has_more: false });
    expect(await watermarkOf(await shardOf(t.id), t.id)).toBe(dayBefore(today, 2));
    expect(await dailyCounts(t.id)).toEqual({ [iso(dayBefore(today, 5))]: 3, [iso(dayBefore(today, 3))]: 2 });
    expect(await rollupAnswers(t, today)).toEqual(before);

    // Today's run: through yesterday. Today stays in the hourly table.
    const second = await compactRollups(env, { tenantIds: [t.id] });
    expect(second).toMatchObject({ tenants: 1, steps: 1, errors: 0 });
    expect(await watermarkOf(await shardOf(t.id), t.id)).toBe(today);
    expect(await dailyCounts(t.id)).toEqual({ [iso(dayBefore(today, 5))]: 3, [iso(dayBefore(today, 3))]: 2, [iso(dayBefore(today, 1))]: 4 });
    expect(await rollupAnswers(t, today)).toEqual(before);
  });

  it('a backdated event into a compacted day counts once in the day and hour reads; a redelivered batch after the compaction counts nothing', async () => {
    const t = await newTenant();
    const today = floorDay(Date.now());
    const records = spreadRecords(t.id, today);
    await deliverAnalytics(records);
    await compactRollups(env, { tenantIds: [t.id] });
    const compacted = await rollupAnswers(t, today);

    const day3 = dayBefore(today, 3);
    const late = sentRecords(t.id, 1, day3 + 5 * HOUR_MS + 30 * 60_000, 'contact.created');
    expect((await deliverAnalytics(late)).ackAll).toBe(true);
    const after = await rollupAnswers(t, today);
    expect(after.day[iso(day3)]).toBe(3);
    expect(after.hour[iso(day3 + 5 * HOUR_MS)]).toBe(3);
    expect(after.type['contact.created']).toBe(3);
    expect(after.day.total).toBe(11);
    // In both tables: the daily row of the compacted day, and its hour.
    expect((await dailyCounts(t.id))[iso(day3)]).toBe(3);

    // Everything again, as a queue redelivers: nothing doubles, in either table.
    expect((await deliverAnalytics([...records, ...late])).ackAll).toBe(true);
    expect(await rollupAnswers(t, today)).toEqual(after);
    expect((await dailyCounts(t.id))[iso(day3)]).toBe(3);
    // And the next day's compaction, recomputing from the hourly table, agrees.
    await compactRollups(env, { tenantIds: [t.id], now: today + DAY_MS + HOUR_MS });
    expect(await rollupAnswers(t, today)).toEqual(after);
    expect(compacted.day.total).toBe(10);
  });

  it('replaces instead of adding: run twice, or over legacy daily rows of a tenant never compacted, the counts stay the same', async () => {
    const t = await newTenant();
    const today = floorDay(Date.now());
    const db = await shardOf(t.id);
    await deliverAnalytics(spreadRecords(t.id, today));
    // Legacy daily rows, as the consumer kept them before compaction existed (every day, today too),
    // and no watermark.
    await db
      .prepare(
        `INSERT INTO analytics_daily (tenant_id, day, event_type, source, entry_type, entry_source, category, events, entries)
         SELECT tenant_id, (hour / ${DAY_MS}) * ${DAY_MS}, event_type, source, entry_type, entry_source, category, sum(events), sum(entries) FROM analytics_hourly WHERE tenant_id = ?1 GROUP BY 1, 2, 3, 4, 5, 6, 7`,
      )
      .bind(t.id)
      .run();
    const legacy = await dailyCounts(t.id);
    expect(legacy).toEqual({ [iso(dayBefore(today, 5))]: 3, [iso(dayBefore(today, 3))]: 2, [iso(dayBefore(today, 1))]: 4, [iso(today)]: 1 });
    expect(await watermarkOf(db, t.id)).toBeNull();
    const before = await rollupAnswers(t, today);
    expect(before.day.total).toBe(10);

    // A bounded run (one step): the backlog waits, the answers do not change.
    const bounded = await compactRollups(env, { tenantIds: [t.id], maxDays: 1 });
    expect(bounded).toMatchObject({ steps: 1, has_more: true });
    expect(await watermarkOf(db, t.id)).toBe(dayBefore(today, 4));
    expect(await rollupAnswers(t, today)).toEqual(before);

    await compactRollups(env, { tenantIds: [t.id] });
    expect(await watermarkOf(db, t.id)).toBe(today);
    expect(await dailyCounts(t.id)).toEqual(legacy);
    expect(await rollupAnswers(t, today)).toEqual(before);
    // Again: the watermark is today, nothing to do; and a step replayed by hand over every day leaves the same rows.
    expect(await compactRollups(env, { tenantIds: [t.id] })).toMatchObject({ steps: 0 });
    await db.batch(compactionStatements(db, t.id, 0, today));
    await db.batch(compactionStatements(db, t.id, 0, today));
    expect(await dailyCounts(t.id)).toEqual(legacy);
    expect(await watermarkOf(db, t.id)).toBe(today);
    expect(await rollupAnswers(t, today)).toEqual(before);
  });

  it("runs in the daily cron for the directory's tenants", async () => {
    const t = await newTenant();
    const today = floorDay(Date.now());
    await deliverAnalytics(spreadRecords(t.id, today));
    const ctx = createExecutionContext();
    await runScheduled(createScheduledController({ cron: DAILY, scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await watermarkOf(await shardOf(t.id), t.id)).toBe(today);
    expect(await dailyCounts(t.id)).toEqual({ [iso(dayBefore(today, 5))]: 3, [iso(dayBefore(today, 3))]: 2, [iso(dayBefore(today, 1))]: 4 });
  });

  it('leaves a tenant fenced by a move alone (counted as fenced, nothing written) and compacts it once the fence is lifted', async () => {
    const t = await newTenant();
    const today = floorDay(Date.now());
    const db = await shardOf(t.id);
    await deliverAnalytics(spreadRecords(t.id, today));
    await fenceStatement(db, t.id, 1, Date.now()).run();
    try {
      expect(await compactRollups(env, { tenantIds: [t.id] })).toMatchObject({ tenants: 0, steps: 0, fenced: 1, errors: 0 });
      expect(await watermarkOf(db, t.id)).toBeNull();
      expect(await dailyCounts(t.id)).toEqual({});
    } finally {
      await liftFence(db, t.id);
    }
    expect(await compactRollups(env, { tenantIds: [t.id] })).toMatchObject({ tenants: 1, fenced: 0 });
    expect(await watermarkOf(db, t.id)).toBe(today);
  });
});
