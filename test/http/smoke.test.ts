import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';

describe('foundation', () => {
  it('appends a contact event through the hub and relays it to D1', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'contact.created', source: 'system', contact_id: contact, payload: { name: 'Ada' } } });
    expect(res.status).toBe(201);
    const ev = await json<{ id: string; sequence_number: number }>(res);
    expect(ev.sequence_number).toBe(1);
    const row = await eventually(async () => (await shardOf(t.id)).prepare('SELECT * FROM events WHERE id = ?').bind(ev.id).first());
    expect(row.tenant_id).toBe(t.id);
    const entry = await eventually(async () => (await shardOf(t.id)).prepare('SELECT * FROM contact_events WHERE contact_id = ?').bind(contact).first());
    expect(entry.event_type).toBe('contact_created');
  });

  it('appends an event without a contact straight to D1', async () => {
    const t = await newTenant();
    const res = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'cron.cleanup.expired_sessions', source: 'cron' } });
    expect(res.status).toBe(201);
    const ev = await json<{ id: string }>(res);
    const got = await call('GET', `/api/v1/events/${ev.id}`, { key: t.key });
    expect(got.status).toBe(200);
  });

  it('numbers 200 concurrent appends to one contact 1..200', async () => {
    const t = await newTenant();
    const contact = uuid();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact, payload: { i } } })),
    );
    const seqs = await Promise.all(results.map(async (r) => (await json<{ sequence_number: number }>(r)).sequence_number));
    expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });
});
