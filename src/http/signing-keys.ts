import { createRoute, z } from '@hono/zod-openapi';
import { addSigningKey, findActiveSigningKey, listSigningKeys, revokeSigningKey } from '../db/signing-keys';
import { CursorParam, NextCursor, PageLimit, problemResponses } from '../domain/schemas/common';
import { newSigningKey, openSecret, sealSecret } from '../domain/signing-keys';
import { iso, isoOrNull } from '../domain/time';
import { router } from './context';
import { pageInMemory } from './paging';
import { ApiError, notFound } from './problem';

export const signingKeys = router();

/** The master secret the stored signing-key secrets are sealed under; without it there is no realtime at all. */
export function tokenSigningSecret(env: Env): string {
  if (!env.TOKEN_SIGNING_SECRET) {
    throw new ApiError({ code: 'realtime-disabled', message: 'TOKEN_SIGNING_SECRET is not set, so realtime tokens can be neither issued nor checked.' });
  }
  return env.TOKEN_SIGNING_SECRET;
}

// Per-isolate cache of opened keys: a socket open would otherwise cost a D1 read and a decryption.
// A revocation in this isolate takes effect at once; in others within CACHE_MS (as for API keys).
const CACHE_MS = 10_000;
const cache = new Map<string, { tenantId: string; secret: string; until: number }>();

export function forgetSigningKey(keyId: string): void {
  cache.delete(keyId);
}

/** The active signing key `keyId` (its tenant and secret), or null when it does not exist, was revoked or no longer opens. */
export async function signingKeyFor(env: Env, keyId: string): Promise<{ tenantId: string; secret: string } | null> {
  const now = Date.now();
  const hit = cache.get(keyId);
  if (hit && hit.until > now) return hit;
  const row = await findActiveSigningKey(env.DB, keyId);
  const secret = row ? await openSecret(tokenSigningSecret(env), row.tenantId, row.id, row.sealedSecret) : null;
  if (!row || secret === null) {
    cache.delete(keyId);
    return null;
  }
  if (cache.size > 10_000) cache.clear();
  const entry = { tenantId: row.tenantId, secret, until: now + CACHE_MS };
  cache.set(keyId, entry);
  return entry;
}

const SigningKey = z
  .object({
    id: z.string().openapi({ description: 'The `kid` header of the tokens signed with this key.' }),
    name: z.string(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
  })
  .openapi('RealtimeSigningKey');

const NewSigningKeyAnswer = z
  .object({
    id: z.string().openapi({ description: 'Put it in the `kid` header of every token you sign with this key.' }),
    name: z.string(),
    secret: z.string().openapi({ description: 'The HS256 secret (its UTF-8 bytes are the key). Shown once: store it in your backend.' }),
    created_at: z.string(),
  })
  .openapi('NewRealtimeSigningKey', { example: { id: 'rsk_Xq3v9TzKp2LmN8cR4wYb', name: 'backend', secret: 'evlrt_…', created_at: '2026-01-01T00:00:00.000Z' } });

const NewSigningKeyBody = z.strictObject({
  name: z.string().min(1, { message: 'must not be empty' }).max(200, { message: 'must be at most 200 characters' }).optional().openapi({ description: 'A label for the list; default `signing key`.' }),
});

signingKeys.openapi(
  createRoute({
    operationId: 'createRealtimeSigningKey',
    method: 'post',
    path: '/realtime/signing-keys',
    tags: ['Realtime'],
    summary: 'Create a signing key for realtime tokens your backend mints (secret shown once)',
    description:
      'Your backend signs realtime tokens itself (HS256 JWT, the key id in the `kid` header, the claims of docs/realtime-tokens.md), with no call to Eventline per token. The secret is in this answer only.',
    request: { body: { required: false, content: { 'application/json': { schema: NewSigningKeyBody } } } },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: NewSigningKeyAnswer } } },
      ...problemResponses(400, 401, 413, 415, 422, 503),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const name = c.req.valid('json')?.name ?? 'signing key';
    const { id, secret } = newSigningKey();
    const now = Date.now();
    await addSigningKey(c.env.DB, tenantId, { id, name, sealedSecret: await sealSecret(tokenSigningSecret(c.env), tenantId, id, secret), createdAt: now });
    // The answer carries the secret: no cache (browser, proxy) may keep it.
    c.header('cache-control', 'no-store');
    return c.json({ id, name, secret, created_at: iso(now) }, 201);
  },
);

signingKeys.openapi(
  createRoute({
    operationId: 'listRealtimeSigningKeys',
    method: 'get',
    path: '/realtime/signing-keys',
    tags: ['Realtime'],
    summary: 'List the realtime signing keys (no secrets)',
    request: { query: z.object({ limit: PageLimit(), cursor: CursorParam }) },
    responses: {
      200: {
        description: 'Keys, newest first, revoked ones included',
        content: { 'application/json': { schema: z.object({ signing_keys: z.array(SigningKey), next_cursor: NextCursor }) } },
      },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const all = await listSigningKeys(c.env.DB, c.get('tenantId'));
    const { page, next_cursor } = pageInMemory(all, { limit, cursor, list: 'signing-keys', key: (k) => [k.createdAt, k.id], shape: ['number', 'string'], descending: true });
    return c.json(
      { signing_keys: page.map((k) => ({ id: k.id, name: k.name, created_at: iso(k.createdAt), revoked_at: isoOrNull(k.revokedAt) })), next_cursor },
      200,
    );
  },
);

signingKeys.openapi(
  createRoute({
    operationId: 'revokeRealtimeSigningKey',
    method: 'delete',
    path: '/realtime/signing-keys/{key_id}',
    tags: ['Realtime'],
    summary: 'Revoke a realtime signing key',
    description: 'Its tokens open nothing from now on, and the sockets they opened are closed with 4401 (within 30 s).',
    request: { params: z.object({ key_id: z.string().min(1).max(128) }) },
    responses: { 204: { description: 'Revoked' }, ...problemResponses(401, 404, 422) },
  }),
  async (c) => {
    const { key_id } = c.req.valid('param');
    if (!(await revokeSigningKey(c.env.DB, c.get('tenantId'), key_id, Date.now()))) throw notFound(`Active signing key ${key_id}`);
    forgetSigningKey(key_id);
    return c.body(null, 204);
  },
);
