import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { runScheduled } from '../../src/jobs';
import { purgeExpiredTimeline } from '../../src/jobs/timeline-expiry';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('timeline expiry job', () => {
  it('deletes entries expired longer ago than the grace period, in the hub and in D1, and keeps the rest', async () => {
    const t = await newTenant();
    const contact = uuid();
    const now = Date.now();
    const add = async (title: string, expires: number | null) => {
      const body = { event_type: 'notification_sent', category: 'notification', source: 'system', title, ...(expires === null ? {} : { expires_at: iso(expires) }) };
      const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body });
      expect(res.status).toBe(201);
      return json<TimelineEntryRecord>(res);
    };
    const old = await add('expired 10 days ago', now - 10 * DAY);
    const recent = await add('expired 2 days ago', now - 2 * DAY);
    const future = await add('expires tomorrow', now + DAY);
    const forever = await add('never expires', null);
    const inD1 = async () => {
      const { results } = await (await shardOf(t.id)).prepare('SELECT id FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind(t.id, contact).all<{ id: string }>();
      return results.map((r) => r.id).sort();
    };
    const inHub = async () =>
      (await json<{ events: TimelineEntryRecord[] }>(await call('GET', `/api/v1/contacts/${contact}/events?include_expired=true`, { key: t.key }))).events
        .map((e) => e.id)
        .sort();
    await eventually(async () => (await inD1()).length === 4);

    // The daily cron runs it (default grace: 7 days, CONTACT_EVENT_EXPIRED_GRACE_DAYS).
    const ctx = createExecutionContext();
    await runScheduled(createScheduledController({ cron: '17 3 * * *', scheduledTime: now }), env, ctx);
    await waitOnExecutionContext(ctx);
    const kept = [recent.id, future.id, forever.id].sort();
    expect(await inHub()).toEqual(kept);
    expect(await inD1()).toEqual(kept);
    // The hub's own relay of the delete changes nothing further, and nothing comes back.
    const stub = contactHubStub(env, t.id, contact);
    await eventually(async () => (await runInDurableObject(stub, (h: StreamHub) => h.outboxStats())).pending === 0);
    expect(await inD1()).toEqual(kept);

    // The minute cron does not run it.
    await runScheduled(createScheduledController({ cron: '* * * * *', scheduledTime: now }), env, createExecutionContext());
    expect(await inHub()).toEqual(kept);

    // A shorter grace period takes the 2-day-old one too.
    const report = await purgeExpiredTimeline({ ...env, CONTACT_EVENT_EXPIRED_GRACE_DAYS: '1' } as Env, now);
    expect(report.failed).toBe(0);
    expect(await inHub()).toEqual([future.id, forever.id].sort());
    expect(await inD1()).toEqual([future.id, forever.id].sort());
    expect(old.sequence_number).toBe(1);
  });

  it("follows each tenant's contact_event_expired_grace_days setting", async () => {
    const strict = await newTenant();
    const lenient = await newTenant();
    const now = Date.now();
    const contact = uuid();
    for (const t of [strict, lenient]) {
      const res = await call('POST', `/api/v1/contacts/${contact}/events`, {
        key: t.key,
        body: { event_type: 'notification_sent', category: 'notification', source: 'system', title: 'expired an hour ago', expires_at: iso(now - 3_600_000) },
      });
      expect(res.status).toBe(201);
    }
    expect((await call('PATCH', '/api/v1/settings', { key: strict.key, body: { contact_event_expired_grace_days: 0 } })).status).toBe(200);
    const count = async (tenantId: string) =>
      (await shardOf(tenantId)).prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ?').bind(tenantId).first<{ n: number }>().then((r) => r?.n ?? 0);
    await eventually(async () => (await count(strict.id)) === 1 && (await count(lenient.id)) === 1);

    await purgeExpiredTimeline(env, now);
    expect(await count(strict.id)).toBe(0); // grace 0 days: gone
    expect(await count(lenient.id)).toBe(1); // default 7 days: kept
  });
});
