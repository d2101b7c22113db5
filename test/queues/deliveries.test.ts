import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { insertDeliveriesStatement } from '../../src/db/webhooks';
import { RETRY_SCHEDULE_SECONDS } from '../../src/domain/queue-retry';
import worker from '../../src/index';
import type { DeadLetter, DeliveryMessage } from '../../src/queues/deliveries';
import { QUEUES } from '../../src/queues';
import { fanOut } from '../../src/queues/webhooks';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';
import { header, hookPath, hookUrl, received, script } from '../support/receiver';
import { deliveriesOf, eventsOfType, subscribe, verify, type Sub } from '../support/webhooks';

// The delivery consumer driven message by message (createMessageBatch + getQueueResult), so that
// retry delays, acks and dead letters can be asserted without waiting hours.

interface Setup {
  tenant: { id: string; key: string };
  sub: Sub;
  path: string;
  deliveryId: string;
}

async function setup(responses: { status: number; body?: string; headers?: Record<string, string>; delay_ms?: number }[], subBody: Record<string, unknown> = {}): Promise<Setup> {
  const tenant = await newTenant();
  const path = hookPath('consumer');
  await script(path, responses);
  const sub = await subscribe(tenant.key, { url: hookUrl(path), events: ['*'], ...subBody });
  const deliveryId = uuid();
  const body = JSON.stringify({ type: 'order.placed', timestamp: new Date().toISOString(), data: { id: 'o-1' } });
  await insertDeliveriesStatement((await shardOf(tenant.id)), tenant.id, [{ id: deliveryId, subscription_id: sub.id, event_id: uuid(), event_type: 'order.placed', body }], Date.now()).run();
  return { tenant, sub, path, deliveryId };
}

/** Spies on the dead-letter producer while still sending to the real queue. */
function withDlqSpy() {
  const letters: DeadLetter[] = [];
  const spied = {
    ...env,
    DELIVERIES_DLQ: {
      send: async (body: DeadLetter, opts?: QueueSendOptions) => {
        letters.push(body);
        return env.DELIVERIES_DLQ.send(body, opts);
      },
      sendBatch: (msgs: Iterable<MessageSendRequest>, opts?: QueueSendBatchOptions) => env.DELIVERIES_DLQ.sendBatch(msgs, opts),
    },
  } as Env;
  return { env: spied, letters };
}

/**
 * @cloudflare/vitest-plugin 1.5's createMessageBatch drops retry options (getQueueResult reports
 * `{ msgId }` only), so the delay each message was retried with is captured from the call itself.
 */
function recordRetryDelays(batch: MessageBatch<unknown>): Map<string, number | undefined> {
  const delays = new Map<string, number | undefined>();
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (options?: QueueRetryOptions) => {
      delays.set(m.id, options?.delaySeconds);
      retry(options);
    };
  }
  return delays;
}

async function runBatch(messages: { id: string; attempts: number; body: DeliveryMessage }[], runEnv: Env = env) {
  const batch = createMessageBatch<DeliveryMessage>(QUEUES.deliveries, messages.map((m) => ({ ...m, timestamp: new Date() })));
  const delays = recordRetryDelays(batch as MessageBatch<unknown>);
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, runEnv, ctx);
  const result = await getQueueResult(batch, ctx);
  return { ...result, retried: result.retryMessages.map((r) => ({ msgId: r.msgId, delaySeconds: delays.get(r.msgId) })) };
}

async function deliver(s: Setup, attempts = 1, opts: { msgId?: string; generation?: number; env?: Env } = {}) {
  const body: DeliveryMessage = { tenant_id: s.tenant.id, delivery_id: s.deliveryId, generation: opts.generation ?? 1 };
  return runBatch([{ id: opts.msgId ?? 'msg-1', attempts, body }], opts.env ?? env);
}

const delivery = async (s: Setup) => json<{ status: string; attempts: number; dead_lettered_at: string | null; last_error: string | null; attempt_log: { attempt: number; status_code: number | null; error: string | null; next_attempt_at: string | null; duration_ms: number }[] }>(
  await call('GET', `/api/v1/webhook-deliveries/${s.deliveryId}`, { key: s.tenant.key }),
);

describe('delivery consumer', () => {
  it('retries on 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±20%), then dead-letters and logs webhook.retry_exhausted', async () => {
    const s = await setup([{ status: 500, body: 'boom' }]);
    const spy = withDlqSpy();
    for (let i = 1; i <= 7; i++) {
      const r = await deliver(s, i, { env: spy.env });
      expect(r.retried, `attempt ${i}`).toHaveLength(1);
      const delay = r.retried[0]!.delaySeconds!;
      const base = RETRY_SCHEDULE_SECONDS[i - 1]!;
      expect(delay, `retry ${i}`).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
      expect(delay, `retry ${i}`).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      const d = await delivery(s);
      expect(d.status).toBe('pending');
      expect(Date.parse(d.attempt_log[i - 1]!.next_attempt_at!) - Date.now()).toBeGreaterThan(delay * 1000 - 5000);
    }
    expect(spy.letters).toEqual([]);
    const last = await deliver(s, 8, { env: spy.env });
    expect(last.retryMessages).toEqual([]);
    expect(last.explicitAcks).toEqual(['msg-1']);
    const d = await delivery(s);
    expect(d).toMatchObject({ status: 'failed', attempts: 8 });
    expect(d.dead_lettered_at).not.toBeNull();
    expect(d.attempt_log.map((a) => [a.attempt, a.status_code])).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, 500]));
    expect(spy.letters).toEqual([expect.objectContaining({ delivery_id: s.deliveryId, subscription_id: s.sub.id, attempts: 8, last_status_code: 500 })]);
    const events = await eventually(async () => {
      const e = await eventsOfType(s.tenant.id, 'webhook.retry_exhausted');
      return e.length > 0 && e;
    });
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ delivery_id: s.deliveryId, subscription_id: s.sub.id });
    expect((await received(s.path)).length).toBe(8);
    const counters = await json<{ failure_count: number; success_count: number; active: boolean }>(await call('GET', `/api/v1/webhooks/${s.sub.id}`, { key: s.tenant.key }));
    expect(counters).toMatchObject({ failure_count: 8, success_count: 0, active: true });
    // A late duplicate of the last message does nothing.
    const dup = await deliver(s, 9, { env: spy.env });
    expect(dup.explicitAcks).toEqual(['msg-1']);
    expect((await received(s.path)).length).toBe(8);
  });

  it('cuts the schedule to retry_count', async () => {
    const s = await setup([{ status: 502 }], { retry_count: 2 });
    const spy = withDlqSpy();
    expect((await deliver(s, 1, { env: spy.env })).retryMessages).toHaveLength(1);
    const second = await deliver(s, 2, { env: spy.env });
    expect(second.retried[0]!.delaySeconds).toBeGreaterThanOrEqual(240);
    expect(second.retried[0]!.delaySeconds).toBeLessThanOrEqual(360);
    const third = await deliver(s, 3, { env: spy.env });
    expect(third.retryMessages).toEqual([]);
    expect(spy.letters).toHaveLength(1);
    expect(await delivery(s)).toMatchObject({ status: 'failed', attempts: 3 });
  });

  it('honours Retry-After on 429 and 503 (seconds or HTTP date), not on 500', async () => {
    const s = await setup([
      { status: 429, headers: { 'retry-after': '120' } },
      { status: 503, headers: { 'retry-after': new Date(Date.now() + 600_000).toUTCString() } },
      { status: 500, headers: { 'retry-after': '3600' } },
    ]);
    expect((await deliver(s, 1)).retried[0]!.delaySeconds).toBe(120);
    const second = (await deliver(s, 2)).retried[0]!.delaySeconds!;
    expect(second).toBeGreaterThanOrEqual(595);
    expect(second).toBeLessThanOrEqual(601);
    const third = (await deliver(s, 3)).retried[0]!.delaySeconds!;
    expect(third).toBeGreaterThanOrEqual(1440); // schedule step 3: 30 min ± 20%
    expect(third).toBeLessThanOrEqual(2160);
  });

  it('treats a redirect as a failure and does not follow it', async () => {
    const target = hookPath('redirect-target');
    const s = await setup([{ status: 302, headers: { location: hookUrl(target) } }]);
    const r = await deliver(s);
    expect(r.retryMessages).toHaveLength(1);
    expect(await received(target)).toEqual([]);
    const d = await delivery(s);
    expect(d.attempt_log[0]).toMatchObject({ status_code: 302, error: 'HTTP 302' });
  });

  it('times out after timeout_seconds and retries', async () => {
    const s = await setup([{ status: 200, delay_ms: 2500 }], { timeout_seconds: 1 });
    const started = Date.now();
    const r = await deliver(s);
    expect(Date.now() - started).toBeLessThan(2400);
    expect(r.retryMessages).toHaveLength(1);
    const d = await delivery(s);
    expect(d.attempt_log[0]!.status_code).toBeNull();
    expect(d.attempt_log[0]!.error).toMatch(/timeout/);
    expect(d.attempt_log[0]!.duration_ms).toBeGreaterThanOrEqual(900);
    expect(d.status).toBe('pending');
  });

  it('keeps the first 4 KiB of the response body', async () => {
    const s = await setup([{ status: 500, body: 'x'.repeat(10_000) }]);
    await deliver(s);
    const d = await json<{ attempt_log: { response_body: string }[] }>(await call('GET', `/api/v1/webhook-deliveries/${s.deliveryId}`, { key: s.tenant.key }));
    expect(d.attempt_log[0]!.response_body).toBe('x'.repeat(4096));
  });

  it('disables an endpoint failing for 5 days without a success', async () => {
    const s = await setup([{ status: 500 }]);
    await (await shardOf(s.tenant.id)).prepare(`UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ?`).bind(Date.now() - 5 * 86_400_000 - 1000, s.sub.id).run();
    const spy = withDlqSpy();
    const r = await deliver(s, 1, { env: spy.env });
    expect(r.retryMessages).toEqual([]);
    expect(spy.letters).toEqual([]);
    const sub = await json<{ active: boolean; disabled_reason: string }>(await call('GET', `/api/v1/webhooks/${s.sub.id}`, { key: s.tenant.key }));
    expect(sub).toMatchObject({ active: false, disabled_reason: 'failing' });
    const events = await eventually(async () => {
      const e = await eventsOfType(s.tenant.id, 'webhook.endpoint_disabled');
      return e.length > 0 && e;
    });
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ subscription_id: s.sub.id, reason: expect.stringContaining('5 days') });
    // Re-enabling restarts the clock.
    const patched = await json<{ active: boolean; disabled_reason: string | null }>(await call('PATCH', `/api/v1/webhooks/${s.sub.id}`, { key: s.tenant.key, body: { active: true } }));
    expect(patched).toMatchObject({ active: true, disabled_reason: null });
    const row = await (await shardOf(s.tenant.id)).prepare(`SELECT failing_since FROM webhook_subscriptions WHERE id = ?`).bind(s.sub.id).first<{ failing_since: number | null }>();
    expect(row!.failing_since).toBeNull();
  });

  it('a success resets the 5-day clock', async () => {
    const s = await setup([{ status: 200 }]);
    await (await shardOf(s.tenant.id)).prepare(`UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ?`).bind(Date.now() - 4 * 86_400_000, s.sub.id).run();
    await deliver(s);
    const row = await (await shardOf(s.tenant.id)).prepare(`SELECT failing_since, active FROM webhook_subscriptions WHERE id = ?`).bind(s.sub.id).first<{ failing_since: number | null; active: number }>();
    expect(row).toEqual({ failing_since: null, active: 1 });
  });

  it('lets one message attempt when duplicates of a delivery message arrive together', async () => {
    const s = await setup([{ status: 200, delay_ms: 200 }]);
    const body: DeliveryMessage = { tenant_id: s.tenant.id, delivery_id: s.deliveryId, generation: 1 };
    const r = await runBatch(['a', 'b', 'c'].map((id) => ({ id, attempts: 1, body })));
    expect(r.explicitAcks.sort()).toEqual(['a', 'b', 'c']);
    expect((await received(s.path)).length).toBe(1);
    expect(await delivery(s)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('lets one message attempt when duplicates arrive in concurrent batches (the lease)', async () => {
    const s = await setup([{ status: 200, delay_ms: 300 }]);
    const body: DeliveryMessage = { tenant_id: s.tenant.id, delivery_id: s.deliveryId, generation: 1 };
    const results = await Promise.all(['x', 'y', 'z'].map((id) => runBatch([{ id, attempts: 1, body }])));
    expect(results.flatMap((r) => r.explicitAcks).sort()).toEqual(['x', 'y', 'z']);
    expect((await received(s.path)).length).toBe(1);
    expect(await delivery(s)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('after a failure only the message carrying the retry chain may attempt', async () => {
    const s = await setup([{ status: 500 }, { status: 200 }]);
    expect((await deliver(s, 1, { msgId: 'owner' })).retryMessages).toHaveLength(1);
    // A duplicate message (another id) arrives before the retry: dropped.
    expect((await deliver(s, 1, { msgId: 'stray' })).explicitAcks).toEqual(['stray']);
    expect((await received(s.path)).length).toBe(1);
    expect((await deliver(s, 2, { msgId: 'owner' })).explicitAcks).toEqual(['owner']);
    expect(await delivery(s)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('drops messages of a superseded generation and of a deleted or disabled endpoint', async () => {
    const s = await setup([{ status: 200 }]);
    expect((await deliver(s, 1, { generation: 0 })).explicitAcks).toEqual(['msg-1']);
    expect(await received(s.path)).toEqual([]);
    await call('PATCH', `/api/v1/webhooks/${s.sub.id}`, { key: s.tenant.key, body: { active: false } });
    expect((await deliver(s, 1)).explicitAcks).toEqual(['msg-1']);
    expect(await received(s.path)).toEqual([]);
    expect(await delivery(s)).toMatchObject({ status: 'failed', last_error: 'endpoint disabled', attempts: 0 });
  });

  it('refuses at send time a URL the production rules forbid', async () => {
    const s = await setup([{ status: 200 }], { retry_count: 0 });
    const spy = withDlqSpy();
    const r = await deliver(s, 1, { env: { ...spy.env, ALLOW_PRIVATE_WEBHOOK_URLS: 'false' } });
    expect(r.explicitAcks).toEqual(['msg-1']);
    expect(await received(s.path)).toEqual([]);
    const d = await delivery(s);
    expect(d.attempt_log[0]!.error).toMatch(/^url refused/);
  });
});

describe('delivery listing', () => {
  it('pages newest first with a cursor and filters by status', async () => {
    const t = await newTenant();
    const sub = await subscribe(t.key, { url: hookUrl(hookPath('list')), events: ['*'] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = uuid();
      ids.push(id);
      await insertDeliveriesStatement((await shardOf(t.id)), t.id, [{ id, subscription_id: sub.id, event_id: uuid(), event_type: 'x.y', body: '{}' }], 1_000 + i).run();
    }
    await (await shardOf(t.id)).prepare(`UPDATE webhook_deliveries SET status = 'failed' WHERE id = ?`).bind(ids[1]).run();
    type Page = { deliveries: { id: string; status: string }[]; next_cursor: string | null };
    const first = await json<Page>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?limit=2`, { key: t.key }));
    expect(first.deliveries.map((d) => d.id)).toEqual([ids[4], ids[3]]);
    const second = await json<Page>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?limit=2&cursor=${first.next_cursor}`, { key: t.key }));
    expect(second.deliveries.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    const third = await json<Page>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?limit=2&cursor=${second.next_cursor}`, { key: t.key }));
    expect(third).toEqual({ deliveries: [expect.objectContaining({ id: ids[0] })], next_cursor: null });
    const failed = await json<Page>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?status=failed`, { key: t.key }));
    expect(failed.deliveries.map((d) => d.id)).toEqual([ids[1]]);
    const pending = await json<Page>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?status=pending`, { key: t.key }));
    expect(pending.deliveries).toHaveLength(4);
    expect((await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?cursor=bogus`, { key: t.key })).status).toBe(422);
  });
});

describe('fan-out consumer', () => {
  it('records one delivery per (event, endpoint) however often it sees the event', async () => {
    const t = await newTenant();
    const pa = hookPath('fan-a');
    const pb = hookPath('fan-b');
    await script(pa, [{ status: 200 }]);
    const a = await subscribe(t.key, { url: hookUrl(pa), events: ['lead.*'] });
    const b = await subscribe(t.key, { url: hookUrl(pb), events: ['lead.created'] });
    const event = {
      id: uuid(), event_type: 'lead.created', source: 'system' as const, contact_id: null, session_id: null, message_id: null, payload: {}, metadata: {},
      stream_id: null, sequence_number: null, schema_version: 1, timestamp: new Date().toISOString(), created_at: new Date().toISOString(),
    };
    const message = { kind: 'event' as const, tenant_id: t.id, event };
    expect(await fanOut(env, t.id, [message, message])).toBe(2);
    expect(await fanOut(env, t.id, [message])).toBe(2);
    expect(await deliveriesOf(t.id, a.id)).toHaveLength(1);
    expect(await deliveriesOf(t.id, b.id)).toHaveLength(1);
    const reqs = await eventually(async () => {
      const r = await received(pa);
      return r.length > 0 && r;
    });
    expect(verify(a.secret, reqs[0]!).data).toMatchObject({ id: event.id });
    expect(header(reqs[0]!, 'webhook-id')).toBe((await deliveriesOf(t.id, a.id))[0]!.id);
  });

  it("never sends Eventline's webhook.* event about an endpoint to that endpoint", async () => {
    const t = await newTenant();
    const a = await subscribe(t.key, { url: hookUrl(hookPath('ops-a')), events: ['webhook.*'] });
    const b = await subscribe(t.key, { url: hookUrl(hookPath('ops-b')), events: ['*'] });
    const event = {
      id: uuid(), event_type: 'webhook.retry_exhausted', source: 'system' as const, contact_id: null, session_id: null, message_id: null,
      payload: { subscription_id: a.id }, metadata: {}, stream_id: null, sequence_number: null, schema_version: 1,
      timestamp: new Date().toISOString(), created_at: new Date().toISOString(),
    };
    expect(await fanOut(env, t.id, [{ kind: 'event', tenant_id: t.id, event }])).toBe(1);
    expect(await deliveriesOf(t.id, a.id)).toEqual([]);
    expect(await deliveriesOf(t.id, b.id)).toHaveLength(1);
  });
});
