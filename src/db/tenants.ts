import { and, asc, desc, eq, inArray, isNull } from 'drizzle-orm';
import { orm } from './client';
import { apiKeys, tenants } from './schema/control';
import { isSigningKeyId } from '../domain/signing-keys';
import { activeSigningKeyIds } from './signing-keys';

export async function createTenant(
  d1: D1Database,
  tenant: { id: string; name: string; createdAt: number; shard: number },
  key: { id: string; name: string; prefix: string; hash: string },
): Promise<void> {
  const db = orm(d1);
  await db.batch([
    db.insert(tenants).values({ id: tenant.id, name: tenant.name, createdAt: tenant.createdAt, shard: tenant.shard }),
    db.insert(apiKeys).values({ ...key, tenantId: tenant.id, createdAt: tenant.createdAt }),
  ]);
}

export async function getTenant(d1: D1Database, tenantId: string) {
  return orm(d1).select().from(tenants).where(eq(tenants.id, tenantId)).get();
}

export async function listTenants(d1: D1Database) {
  return orm(d1).select().from(tenants).orderBy(desc(tenants.createdAt)).all();
}

/** Every tenant's id, in id order (the daily cron's jobs walk them). */
export async function listTenantIds(d1: D1Database): Promise<string[]> {
  return (await orm(d1).select({ id: tenants.id }).from(tenants).orderBy(asc(tenants.id)).all()).map((r) => r.id);
}

export async function addApiKey(
  d1: D1Database,
  tenantId: string,
  key: { id: string; name: string; prefix: string; hash: string; createdAt: number },
): Promise<void> {
  await orm(d1).insert(apiKeys).values({ ...key, tenantId });
}

export async function listApiKeys(d1: D1Database, tenantId: string) {
  return orm(d1)
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      prefix: apiKeys.prefix,
      createdAt: apiKeys.createdAt,
      lastUsedAt: apiKeys.lastUsedAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(desc(apiKeys.createdAt))
    .all();
}

export async function revokeApiKey(d1: D1Database, tenantId: string, keyId: string, at: number): Promise<boolean> {
  const res = await orm(d1)
    .update(apiKeys)
    .set({ revokedAt: at })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt)))
    .run();
  return res.meta.changes > 0;
}

/** Candidates for a presented key, by its public prefix; the caller compares hashes in constant time. */
export async function findActiveKeysByPrefix(d1: D1Database, prefix: string) {
  return orm(d1)
    .select({ id: apiKeys.id, tenantId: apiKeys.tenantId, hash: apiKeys.hash })
    .from(apiKeys)
    .where(and(eq(apiKeys.prefix, prefix), isNull(apiKeys.revokedAt)))
    .all();
}

export async function touchApiKey(d1: D1Database, tenantId: string, keyId: string, at: number): Promise<void> {
  await orm(d1).update(apiKeys).set({ lastUsedAt: at }).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, keyId))).run();
}

/**
 * Which of the tenant's `keyIds` are still active (not revoked): realtime sockets live on their key,
 * an API key (tokens from POST /realtime/tokens) or a realtime signing key (`rsk_…`, tokens the
 * tenant signed). The hub asks about both kinds in one call.
 */
export async function activeKeyIds(d1: D1Database, tenantId: string, keyIds: string[]): Promise<string[]> {
  const signing = keyIds.filter(isSigningKeyId);
  const api = keyIds.filter((id) => !isSigningKeyId(id));
  const [fromSigning, fromApi] = await Promise.all([activeSigningKeyIds(d1, tenantId, signing), activeApiKeyIds(d1, tenantId, api)]);
  return [...fromApi, ...fromSigning];
}

async function activeApiKeyIds(d1: D1Database, tenantId: string, keyIds: string[]): Promise<string[]> {
  if (keyIds.length === 0) return [];
  const rows = await orm(d1)
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), inArray(apiKeys.id, keyIds.slice(0, 90)), isNull(apiKeys.revokedAt)))
    .all();
  return rows.map((r) => r.id);
}
