import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { latestSchemaVersion, listUpcasters, upcast } from '../../src/domain/upcasters';
import { call, json, newTenant, uuid, shardOf } from '../support/api';

interface StoredEvent {
  id: string;
  schema_version: number;
  stored_schema_version: number;
  payload: Record<string, unknown>;
}

describe('event versioning (upcasters)', () => {
  it('the registry steps contact.created from v1 to v2', () => {
    expect(latestSchemaVersion('contact.created')).toBe(2);
    expect(latestSchemaVersion('message.sent')).toBe(1);
    expect(listUpcasters()).toContainEqual({ event_type: 'contact.created', from: 1, to: 2 });
    const v1 = { name: '  Grace Brewster Hopper ', phone: '+1555', email: 'grace@navy.mil', source: 'import' };
    expect(upcast('contact.created', 1, v1)).toEqual({
      version: 2,
      payload: { name: 'Grace Brewster Hopper', first_name: 'Grace', last_name: 'Brewster Hopper', phone_number: '+1555', email_address: 'grace@navy.mil', source: 'import' },
    });
    // A v2 event and an unknown type pass through unchanged.
    expect(upcast('contact.created', 2, { first_name: 'A' })).toEqual({ version: 2, payload: { first_name: 'A' } });
    expect(upcast('message.sent', 1, { x: 1 })).toEqual({ version: 1, payload: { x: 1 } });
  });

  it('reads a stored v1 event as v2 on every read path, and never rewrites storage', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stream = `contact-${contact}`;
    const r = await call('POST', `/api/v1/streams/${stream}/events?wait=position`, {
      key: t.key,
      body: {
        events: [
          { event_type: 'contact.created', payload: { name: 'Ada Lovelace', email: 'ada@example.com' } },
          { event_type: 'contact.created', schema_version: 2, payload: { name: 'Ada L', first_name: 'Ada', last_name: 'L' } },
        ],
      },
    });
    expect(r.status).toBe(201);
    const ids = (await json<{ events: { id: string }[] }>(r)).events.map((e) => e.id);
    const expectedV2 = { name: 'Ada Lovelace', first_name: 'Ada', last_name: 'Lovelace', phone_number: null, email_address: 'ada@example.com' };

    const fromStream = await json<{ events: (StoredEvent & { version: number })[] }>(await call('GET', `/api/v1/streams/${stream}`, { key: t.key }));
    expect(fromStream.events[0]).toMatchObject({ schema_version: 2, stored_schema_version: 1, payload: expectedV2 });
    expect(fromStream.events[1]).toMatchObject({ schema_version: 2, stored_schema_version: 2, payload: { name: 'Ada L', first_name: 'Ada', last_name: 'L' } });

    const fromLog = await json<{ events: StoredEvent[] }>(await call('GET', '/api/v1/log?types=contact.created', { key: t.key }));
    expect(fromLog.events).toHaveLength(2);
    expect(fromLog.events[0]).toMatchObject({ id: ids[0], schema_version: 2, stored_schema_version: 1, payload: expectedV2 });
    expect(fromLog.events[1]).toMatchObject({ id: ids[1], schema_version: 2, stored_schema_version: 2 });
    // Every read path agrees: the log page (built in SQLite, upcast rows patched in) equals the stream read.
    const all = await json<{ events: StoredEvent[] }>(await call('GET', '/api/v1/log?after=0', { key: t.key }));
    expect(all.events).toEqual(fromStream.events.map(({ version: _version, ...e }) => e));

    const stored = await (await shardOf(t.id)).prepare('SELECT schema_version, payload FROM events WHERE tenant_id = ? AND id = ?').bind(t.id, ids[0]).first<{ schema_version: number; payload: string }>();
    expect(stored!.schema_version).toBe(1);
    expect(JSON.parse(stored!.payload)).toEqual({ name: 'Ada Lovelace', email: 'ada@example.com' });
  });
});

describe('snapshots', () => {
  it('stores and returns the latest state at or below a version; validates the version', async () => {
    const t = await newTenant();
    const s = `cart-${uuid()}`;
    await call('POST', `/api/v1/streams/${s}/events`, { key: t.key, body: { events: Array.from({ length: 5 }, (_, i) => ({ event_type: 'cart.item_added', payload: { i } })) } });
    const put = (version: number, state: Record<string, unknown>) => call('PUT', `/api/v1/streams/${s}/snapshot`, { key: t.key, body: { version, state } });
    expect((await put(2, { items: 2 })).status).toBe(200);
    expect((await put(4, { items: 4 })).status).toBe(200);
    const latest = await json<{ version: number; state: Record<string, unknown>; source: string }>(await call('GET', `/api/v1/streams/${s}/snapshot`, { key: t.key }));
    expect(latest).toMatchObject({ version: 4, state: { items: 4 }, source: 'client' });
    const at3 = await json<{ version: number }>(await call('GET', `/api/v1/streams/${s}/snapshot?version=3`, { key: t.key }));
    expect(at3.version).toBe(2);
    const tooFar = await put(6, { items: 6 });
    expect(tooFar.status).toBe(422);
    expect((await json<{ errors: { path: string }[] }>(tooFar)).errors.map((e) => e.path)).toEqual(['version']);
    expect((await call('PUT', `/api/v1/streams/${s}/snapshot`, { key: t.key, body: { version: 0, state: 'x' } })).status).toBe(422);
    expect((await put(1, { items: 1 }).then(() => call('GET', `/api/v1/streams/cart-${uuid()}/snapshot`, { key: t.key }))).status).toBe(404);
    const other = await newTenant();
    expect((await call('GET', `/api/v1/streams/${s}/snapshot`, { key: other.key })).status).toBe(404);
    expect((await call('PUT', `/api/v1/streams/${s}/snapshot`, { key: other.key, body: { version: 1, state: {} } })).status).toBe(404);
  });
});
