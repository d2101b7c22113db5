import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, shardOf } from '../support/api';

const HOUR = 3_600_000;

describe('GET /events/stats and the analytics rollups', () => {
  it('answers whole-hour ranges from the rollups with the same counts as the log', async () => {
    const t = await newTenant();
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    const events = [
      ...Array.from({ length: 3 }, (_, i) => ({ event_type: 'message.sent', source: 'system', timestamp: new Date(hour + (i + 1) * 60_000).toISOString() })),
      ...Array.from({ length: 2 }, (_, i) => ({ event_type: 'message.received', source: 'webhook', timestamp: new Date(hour + 30 * 60_000 + i).toISOString() })),
    ];
    expect((await call('POST', '/api/v1/events/batch', { key: t.key, body: { events } })).status).toBe(201);

    const since = new Date(hour).toISOString();
    const until = new Date(hour + HOUR).toISOString();
    const stats = async (query: string) =>
      json<{ total: number; computed_from: string; groups: { key: string; count: number }[] }>(await call('GET', `/api/v1/events/stats?${query}`, { key: t.key }));

    // Just appended: the rollups may not have them yet, so the log answers.
    expect((await stats(`from=${since}&to=${until}&group_by=type`)).computed_from).toBe('log');

    // Once the analytics consumer has counted them and a minute has passed (simulated by ageing the
    // rows' append time), the rollups answer.
    await eventually(async () => {
      const r = await (await shardOf(t.id)).prepare('SELECT coalesce(sum(events + entries), 0) AS n FROM analytics_hourly WHERE tenant_id = ?').bind(t.id).first<{ n: number }>();
      return (r?.n ?? 0) === 5;
    });
    await (await shardOf(t.id)).prepare('UPDATE events SET created_at = created_at - 120000 WHERE tenant_id = ?').bind(t.id).run();
    const fromRollups = await eventually(async () => {
      const body = await json<{ total: number; computed_from: string; groups: { key: string; count: number }[] }>(
        await call('GET', `/api/v1/events/stats?from=${since}&to=${until}&group_by=type`, { key: t.key }),
      );
      return body.total === 5 ? body : undefined;
    });
    expect(fromRollups.computed_from).toBe('rollups');
    expect(fromRollups.groups).toEqual([
      { key: 'message.sent', count: 3 },
      { key: 'message.received', count: 2 },
    ]);

    // One millisecond off the hour: the same question is counted over the log, with the same answer.
    const fromLog = await json<{ total: number; computed_from: string; groups: { key: string; count: number }[] }>(
      await call('GET', `/api/v1/events/stats?from=${new Date(hour + 1).toISOString()}&to=${until}&group_by=type`, { key: t.key }),
    );
    expect(fromLog.computed_from).toBe('log');
    expect(fromLog.total).toBe(5);
    expect([...fromLog.groups].sort((a, b) => a.key.localeCompare(b.key))).toEqual([...fromRollups.groups].sort((a, b) => a.key.localeCompare(b.key)));
  });
});
