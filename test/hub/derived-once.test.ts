import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';

// Guarantee 3: replays never double a timeline entry derived from a log event — not in the hub,
// not in D1, whether the replay comes by client id or by Idempotency-Key, one at a time or at once.
describe('log → timeline derivation happens exactly once', () => {
  it('replays by id and by Idempotency-Key, sequential and concurrent, leave one derived entry', async () => {
    const t = await newTenant();
    const contact = uuid();
    const id = uuid();
    const body = { id, event_type: 'session.started', source: 'system', contact_id: contact, payload: { channel: 'whatsapp' } };
    const first = await call('POST', '/api/v1/events', { key: t.key, body, headers: { 'idempotency-key': 'session-1' } });
    expect(first.status).toBe(201);
    const original = await json<{ id: string; sequence_number: number }>(first);

    const again = await Promise.all([
      ...Array.from({ length: 5 }, () => call('POST', '/api/v1/events', { key: t.key, body })),
      ...Array.from({ length: 5 }, () => call('POST', '/api/v1/events', { key: t.key, body, headers: { 'idempotency-key': 'session-1' } })),
    ]);
    for (const res of again) {
      expect(res.status).toBe(200);
      expect(await json<{ id: string; sequence_number: number }>(res)).toMatchObject({ id: original.id, sequence_number: original.sequence_number });
    }

    const page = await json<{ events: { event_type: string; origin_event_id: string | null }[]; total: number }>(
      await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }),
    );
    expect(page.total).toBe(1);
    expect(page.events[0]).toMatchObject({ event_type: 'session_started', origin_event_id: id });

    const d1 = await eventually(async () => {
      const r = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind(t.id, contact).first<{ n: number }>();
      return r && r.n > 0 ? r.n : undefined;
    });
    // Give any stray relay pass time to land, then count again.
    await new Promise((r) => setTimeout(r, 200));
    const after = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind(t.id, contact).first<{ n: number }>();
    expect(d1).toBe(1);
    expect(after?.n).toBe(1);
    const log = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ? AND id = ?').bind(t.id, id).first<{ n: number }>();
    expect(log?.n).toBe(1);
  });
});
