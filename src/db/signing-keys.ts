import { and, desc, eq, inArray, isNull } from 'drizzle-orm';
import { orm } from './client';
import { realtimeSigningKeys } from './schema/control';

export async function addSigningKey(
  d1: D1Database,
  tenantId: string,
  key: { id: string; name: string; sealedSecret: string; createdAt: number },
): Promise<void> {
  await orm(d1).insert(realtimeSigningKeys).values({ ...key, tenantId });
}

/** The tenant's keys, revoked ones included, without their secrets. */
export async function listSigningKeys(d1: D1Database, tenantId: string) {
  return orm(d1)
    .select({ id: realtimeSigningKeys.id, name: realtimeSigningKeys.name, createdAt: realtimeSigningKeys.createdAt, revokedAt: realtimeSigningKeys.revokedAt })
    .from(realtimeSigningKeys)
    .where(eq(realtimeSigningKeys.tenantId, tenantId))
    .orderBy(desc(realtimeSigningKeys.createdAt))
    .all();
}

export async function revokeSigningKey(d1: D1Database, tenantId: string, keyId: string, at: number): Promise<boolean> {
  const res = await orm(d1)
    .update(realtimeSigningKeys)
    .set({ revokedAt: at })
    .where(and(eq(realtimeSigningKeys.tenantId, tenantId), eq(realtimeSigningKeys.id, keyId), isNull(realtimeSigningKeys.revokedAt)))
    .run();
  return res.meta.changes > 0;
}

/**
 * An active key by id alone: a token names its key in the `kid` header before anything in it can be
 * trusted, and the key then says which tenant signed. The caller checks the token's tenant against it.
 */
export async function findActiveSigningKey(d1: D1Database, keyId: string) {
  return orm(d1)
    .select({ id: realtimeSigningKeys.id, tenantId: realtimeSigningKeys.tenantId, sealedSecret: realtimeSigningKeys.sealedSecret })
    .from(realtimeSigningKeys)
    .where(and(eq(realtimeSigningKeys.id, keyId), isNull(realtimeSigningKeys.revokedAt)))
    .get();
}

/** Which of the tenant's signing keys `keyIds` are still active. */
export async function activeSigningKeyIds(d1: D1Database, tenantId: string, keyIds: string[]): Promise<string[]> {
  if (keyIds.length === 0) return [];
  const rows = await orm(d1)
    .select({ id: realtimeSigningKeys.id })
    .from(realtimeSigningKeys)
    .where(and(eq(realtimeSigningKeys.tenantId, tenantId), inArray(realtimeSigningKeys.id, keyIds.slice(0, 90)), isNull(realtimeSigningKeys.revokedAt)))
    .all();
  return rows.map((r) => r.id);
}
