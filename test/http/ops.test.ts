import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { app } from '../../src/app';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { RelaySink } from '../../src/hub/relay';
import worker from '../../src/index';
import { BASE, call, eventually, json, newTenant, uuid, shardOf } from '../support/api';
import { deliverAnalytics } from '../support/analytics';

interface Stats {
  events: { total: number; last_hour: number };
  relay: {
    worker_outbox: { pending: number; oldest_age_ms: number | null };
    hubs: { backlogged: number; pending: number; oldest_age_ms: number | null; details: { hub: string; pending: number; last_error: string | null; failures: number }[] };
  };
  webhook_deliveries: { available: true; pending: number; failed: number; dead_lettered: number; by_status: Record<string, number> };
  subscriptions: { available: true; items: { name: string; lag: number }[]; max_lag: number };
  projections: { available: true; items: { name: string; lag: number }[]; max_lag: number };
  analytics: { counted_last_hour: number };
  archives: { objects: number; events: number; pending: number };
}

const stats = async (key: string): Promise<Stats> => {
  const res = await call('GET', '/api/v1/ops/stats', { key });
  expect(res.status).toBe(200);
  return json<Stats>(res);
};

describe('GET /api/v1/ops/stats', () => {
  it('shows a hub whose D1 relay fails, with its backlog and error, and clears it once the relay recovers', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stub = contactHubStub(env, t.id, contact);
    await runInDurableObject(stub, (hub: StreamHub) => {
      hub.sink.writeD1 = () => Promise.reject(new Error('D1 unavailable (injected)'));
    });
    for (let i = 0; i < 3; i++) {
      const res = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact } });
      expect(res.status).toBe(201);
    }
    const failing = await eventually(async () => {
      const s = await stats(t.key);
      return s.relay.hubs.backlogged === 1 && s.relay.hubs.pending === 3 ? s : false;
    });
    expect(failing.relay.hubs.details[0]).toMatchObject({ hub: `contact:${contact}`, pending: 3, last_error: expect.stringContaining('injected') });
    expect(failing.relay.hubs.oldest_age_ms).toBeGreaterThanOrEqual(0);
    expect(failing.events.total).toBe(0); // nothing reached D1

    await runInDurableObject(stub, (hub: StreamHub) => {
      hub.sink = new RelaySink(env, stub.id.toString());
    });
    await runDurableObjectAlarm(stub);
    const healed = await eventually(async () => {
      const s = await stats(t.key);
      return s.relay.hubs.backlogged === 0 && s.events.total === 3 ? s : false;
    });
    expect(healed.relay.hubs.pending).toBe(0);
    expect(healed.relay.hubs.oldest_age_ms).toBeNull();
  });

  it('counts events, the Worker-side relay backlog, analytics and archives of this tenant only', async () => {
    const t = await newTenant();
    const other = await newTenant();
    const res = await call('POST', '/api/v1/events/batch', {
      key: t.key,
      body: { events: [{ event_type: 'a.b', source: 'system' }, { event_type: 'a.b', source: 'system', timestamp: '2020-01-01T00:00:00Z' }] },
    });
    expect(res.status).toBe(201);
    await call('POST', '/api/v1/events', { key: other.key, body: { event_type: 'a.b', source: 'system' } });
    // An injected backlog: an outbox row two minutes old that the relay never cleared.
    await (await shardOf(t.id)).prepare(`INSERT INTO relay_outbox (tenant_id, event_id, created_at) VALUES (?, ?, ?)`).bind(t.id, uuid(), Date.now() - 120_000).run();
    const s = await eventually(async () => {
      const s = await stats(t.key);
      return s.analytics.counted_last_hour === 1 && s.relay.worker_outbox.pending === 1 ? s : false;
    });
    // last_hour is by arrival in D1, so the event stamped 2020 counts too.
    expect(s.events).toEqual({ total: 2, last_hour: 2 });
    expect(s.relay.worker_outbox.oldest_age_ms).toBeGreaterThanOrEqual(120_000);
    expect(s.archives).toEqual({ objects: 0, events: 0, pending: 0 });
  });

  it('reports webhook deliveries pending, failed and dead-lettered from webhook_deliveries', async () => {
    const t = await newTenant();
    const now = Date.now();
    const add = async (tenantId: string, status: string, dead: number | null) =>
      (await shardOf(tenantId)).prepare(
        `INSERT INTO webhook_deliveries (tenant_id, id, subscription_id, event_id, event_type, body, status, dead_lettered_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'a.b', '{}', ?, ?, ?, ?)`,
      )
        .bind(tenantId, uuid(), uuid(), uuid(), status, dead, now, now)
        .run();
    await add(t.id, 'pending', null);
    await add(t.id, 'pending', null);
    await add(t.id, 'succeeded', null);
    await add(t.id, 'failed', now); // exhausted its retries: dead-lettered
    await add('someone-else', 'failed', now);
    expect((await stats(t.key)).webhook_deliveries).toEqual({
      available: true,
      by_status: { pending: 2, succeeded: 1, failed: 1 },
      pending: 2,
      failed: 1,
      dead_lettered: 1,
    });
  });

  it('reports subscription lag from event_subscriptions checkpoints', async () => {
    const t = await newTenant();
    await call('POST', '/api/v1/events/batch', { key: t.key, body: { events: Array.from({ length: 4 }, () => ({ event_type: 'a.b', source: 'system' })) } });
    const positions = (await (await shardOf(t.id)).prepare(`SELECT position FROM events WHERE tenant_id = ? ORDER BY position`).bind(t.id).all<{ position: number }>()).results;
    const now = Date.now();
    await (await shardOf(t.id)).prepare(`INSERT INTO event_subscriptions (tenant_id, name, kind, checkpoint, created_at, updated_at) VALUES (?, 'crm-sync', 'external', ?, ?, ?)`)
      .bind(t.id, positions[0]!.position, now, now)
      .run();
    await (await shardOf(t.id)).prepare(`INSERT INTO event_subscriptions (tenant_id, name, kind, checkpoint, created_at, updated_at) VALUES (?, 'projection:ops-test', 'projection', 0, ?, ?)`)
      .bind(t.id, now, now)
      .run();
    // A consumer with event types counts only events of those types.
    await (await shardOf(t.id)).prepare(`INSERT INTO event_subscriptions (tenant_id, name, kind, event_types, checkpoint, created_at, updated_at) VALUES (?, 'typed', 'external', '["x.*"]', 0, ?, ?)`)
      .bind(t.id, now, now)
      .run();
    // Built-in consumers of the event store may have rows of their own: only ours are asserted exactly.
    const s = await stats(t.key);
    expect(s.subscriptions.items).toContainEqual({ name: 'typed', lag: 0 });
    expect(s.subscriptions.available).toBe(true);
    expect(s.subscriptions.items).toContainEqual({ name: 'crm-sync', lag: 3 });
    expect(s.subscriptions.max_lag).toBeGreaterThanOrEqual(3);
    expect(s.projections.items).toContainEqual({ name: 'projection:ops-test', lag: 4 });
    expect(s.projections.items.map((i) => i.name)).not.toContain('crm-sync');
    expect(s.projections.max_lag).toBeGreaterThanOrEqual(4);
  });
});

describe('structured logs', () => {
  it('logs every request, queue batch and cron run as one JSON line with its ids', async () => {
    const t = await newTenant();
    const spy = vi.spyOn(console, 'log');
    try {
      const res = await app.fetch(
        new Request(`${BASE}/api/v1/settings`, { headers: { authorization: `Bearer ${t.key}`, 'x-request-id': 'req-123' } }),
        { ...env, LOG_REQUESTS: 'true' },
        createExecutionContext(),
      );
      expect(res.headers.get('x-request-id')).toBe('req-123');
      await deliverAnalytics([]);
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: '* * * * *' }), env, ctx);
      await waitOnExecutionContext(ctx);
      const lines = spy.mock.calls.map((c) => JSON.parse(String(c[0])) as Record<string, unknown>);
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: 'request', request_id: 'req-123', method: 'GET', path: '/api/v1/settings', status: 200, tenant_id: t.id, ms: expect.any(Number) }),
      );
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'queue batch', queue: 'eventline-analytics', messages: 0 }));
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'cron', cron: '* * * * *', relay_swept: expect.any(Number) }));
    } finally {
      spy.mockRestore();
    }
  });
});
