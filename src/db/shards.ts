import { asc, eq, sql } from 'drizzle-orm';
import { orm } from './client';
import { tenants } from './schema/control';

// The shard directory. The control database (binding DB) says which event-store shard holds each
// tenant (tenants.shard, an index into the SHARDS var, whose names are D1 bindings). Every query of a
// tenant's events, timeline, deliveries, rollups, projections… goes to that shard.

export interface Shard {
  index: number;
  binding: string;
  db: D1Database;
}

/** The shard bindings, in shard-number order (wrangler.toml's SHARDS var). */
export function shardBindings(env: Env): string[] {
  return (env.SHARDS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function shardAt(env: Env, index: number): Shard {
  const binding = shardBindings(env)[index];
  const db = binding ? (env as unknown as Record<string, D1Database | undefined>)[binding] : undefined;
  if (!binding || !db || typeof db.prepare !== 'function') throw new Error(`shard ${index} is not bound (SHARDS=${env.SHARDS})`);
  return { index, binding, db };
}

/** Every shard: the crons and the ops views visit each. */
export function allShards(env: Env): Shard[] {
  return shardBindings(env).map((_, i) => shardAt(env, i));
}

// Per-isolate cache of the directory, like the API key cache (src/http/auth.ts): a request resolves its
// tenant's shard once, and most requests resolve it from here. A move switches the directory and
// fences the old shard (src/moves/), so a writer that still holds the old entry fails instead of
// writing where nobody reads.
export const DIRECTORY_CACHE_MS = 10_000;
const cache = new Map<string, { index: number; until: number }>();

export function forgetTenantShard(tenantId: string): void {
  cache.delete(tenantId);
}

/**
 * The tenant's shard. A tenant the directory does not know (every tenant is created with its row, so
 * only hand-made test tenants) is on shard 0.
 */
export async function tenantShard(env: Env, tenantId: string): Promise<Shard> {
  const now = Date.now();
  const hit = cache.get(tenantId);
  if (hit && hit.until > now) return shardAt(env, hit.index);
  const row = await orm(env.DB).select({ shard: tenants.shard }).from(tenants).where(eq(tenants.id, tenantId)).get();
  const index = row?.shard ?? 0;
  if (cache.size > 10_000) cache.clear();
  cache.set(tenantId, { index, until: now + DIRECTORY_CACHE_MS });
  return shardAt(env, index);
}

/** The D1 database of the tenant's shard (the common case: a query of one tenant). */
export async function tenantDb(env: Env, tenantId: string): Promise<D1Database> {
  return (await tenantShard(env, tenantId)).db;
}

/** Tenants per shard, from the directory (shards without tenants count 0). */
export async function tenantsPerShard(env: Env): Promise<number[]> {
  const rows = await orm(env.DB)
    .select({ shard: tenants.shard, n: sql<number>`count(*)` })
    .from(tenants)
    .groupBy(tenants.shard)
    .orderBy(asc(tenants.shard))
    .all();
  const counts = shardBindings(env).map(() => 0);
  for (const r of rows) if (r.shard < counts.length) counts[r.shard] = r.n;
  return counts;
}

/**
 * Placement of a new tenant: the shard with the fewest tenants (the lowest number on a tie). Tenant
 * count, not bytes: a new tenant has no data yet, and bytes per tenant vary too much to predict; a
 * shard that fills up anyway is relieved by moving tenants (POST /admin/tenants/{tenant_id}/move),
 * and GET /ops/stats warns past 80 %.
 */
export async function placeNewTenant(env: Env): Promise<number> {
  const counts = await tenantsPerShard(env);
  let best = 0;
  counts.forEach((n, i) => {
    if (n < counts[best]!) best = i;
  });
  return best;
}

/**
 * Runs `work` on every shard in parallel (the crons): a shard that fails is logged and left for the
 * next run, and the other shards' results still count.
 */
export async function eachShard<T>(env: Env, what: string, work: (db: D1Database, shard: Shard) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled(allShards(env).map((s) => work(s.db, s)));
  const out: T[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') out.push(r.value);
    else console.error(JSON.stringify({ msg: `${what} failed on a shard`, shard: i, error: String(r.reason) }));
  });
  return out;
}
