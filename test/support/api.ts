import { env, exports } from 'cloudflare:workers';
import { tenantDb, tenantShard } from '../../src/db/shards';
import { checkConformance } from './conformance';

export const BASE = 'http://eventline.test';

export interface Tenant {
  id: string;
  key: string;
}

/**
 * Calls the Worker's fetch handler in the real runtime. Every response is checked against
 * /openapi.json (status, media type, JSON body): a test that gets an undocumented answer fails.
 */
export async function call(method: string, path: string, opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await exports.default.fetch(new Request(`${BASE}${path}`, { method, headers, body }));
  await checkConformance(method, path, res);
  return res;
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

let n = 0;
/** A fresh tenant with an API key, through the admin API. */
export async function newTenant(name = 'test'): Promise<Tenant> {
  n += 1;
  const res = await call('POST', '/api/v1/admin/tenants', {
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    body: { name: `${name}-${n}` },
  });
  if (res.status !== 201) throw new Error(`tenant creation failed: ${res.status} ${await res.text()}`);
  const body = await json<{ tenant: { id: string }; api_key: { key: string } }>(res);
  return { id: body.tenant.id, key: body.api_key.key };
}

/** The D1 database of the tenant's shard (the directory in the control database says which). */
export const shardOf = (tenantId: string): Promise<D1Database> => tenantDb(env, tenantId);

/** A fresh tenant that placement put on shard `k` (new tenants go to the shard with the fewest). */
export async function tenantOnShard(k: number, name = 'test'): Promise<Tenant> {
  for (let i = 0; i < 10; i += 1) {
    const t = await newTenant(name);
    if ((await tenantShard(env, t.id)).index === k) return t;
  }
  throw new Error(`no new tenant was placed on shard ${k}`);
}

/** Polls until `check` returns a value (not undefined/false) or the time runs out. */
export async function eventually<T>(check: () => Promise<T>, { timeoutMs = 5000, stepMs = 20 } = {}): Promise<Exclude<NonNullable<T>, false>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<NonNullable<T>, false>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const uuid = () => crypto.randomUUID();

/** Waits until the relay has brought every one of these log events to the tenant's D1 query store. */
export async function untilInD1(tenantId: string, ids: string[]): Promise<void> {
  await eventually(async () => {
    const row = await (await shardOf(tenantId)).prepare(`SELECT count(*) AS n FROM events WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))`)
      .bind(tenantId, JSON.stringify(ids))
      .first<{ n: number }>();
    return row!.n === ids.length;
  });
}
