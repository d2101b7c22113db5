import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';
import { header, hookPath, hookUrl, received, script, sleep, waitForRequests } from '../support/receiver';
import { append, deliveriesOf, eventsOfType, subscribe, verify } from '../support/webhooks';

// End to end through the real queues: append → relay → `webhooks` fan-out → `webhook-deliveries` → receiver.

// Each test has its own tenant and receiver path, so they run concurrently (most of the time is queue batching).
describe.concurrent('webhook delivery through the queues', () => {
  it('delivers a signed Standard Webhooks request with the custom headers', async () => {
    const t = await newTenant();
    const path = hookPath('headers');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['contact.created'], headers: { 'x-api-key': 'their-key', 'X-Tenant': 'acme' } });
    const contact = uuid();
    const ev = await append(t.key, { event_type: 'contact.created', contact_id: contact, payload: { name: 'Ada' } });
    const [req] = await waitForRequests(path, 1);
    expect(req!.method).toBe('POST');
    expect(header(req!, 'content-type')).toBe('application/json');
    expect(header(req!, 'user-agent')).toMatch(/^Eventline-Webhooks\//);
    expect(header(req!, 'x-api-key')).toBe('their-key');
    expect(header(req!, 'x-tenant')).toBe('acme');
    expect(header(req!, 'webhook-signature')).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    expect(Math.abs(Number(header(req!, 'webhook-timestamp')) - Date.now() / 1000)).toBeLessThan(30);
    const body = verify(sub.secret, req!);
    expect(body.type).toBe('contact.created');
    expect(body.data).toMatchObject({ id: ev.id, event_type: 'contact.created', contact_id: contact, payload: { name: 'Ada' }, sequence_number: 1 });
    expect(Date.parse(body.timestamp)).not.toBeNaN();
    const rows = await eventually(async () => {
      const r = await deliveriesOf(t.id, sub.id);
      return r[0]?.status === 'succeeded' && r;
    });
    expect(rows).toHaveLength(1);
    expect(header(req!, 'webhook-id')).toBe(rows[0]!.id);
    const detail = await json<{ attempt_log: { attempt: number; status_code: number; response_body: string; duration_ms: number }[]; payload: unknown }>(
      await call('GET', `/api/v1/webhook-deliveries/${rows[0]!.id}`, { key: t.key }),
    );
    expect(detail.payload).toEqual(JSON.parse(req!.body));
    expect(detail.attempt_log).toMatchObject([{ attempt: 1, status_code: 200, response_body: 'ok' }]);
    const got = await json<{ success_count: number; failure_count: number; last_success_at: string | null; last_triggered_at: string | null }>(
      await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key }),
    );
    expect(got).toMatchObject({ success_count: 1, failure_count: 0 });
    expect(got.last_success_at).not.toBeNull();
    expect(got.last_triggered_at).not.toBeNull();
  });

  it('applies filters (exact, prefix, *) and contact-event filters', async () => {
    const t = await newTenant();
    const p = { prefix: hookPath('prefix'), exact: hookPath('exact'), all: hookPath('all'), tags: hookPath('tags'), none: hookPath('none') };
    const subs = {
      prefix: await subscribe(t.key, { url: hookUrl(p.prefix), events: ['contact.*'] }),
      exact: await subscribe(t.key, { url: hookUrl(p.exact), events: ['note.added'] }),
      all: await subscribe(t.key, { url: hookUrl(p.all), events: ['*'] }),
      tags: await subscribe(t.key, { url: hookUrl(p.tags), subscribe_contact_events: true, contact_event_categories: ['tag'] }),
      none: await subscribe(t.key, { url: hookUrl(p.none), events: ['campaign.*'], active: true }),
    };
    const off = hookPath('off');
    await subscribe(t.key, { url: hookUrl(off), events: ['*'], active: false });
    const contact = uuid();
    await append(t.key, { event_type: 'contact.created', contact_id: contact });
    await append(t.key, { event_type: 'tag.added', contact_id: contact, payload: { tag: 'vip' } });
    await append(t.key, { event_type: 'note.added', contact_id: contact });
    const types = async (path: string, n: number) => (await waitForRequests(path, n)).map((r) => (JSON.parse(r.body) as { type: string }).type).sort();
    expect(await types(p.all, 3)).toEqual(['contact.created', 'note.added', 'tag.added']);
    expect(await types(p.prefix, 1)).toEqual(['contact.created']);
    expect(await types(p.exact, 1)).toEqual(['note.added']);
    const tagReq = await waitForRequests(p.tags, 1);
    const tagBody = verify(subs.tags.secret, tagReq[0]!);
    expect(tagBody.type).toBe('contact_event.tag_added');
    expect(tagBody.data).toMatchObject({ contact_id: contact, category: 'tag', event_type: 'tag_added' });
    await sleep(2500); // nothing else may arrive
    expect((await received(p.all)).length).toBe(3);
    expect((await received(p.prefix)).length).toBe(1);
    expect((await received(p.exact)).length).toBe(1);
    expect((await received(p.tags)).length).toBe(1);
    expect(await received(p.none)).toEqual([]);
    expect(await received(off)).toEqual([]);
    expect(await deliveriesOf(t.id, subs.none.id)).toEqual([]);
  });

  it('maps domain types to business types and keeps internal ones in', async () => {
    const t = await newTenant();
    const path = hookPath('mapping');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    const res = await call('POST', '/api/v1/events/batch', {
      key: t.key,
      body: {
        events: [
          { event_type: 'session.started', source: 'system' },
          { event_type: 'session.message_recorded', source: 'system' },
          { event_type: 'message.created', source: 'system' },
          { event_type: 'message.ai.process_image_requested', source: 'system' },
        ],
      },
    });
    expect(res.status).toBe(201);
    const got = await waitForRequests(path, 2);
    await sleep(2500);
    const all = await received(path);
    expect(all.map((r) => verify(sub.secret, r).type).sort()).toEqual(['message.received', 'session.created']);
    const byType = Object.fromEntries(all.map((r) => [verify(sub.secret, r).type, verify(sub.secret, r).data]));
    expect(byType['session.created']).toMatchObject({ event_type: 'session.started' });
    expect(byType['message.received']).toMatchObject({ event_type: 'message.created' });
    expect(got.length).toBe(2);
    expect((await deliveriesOf(t.id, sub.id)).map((d) => d.event_type).sort()).toEqual(['message.received', 'session.created']);
  });

  it('retries a 5xx on the schedule and then succeeds, with the same webhook-id', async () => {
    const t = await newTenant();
    const path = hookPath('flaky');
    await script(path, [{ status: 503, body: 'down for maintenance' }, { status: 200, body: 'fine now' }]);
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    await append(t.key, { event_type: 'order.placed' });
    const [first, second] = await waitForRequests(path, 2, 15_000);
    expect(header(second!, 'webhook-id')).toBe(header(first!, 'webhook-id'));
    expect(second!.body).toBe(first!.body);
    verify(sub.secret, first!);
    verify(sub.secret, second!);
    // First retry: 5 s ± 20%.
    const gap = second!.at - first!.at;
    expect(gap).toBeGreaterThanOrEqual(3900);
    expect(gap).toBeLessThan(9000);
    const [row] = await eventually(async () => {
      const r = await deliveriesOf(t.id, sub.id);
      return r[0]?.status === 'succeeded' && r;
    });
    const detail = await json<{ attempts: number; attempt_log: { attempt: number; status_code: number; response_body: string; error: string | null; next_attempt_at: string | null }[] }>(
      await call('GET', `/api/v1/webhook-deliveries/${row!.id}`, { key: t.key }),
    );
    expect(detail.attempts).toBe(2);
    expect(detail.attempt_log).toMatchObject([
      { attempt: 1, status_code: 503, response_body: 'down for maintenance', error: 'HTTP 503' },
      { attempt: 2, status_code: 200, response_body: 'fine now', error: null, next_attempt_at: null },
    ]);
    expect(detail.attempt_log[0]!.next_attempt_at).not.toBeNull();
    const counters = await json<{ success_count: number; failure_count: number }>(await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key }));
    expect(counters).toMatchObject({ success_count: 1, failure_count: 1 });
  });

  it('signs with both secrets during a rotation', async () => {
    const t = await newTenant();
    const path = hookPath('rotation');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    const rotated = await json<{ secret: string }>(await call('POST', `/api/v1/webhooks/${sub.id}/rotate-secret`, { key: t.key }));
    await append(t.key, { event_type: 'contact.updated', contact_id: uuid() });
    const [req] = await waitForRequests(path, 1);
    const sigs = header(req!, 'webhook-signature').split(' ');
    expect(sigs).toHaveLength(2);
    expect(verify(rotated.secret, req!).type).toBe('contact.updated');
    expect(verify(sub.secret, req!).type).toBe('contact.updated');
    // Once the overlap is over, only the new secret signs.
    await (await shardOf(t.id)).prepare(`UPDATE webhook_subscriptions SET previous_secret_expires_at = ? WHERE id = ?`).bind(Date.now() - 1, sub.id).run();
    await append(t.key, { event_type: 'contact.updated', contact_id: uuid() });
    const [, later] = await waitForRequests(path, 2);
    expect(header(later!, 'webhook-signature').split(' ')).toHaveLength(1);
    expect(verify(rotated.secret, later!).type).toBe('contact.updated');
    expect(() => verify(sub.secret, later!)).toThrow();
  });

  it('disables the endpoint on 410 Gone and logs webhook.endpoint_disabled', async () => {
    const t = await newTenant();
    const path = hookPath('gone');
    await script(path, [{ status: 410, body: 'gone' }]);
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    await append(t.key, { event_type: 'contact.created', contact_id: uuid() });
    await waitForRequests(path, 1);
    const got = await eventually(async () => {
      const s = await json<{ active: boolean; disabled_reason: string | null }>(await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key }));
      return !s.active && s;
    });
    expect(got.disabled_reason).toBe('gone');
    const [row] = await deliveriesOf(t.id, sub.id);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, dead_lettered_at: null });
    const events = await eventually(async () => {
      const e = await eventsOfType(t.id, 'webhook.endpoint_disabled');
      return e.length > 0 && e;
    });
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ subscription_id: sub.id, reason: expect.stringContaining('410') });
    // A disabled endpoint receives nothing more.
    await append(t.key, { event_type: 'contact.created', contact_id: uuid() });
    await sleep(2500);
    expect((await received(path)).length).toBe(1);
  });

  it('fails at once with retry_count 0 (dead letter, webhook.retry_exhausted), then recovers', async () => {
    const t = await newTenant();
    const path = hookPath('recover');
    await script(path, [{ status: 500, body: 'boom' }]);
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['invoice.*'], retry_count: 0 });
    const ev = await append(t.key, { event_type: 'invoice.paid' });
    await waitForRequests(path, 1);
    const [row] = await eventually(async () => {
      const r = await deliveriesOf(t.id, sub.id);
      return r[0]?.status === 'failed' && r;
    });
    expect(row!.dead_lettered_at).not.toBeNull();
    const exhausted = await eventually(async () => {
      const e = await eventsOfType(t.id, 'webhook.retry_exhausted');
      return e.length > 0 && e;
    });
    expect(exhausted).toHaveLength(1);
    expect(JSON.parse(exhausted[0]!.payload)).toMatchObject({ subscription_id: sub.id, delivery_id: row!.id, event_id: ev.id, event_type: 'invoice.paid' });
    const failed = await json<{ deliveries: { id: string; status: string }[] }>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?status=failed`, { key: t.key }));
    expect(failed.deliveries.map((d) => d.id)).toEqual([row!.id]);
    expect((await json<{ deliveries: unknown[] }>(await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?status=succeeded`, { key: t.key }))).deliveries).toEqual([]);

    await script(path, [{ status: 200 }]);
    const rec = await call('POST', `/api/v1/webhooks/${sub.id}/recover?from=${new Date(Date.now() - 60_000).toISOString()}`, { key: t.key });
    expect(rec.status).toBe(202);
    expect(await json(rec)).toMatchObject({ recovered: 1, delivery_ids: [row!.id], has_more: false });
    const reqs = await waitForRequests(path, 2);
    expect(header(reqs[1]!, 'webhook-id')).toBe(row!.id);
    await eventually(async () => (await deliveriesOf(t.id, sub.id))[0]?.status === 'succeeded');
    // Recovering again finds nothing failed.
    const again = await json<{ recovered: number }>(await call('POST', `/api/v1/webhooks/${sub.id}/recover?from=2020-01-01`, { key: t.key }));
    expect(again.recovered).toBe(0);
  });

  it('redelivers a delivery with the same webhook-id and body', async () => {
    const t = await newTenant();
    const path = hookPath('redeliver');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    await append(t.key, { event_type: 'contact.created', contact_id: uuid() });
    const [first] = await waitForRequests(path, 1);
    const [row] = await eventually(async () => {
      const r = await deliveriesOf(t.id, sub.id);
      return r[0]?.status === 'succeeded' && r;
    });
    const res = await call('POST', `/api/v1/webhook-deliveries/${row!.id}/redeliver`, { key: t.key });
    expect(res.status).toBe(202);
    expect(await json(res)).toMatchObject({ id: row!.id, status: 'pending' });
    const [, second] = await waitForRequests(path, 2);
    expect(header(second!, 'webhook-id')).toBe(header(first!, 'webhook-id'));
    expect(second!.body).toBe(first!.body);
    verify(sub.secret, second!);
    const done = await eventually(async () => {
      const d = await json<{ status: string; attempts: number; attempt_log: unknown[] }>(await call('GET', `/api/v1/webhook-deliveries/${row!.id}`, { key: t.key }));
      return d.status === 'succeeded' && d.attempts === 2 && d;
    });
    expect(done.attempt_log).toHaveLength(2);
    // Another tenant cannot see or redeliver it.
    const other = await newTenant();
    expect((await call('GET', `/api/v1/webhook-deliveries/${row!.id}`, { key: other.key })).status).toBe(404);
    expect((await call('POST', `/api/v1/webhook-deliveries/${row!.id}/redeliver`, { key: other.key })).status).toBe(404);
  });

  it('turns duplicate queue messages into one delivery and one request', async () => {
    const t = await newTenant();
    const path = hookPath('dupes');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    const ev = await append(t.key, { event_type: 'deal.won' });
    await eventually(async () => (await shardOf(t.id)).prepare(`SELECT id FROM events WHERE tenant_id = ? AND id = ?`).bind(t.id, ev.id).first());
    const record = await json(await call('GET', `/api/v1/events/${ev.id}`, { key: t.key }));
    // The relay already sent it once; send it three more times, in one batch and separately.
    const message = { kind: 'event', tenant_id: t.id, event: record };
    await env.WEBHOOKS_QUEUE.sendBatch([{ body: message }, { body: message }]);
    await env.WEBHOOKS_QUEUE.send(message);
    await waitForRequests(path, 1);
    await sleep(3000);
    expect((await received(path)).length).toBe(1);
    expect(await deliveriesOf(t.id, sub.id)).toHaveLength(1);
  });

  it('fans out every record of a pack once, however often the pack or its records arrive', async () => {
    const t = await newTenant();
    const path = hookPath('packs');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['deal.*'] });
    const records = [];
    for (const type of ['deal.won', 'deal.lost', 'deal.created']) {
      const ev = await append(t.key, { event_type: type });
      await eventually(async () => (await shardOf(t.id)).prepare(`SELECT id FROM events WHERE tenant_id = ? AND id = ?`).bind(t.id, ev.id).first());
      records.push(await json(await call('GET', `/api/v1/events/${ev.id}`, { key: t.key })));
    }
    await waitForRequests(path, 3);
    // The relay sent them already (packed or single); now a pack of all three, the pack again, and one alone.
    const messages = records.map((event) => ({ kind: 'event' as const, tenant_id: t.id, event }));
    const pack = { kind: 'pack' as const, tenant_id: t.id, messages };
    await env.WEBHOOKS_QUEUE.sendBatch([{ body: pack }, { body: pack }]);
    await env.WEBHOOKS_QUEUE.send(messages[1]);
    await sleep(3000);
    const got = await received(path);
    expect(got.map((r) => verify(sub.secret, r).data.id).sort()).toEqual(records.map((r) => r.id).sort());
    expect(await deliveriesOf(t.id, sub.id)).toHaveLength(3);
  });

  it('keeps tenants apart: one tenant\'s events never reach another\'s endpoints', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const pa = hookPath('tenant-a');
    const pb = hookPath('tenant-b');
    await subscribe(a.key, { url: hookUrl(pa), events: ['*'] });
    await subscribe(b.key, { url: hookUrl(pb), events: ['*'], subscribe_contact_events: true });
    await append(a.key, { event_type: 'contact.created', contact_id: uuid() });
    await waitForRequests(pa, 1);
    await sleep(2500);
    expect(await received(pb)).toEqual([]);
  });

  it('sends webhook.test now and returns the attempt', async () => {
    const t = await newTenant();
    const path = hookPath('test');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['contact.created'] });
    const res = await call('POST', `/api/v1/webhooks/${sub.id}/test`, { key: t.key });
    expect(res.status).toBe(200);
    const body = await json<{ delivery: { id: string; status: string; event_type: string }; attempt: { attempt: number; status_code: number; duration_ms: number } }>(res);
    expect(body.delivery).toMatchObject({ status: 'succeeded', event_type: 'webhook.test' });
    expect(body.attempt).toMatchObject({ attempt: 1, status_code: 200 });
    const [req] = await received(path);
    expect(verify(sub.secret, req!)).toMatchObject({ type: 'webhook.test', data: { subscription_id: sub.id } });
    expect(header(req!, 'webhook-id')).toBe(body.delivery.id);
    // A failing endpoint: the attempt says why, and is not retried.
    await script(path, [{ status: 500, body: 'nope' }]);
    const failed = await json<{ delivery: { status: string }; attempt: { status_code: number; response_body: string } }>(
      await call('POST', `/api/v1/webhooks/${sub.id}/test`, { key: t.key }),
    );
    expect(failed).toMatchObject({ delivery: { status: 'failed' }, attempt: { status_code: 500, response_body: 'nope' } });
  });
});
