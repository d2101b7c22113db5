import { listMoves } from '../db/moves';
import { placeNewTenant } from '../db/shards';
import { Move, moveView } from './admin-moves';
import { createRoute, z } from '@hono/zod-openapi';
import { addApiKey, createTenant, getTenant, listApiKeys, listTenants, revokeApiKey } from '../db/tenants';
import { sha256Hex } from '../domain/json';
import { newApiKey } from '../domain/keys';
import { CursorParam, NextCursor, PageLimit, problemResponses } from '../domain/schemas/common';
import { iso, isoOrNull } from '../domain/time';
import { forgetApiKey, requireAdmin } from './auth';
import { router } from './context';
import { pageInMemory } from './paging';
import { conflict, notFound } from './problem';

export const admin = router();
admin.use('/admin/*', requireAdmin);

const TenantId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { message: 'must be 1-63 of [a-z0-9_-], starting with a letter or digit' });

const Tenant = z
  .object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    shard: z.number().int().min(0).openapi({ description: "The event-store shard that holds the tenant's data (an index into the SHARDS bindings)." }),
    move: Move.nullable().optional().openapi({ description: "The tenant's latest move between shards, with its progress (listed tenants only; null: never moved)." }),
  })
  .openapi('Tenant');
const ApiKey = z
  .object({ id: z.string(), name: z.string(), prefix: z.string(), created_at: z.string(), last_used_at: z.string().nullable(), revoked_at: z.string().nullable() })
  .openapi('ApiKey');
const NewKey = z.object({ id: z.string(), name: z.string(), prefix: z.string(), key: z.string().openapi({ description: 'Shown once.' }) });

async function mintKey(name: string) {
  const { key, prefix } = newApiKey();
  return { id: crypto.randomUUID(), name, prefix, key, hash: await sha256Hex(key) };
}

const security = [{ adminToken: [] }];

admin.openapi(
  createRoute({
    operationId: 'createTenant',
    method: 'post',
    path: '/admin/tenants',
    tags: ['Admin'],
    security,
    summary: 'Create a tenant and its first API key (shown once)',
    request: {
      body: {
        required: true,
        content: { 'application/json': { schema: z.strictObject({ name: z.string().min(1).max(200), id: TenantId.optional() }) } },
      },
    },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: z.object({ tenant: Tenant, api_key: NewKey }) } } },
      ...problemResponses(401, 409, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const id = body.id ?? `t_${crypto.randomUUID().replaceAll('-', '').slice(0, 20)}`;
    if (await getTenant(c.env.DB, id)) {
      throw conflict(`Tenant ${id} already exists.`);
    }
    const now = Date.now();
    const key = await mintKey('default');
    // Placed once, when created (src/db/shards.ts: the shard with the fewest tenants).
    const shard = await placeNewTenant(c.env);
    await createTenant(c.env.DB, { id, name: body.name, createdAt: now, shard }, key);
    // The answer carries the key: no cache (browser, proxy) may keep it.
    c.header('cache-control', 'no-store');
    return c.json(
      { tenant: { id, name: body.name, created_at: iso(now), shard }, api_key: { id: key.id, name: key.name, prefix: key.prefix, key: key.key } },
      201,
    );
  },
);

admin.openapi(
  createRoute({
    operationId: 'listTenants',
    method: 'get',
    path: '/admin/tenants',
    tags: ['Admin'],
    security,
    summary: 'List tenants',
    request: { query: z.object({ limit: PageLimit(), cursor: CursorParam }) },
    responses: {
      200: { description: 'Tenants, newest first', content: { 'application/json': { schema: z.object({ tenants: z.array(Tenant), next_cursor: NextCursor }) } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const [rows, moves] = await Promise.all([listTenants(c.env.DB), listMoves(c.env.DB)]);
    const moveOf = new Map(moves.map((m) => [m.tenantId, moveView(m)]));
    const { page, next_cursor } = pageInMemory(rows, { limit, cursor, list: 'tenants', key: (t) => [t.createdAt, t.id], shape: ['number', 'string'], descending: true });
    return c.json({ tenants: page.map((t) => ({ id: t.id, name: t.name, created_at: iso(t.createdAt), shard: t.shard, move: moveOf.get(t.id) ?? null })), next_cursor }, 200);
  },
);

const TenantParam = z.object({ tenant_id: TenantId });

admin.openapi(
  createRoute({
    operationId: 'createApiKey',
    method: 'post',
    path: '/admin/tenants/{tenant_id}/keys',
    tags: ['Admin'],
    security,
    summary: 'Add an API key (shown once)',
    request: {
      params: TenantParam,
      body: { required: false, content: { 'application/json': { schema: z.strictObject({ name: z.string().min(1).max(200).optional() }) } } },
    },
    responses: { 201: { description: 'Created', content: { 'application/json': { schema: NewKey } } }, ...problemResponses(401, 404, 422) },
  }),
  async (c) => {
    const { tenant_id } = c.req.valid('param');
    if (!(await getTenant(c.env.DB, tenant_id))) throw notFound(`Tenant ${tenant_id}`);
    const key = await mintKey(c.req.valid('json')?.name ?? 'key');
    await addApiKey(c.env.DB, tenant_id, { ...key, createdAt: Date.now() });
    c.header('cache-control', 'no-store');
    return c.json({ id: key.id, name: key.name, prefix: key.prefix, key: key.key }, 201);
  },
);

admin.openapi(
  createRoute({
    operationId: 'listApiKeys',
    method: 'get',
    path: '/admin/tenants/{tenant_id}/keys',
    tags: ['Admin'],
    security,
    summary: 'List API keys (prefix only)',
    request: { params: TenantParam, query: z.object({ limit: PageLimit(), cursor: CursorParam }) },
    responses: {
      200: { description: 'Keys, newest first', content: { 'application/json': { schema: z.object({ keys: z.array(ApiKey), next_cursor: NextCursor }) } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const { tenant_id } = c.req.valid('param');
    const { limit, cursor } = c.req.valid('query');
    if (!(await getTenant(c.env.DB, tenant_id))) throw notFound(`Tenant ${tenant_id}`);
    const all = await listApiKeys(c.env.DB, tenant_id);
    const { page: keys, next_cursor } = pageInMemory(all, { limit, cursor, list: 'api-keys', key: (k) => [k.createdAt, k.id], shape: ['number', 'string'], descending: true });
    return c.json(
      {
        next_cursor,
        keys: keys.map((k) => ({
          id: k.id,
          name: k.name,
          prefix: k.prefix,
          created_at: iso(k.createdAt),
          last_used_at: isoOrNull(k.lastUsedAt),
          revoked_at: isoOrNull(k.revokedAt),
        })),
      },
      200,
    );
  },
);

admin.openapi(
  createRoute({
    operationId: 'revokeApiKey',
    method: 'delete',
    path: '/admin/tenants/{tenant_id}/keys/{key_id}',
    tags: ['Admin'],
    security,
    summary: 'Revoke an API key',
    request: { params: TenantParam.extend({ key_id: z.string().min(1) }) },
    responses: { 204: { description: 'Revoked' }, ...problemResponses(401, 404) },
  }),
  async (c) => {
    const { tenant_id, key_id } = c.req.valid('param');
    if (!(await revokeApiKey(c.env.DB, tenant_id, key_id, Date.now()))) throw notFound(`Active key ${key_id}`);
    forgetApiKey(key_id);
    return c.body(null, 204);
  },
);
