import { describe, expect, it } from 'vitest';
import { floorHour } from '../../src/domain/analytics';
import { HOUR_MS } from '../../src/domain/time';
import { call, eventually, json, newTenant, uuid } from '../support/api';
import { expectProblem, fieldPaths } from '../support/problem';

describe('GET /api/v1/analytics/events', () => {
  it('filters by type and source, rounds the range to hours, and keeps tenants apart', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const at = floorHour(Date.now()) - 3 * HOUR_MS + 10 * 60_000;
    const events = [
      { event_type: 'message.sent', source: 'system' },
      { event_type: 'message.sent', source: 'webhook' },
      { event_type: 'message.received', source: 'webhook', contact_id: uuid() },
    ].map((e) => ({ ...e, timestamp: new Date(at).toISOString() }));
    expect((await call('POST', '/api/v1/events/batch', { key: a.key, body: { events } })).status).toBe(201);
    const from = new Date(at).toISOString(); // rounds down to the hour
    const body = await eventually(async () => {
      const r = await json<{ total: number; from: string; to: string; groups: unknown[] }>(await call('GET', `/api/v1/analytics/events?from=${from}&group_by=source`, { key: a.key }));
      return r.total === 3 ? r : false;
    });
    expect(body.from).toBe(new Date(floorHour(at)).toISOString());
    expect(body.groups).toEqual([{ key: 'webhook', count: 2 }, { key: 'system', count: 1 }]);
    const typed = await json<{ total: number; groups: unknown[] }>(await call('GET', `/api/v1/analytics/events?from=${from}&type=message.sent&source=webhook`, { key: a.key }));
    expect(typed).toMatchObject({ total: 1, groups: [{ key: 'message.sent', count: 1 }] });
    const byHour = await json<{ groups: unknown[] }>(await call('GET', `/api/v1/analytics/events?from=${from}&group_by=hour`, { key: a.key }));
    expect(byHour.groups).toEqual([{ key: new Date(floorHour(at)).toISOString(), count: 3 }]);
    const other = await json<{ total: number }>(await call('GET', `/api/v1/analytics/events?from=${from}`, { key: b.key }));
    expect(other.total).toBe(0);
  });

  it('answers bad queries with 422 naming each field', async () => {
    const t = await newTenant();
    const cases: [string, string[]][] = [
      ['group_by=week', ['query.group_by']],
      ['from=yesterday&to=soon', ['query.from', 'query.to']],
      ['from=2025-10-02&to=2025-10-01', ['query.from']],
      ['group_by=category&kind=event', ['query.group_by']],
      ['category=note&kind=event', ['query.category']],
      ['kind=all', ['query.kind']],
      ['from=2020-01-01&to=2025-01-01&group_by=hour', ['query.from']],
    ];
    for (const [q, paths] of cases) {
      const res = await call('GET', `/api/v1/analytics/events?${q}`, { key: t.key });
      expect(fieldPaths(await expectProblem(res, 422, undefined, q)), q).toEqual(paths.sort());
    }
    expect((await call('GET', '/api/v1/analytics/events')).status).toBe(401);
  });

  it('a bare date as `to` includes that whole day', async () => {
    const t = await newTenant();
    const res = await json<{ from: string; to: string }>(await call('GET', '/api/v1/analytics/events?from=2025-10-01&to=2025-10-01&group_by=day', { key: t.key }));
    expect(res).toMatchObject({ from: '2025-10-01T00:00:00.000Z', to: '2025-10-02T00:00:00.000Z' });
  });
});
