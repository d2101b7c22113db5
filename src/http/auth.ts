import { createMiddleware } from 'hono/factory';
import { tenantShard } from '../db/shards';
import { activeKeyIds, findActiveKeysByPrefix, touchApiKey } from '../db/tenants';
import { sha256Hex } from '../domain/json';
import { parseApiKey, timingSafeEqualStrings } from '../domain/keys';
import { MINUTE_MS } from '../domain/time';
import type { AppEnv } from './context';
import { unauthorized } from './problem';
import { assertAuthNotThrottled, noteAuthFailure } from './rate-limit';

interface CachedKey {
  tenantId: string;
  keyId: string;
  until: number;
}

// Per-isolate cache of verified keys. A revocation in this isolate takes effect at once; in others
// within CACHE_MS. It spares a D1 read on every append.
const CACHE_MS = 10_000;
const cache = new Map<string, CachedKey>();
const TOUCH_EVERY_MS = MINUTE_MS;
const touched = new Map<string, number>();

// Per-isolate cache of "is this key still active", for realtime tokens, which name the key that minted
// them: same lifetime as the key cache, so a revocation stops a token at the same time as its key.
const activeCache = new Map<string, { active: boolean; until: number }>();

export function forgetApiKey(keyId: string): void {
  for (const [hash, entry] of cache) if (entry.keyId === keyId) cache.delete(hash);
  for (const k of activeCache.keys()) if (k.endsWith(`/${keyId}`)) activeCache.delete(k);
}

/** Whether the tenant's key `keyId` is still active (not revoked), cached for CACHE_MS. */
export async function apiKeyActive(env: Env, tenantId: string, keyId: string): Promise<boolean> {
  const now = Date.now();
  const hit = activeCache.get(`${tenantId}/${keyId}`);
  if (hit && hit.until > now) return hit.active;
  const active = (await activeKeyIds(env.DB, tenantId, [keyId])).includes(keyId);
  if (activeCache.size > 10_000) activeCache.clear();
  activeCache.set(`${tenantId}/${keyId}`, { active, until: now + CACHE_MS });
  return active;
}

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

export async function verifyApiKey(env: Env, key: string): Promise<{ tenantId: string; keyId: string } | null> {
  const parsed = parseApiKey(key);
  if (!parsed) return null;
  const hash = await sha256Hex(key);
  const hit = cache.get(hash);
  const now = Date.now();
  if (hit && hit.until > now) return hit;
  const candidates = await findActiveKeysByPrefix(env.DB, parsed.prefix);
  const match = candidates.find((k) => timingSafeEqualStrings(k.hash, hash));
  if (!match) {
    cache.delete(hash);
    return null;
  }
  const entry = { tenantId: match.tenantId, keyId: match.id, until: now + CACHE_MS };
  cache.set(hash, entry);
  return entry;
}

/** `Authorization: Bearer <api key>` → the caller's tenant. Every tenant-scoped route sits behind it. */
export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  // An address that keeps failing is refused before its key is even looked at: guessing keys (or a
  // misconfigured client hammering with a dead one) costs a D1 read per try otherwise.
  assertAuthNotThrottled(c);
  const key = bearer(c.req.header('authorization'));
  if (!key) {
    await noteAuthFailure(c);
    throw unauthorized();
  }
  const found = await verifyApiKey(c.env, key);
  if (!found) {
    await noteAuthFailure(c);
    throw unauthorized('The API key is not valid or has been revoked.');
  }
  c.set('tenantId', found.tenantId);
  c.set('apiKeyId', found.keyId);
  // Every query of the tenant's data goes to its shard (cached per isolate, as the key is).
  const shard = await tenantShard(c.env, found.tenantId);
  c.set('db', shard.db);
  c.set('shard', shard.index);
  const now = Date.now();
  if ((touched.get(found.keyId) ?? 0) + TOUCH_EVERY_MS < now) {
    touched.set(found.keyId, now);
    c.executionCtx.waitUntil(touchApiKey(c.env.DB, found.tenantId, found.keyId, now).catch(() => undefined));
  }
  await next();
});

/** `Authorization: Bearer <ADMIN_TOKEN>` for the admin routes. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header('authorization'));
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw unauthorized('Admin routes are disabled: ADMIN_TOKEN is not set.');
  assertAuthNotThrottled(c);
  if (!token || !timingSafeEqualStrings(token, expected)) {
    await noteAuthFailure(c);
    throw unauthorized('A valid admin token is required.');
  }
  await next();
});
