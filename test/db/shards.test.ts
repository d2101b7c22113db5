import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MOVED_TABLES } from '../../src/db/moves';
import { allShards, tenantShard } from '../../src/db/shards';
import { CAPACITY_WARNING_AT, SHARD_LIMIT_BYTES, capacityOf } from '../../src/domain/capacity';
import { call, eventually, json, newTenant, shardOf, tenantOnShard, uuid, type Tenant } from '../support/api';

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

async function appendDirect(t: Tenant, n: number): Promise<string[]> {
  const res = await call('POST', '/api/v1/events/batch', {
    key: t.key,
    body: { events: Array.from({ length: n }, (_, i) => ({ event_type: 'audit.checked', source: 'system', payload: { i } })) },
  });
  expect(res.status).toBe(201);
  return (await json<{ events: { id: string }[] }>(res)).events.map((e) => e.id);
}

const positions = async (t: Tenant) =>
  (await json<{ events: { id: string; position: number }[] }>(await call('GET', '/api/v1/log?after=0&limit=1000', { key: t.key }))).events;

describe('the shard directory', () => {
  it('places new tenants on the shard with the fewest tenants, so both shards fill; their data lives only there', async () => {
    const before = await Promise.all(allShards(env).map(async (s) => (await env.DB.prepare('SELECT count(*) AS n FROM tenants WHERE shard = ?').bind(s.index).first<{ n: number }>())!.n));
    const fewest = before.indexOf(Math.min(...before));
    const t = await newTenant('placed');
    expect((await tenantShard(env, t.id)).index).toBe(fewest);
    const list = await json<{ tenants: { id: string; shard: number }[] }>(await call('GET', '/api/v1/admin/tenants?limit=200', { headers: admin }));
    expect(list.tenants.find((x) => x.id === t.id)!.shard).toBe(fewest);
    const [ids] = [await appendDirect(t, 2)];
    for (const s of allShards(env)) {
      const n = (await s.db.prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ?').bind(t.id).first<{ n: number }>())!.n;
      expect(n, `shard ${s.index}`).toBe(s.index === fewest ? ids.length : 0);
    }
    // The control database holds no event store at all.
    expect(await env.DB.prepare(`SELECT name FROM sqlite_master WHERE name = 'events'`).first()).toBeNull();
  });

  it('numbers each tenant log 1, 2, 3… on its own, also two tenants of one shard appending at once', async () => {
    const a = await tenantOnShard(1, 'pos-a');
    const b = await tenantOnShard(1, 'pos-b');
    await Promise.all([...Array.from({ length: 6 }, () => appendDirect(a, 5)), ...Array.from({ length: 6 }, () => appendDirect(b, 4))]);
    for (const [t, n] of [[a, 30], [b, 24]] as const) {
      const log = await positions(t);
      expect(log.map((e) => e.position)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    }
    // A subscription of each reads the same numbering from its checkpoint.
    expect((await call('POST', '/api/v1/subscriptions', { key: b.key, body: { name: 'reader', event_types: [] } })).status).toBe(201);
    const batch = await json<{ events: { position: number }[]; next_after: number }>(await call('GET', '/api/v1/subscriptions/reader/events?limit=10', { key: b.key }));
    expect(batch.events.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(batch.next_after).toBe(10);
  });

  it('never reuses a position, even after the newest events were erased', async () => {
    const t = await tenantOnShard(0, 'no-reuse');
    await appendDirect(t, 2);
    const contact = uuid();
    const res = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact, payload: {} } });
    expect(res.status).toBe(201);
    await eventually(async () => (await positions(t)).length === 3);
    expect((await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(200);
    expect((await positions(t)).map((e) => e.position)).toEqual([1, 2]);
    await appendDirect(t, 1);
    expect((await positions(t)).map((e) => e.position)).toEqual([1, 2, 4]);
  });

  it('every shard table with tenant rows is carried by a move and fenced by triggers', async () => {
    const db = await shardOf('any');
    const { results: all } = await db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%' AND name NOT LIKE 'contact_events_fts%' AND name != 'tenant_fences' ORDER BY name`)
      .all<{ name: string }>();
    const tables: { name: string }[] = [];
    for (const t of all) {
      const { results: cols } = await db.prepare(`SELECT name FROM pragma_table_info(?)`).bind(t.name).all<{ name: string }>();
      if (cols.some((c) => c.name === 'tenant_id')) tables.push(t);
    }
    expect(MOVED_TABLES.map((t) => t.name).sort()).toEqual(tables.map((t) => t.name));
    const { results: triggers } = await db.prepare(`SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'fence_%'`).all<{ tbl_name: string; name: string }>();
    for (const { name } of tables) for (const op of ['insert', 'update', 'delete']) expect(triggers.map((r) => r.name)).toContain(`fence_${name}_${op}`);
  });
});

describe('capacity', () => {
  it('warns past 80 % of the 10 GB limit, with the tenant share', () => {
    expect(SHARD_LIMIT_BYTES).toBe(10_000_000_000);
    expect(capacityOf(1, 7_999_999_999, 2_000_000_000)).toMatchObject({ shard: 1, used: 0.8, tenant_share: 0.25, warning: null });
    const full = capacityOf(1, CAPACITY_WARNING_AT * SHARD_LIMIT_BYTES, 1);
    expect(full.warning).toMatch(/Shard 1 is 80 % full/);
  });

  it("GET /ops/stats reports the tenant's shard: its bytes, the limit and the tenant's share", async () => {
    const t = await tenantOnShard(1, 'capacity');
    await appendDirect(t, 20);
    const stats = await json<{ capacity: { shard: number; bytes: number; limit_bytes: number; tenant_bytes: number; tenant_share: number; warning: string | null } }>(
      await call('GET', '/api/v1/ops/stats', { key: t.key }),
    );
    expect(stats.capacity).toMatchObject({ shard: 1, limit_bytes: 10_000_000_000, warning: null });
    expect(stats.capacity.bytes).toBeGreaterThan(0);
    expect(stats.capacity.tenant_bytes).toBeGreaterThan(20 * 30);
    expect(stats.capacity.tenant_share).toBeGreaterThan(0);
    expect(stats.capacity.tenant_share).toBeLessThanOrEqual(1);
  });
});
