import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid } from '../support/api';
import { expectProblem } from '../support/problem';

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
interface Key {
  id: string;
  name: string;
  prefix: string;
  key?: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

describe('admin: tenants and API keys', () => {
  it('creates a tenant and returns its key once; keys are listed by prefix only and stored hashed', async () => {
    const res = await call('POST', '/api/v1/admin/tenants', { headers: admin, body: { name: 'Acme', id: `acme-${uuid().slice(0, 8)}` } });
    expect(res.status).toBe(201);
    const created = await json<{ tenant: { id: string; name: string; created_at: string }; api_key: Key }>(res);
    expect(created.tenant.name).toBe('Acme');
    expect(created.api_key.key).toMatch(/^evl_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
    expect(created.api_key.key!.slice(4, 12)).toBe(created.api_key.prefix);
    const tenantId = created.tenant.id;

    // The key works.
    expect((await call('GET', '/api/v1/events', { key: created.api_key.key })).status).toBe(200);

    const added = await json<Key>(await call('POST', `/api/v1/admin/tenants/${tenantId}/keys`, { headers: admin, body: { name: 'ci' } }));
    expect(added.name).toBe('ci');
    const list = await json<{ keys: Key[] }>(await call('GET', `/api/v1/admin/tenants/${tenantId}/keys`, { headers: admin }));
    expect(list.keys.map((k) => k.id).sort()).toEqual([created.api_key.id, added.id].sort());
    for (const k of list.keys) {
      expect(Object.keys(k).sort()).toEqual(['created_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at']);
      expect(JSON.stringify(k)).not.toContain(k.id === added.id ? added.key : created.api_key.key);
    }
    const stored = await env.DB.prepare('SELECT hash FROM api_keys WHERE id = ?').bind(added.id).first<{ hash: string }>();
    expect(stored!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.hash).not.toContain(added.key!.slice(13));

    // The tenant shows in the list; a second tenant with the same id is a conflict.
    const tenants = await json<{ tenants: { id: string }[] }>(await call('GET', '/api/v1/admin/tenants', { headers: admin }));
    expect(tenants.tenants.map((t) => t.id)).toContain(tenantId);
    await expectProblem(await call('POST', '/api/v1/admin/tenants', { headers: admin, body: { name: 'again', id: tenantId } }), 409);
  });

  it('revoking a key makes it 401 at once; the tenant\'s other keys keep working', async () => {
    const t = await newTenant();
    const second = await json<Key>(await call('POST', `/api/v1/admin/tenants/${t.id}/keys`, { headers: admin }));
    const keys = await json<{ keys: Key[] }>(await call('GET', `/api/v1/admin/tenants/${t.id}/keys`, { headers: admin }));
    const first = keys.keys.find((k) => k.id !== second.id)!;
    expect((await call('GET', '/api/v1/events', { key: t.key })).status).toBe(200);
    expect((await call('DELETE', `/api/v1/admin/tenants/${t.id}/keys/${first.id}`, { headers: admin })).status).toBe(204);
    const p = await expectProblem(await call('GET', '/api/v1/events', { key: t.key }), 401);
    expect(p.detail).toMatch(/revoked/);
    await expectProblem(await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'a.b', source: 'system' } }), 401);
    expect((await call('GET', '/api/v1/events', { key: second.key })).status).toBe(200);
    const after = await json<{ keys: Key[] }>(await call('GET', `/api/v1/admin/tenants/${t.id}/keys`, { headers: admin }));
    expect(after.keys.find((k) => k.id === first.id)!.revoked_at).not.toBeNull();
    // Revoking again, or a key of another tenant: 404.
    await expectProblem(await call('DELETE', `/api/v1/admin/tenants/${t.id}/keys/${first.id}`, { headers: admin }), 404);
    const other = await newTenant();
    await expectProblem(await call('DELETE', `/api/v1/admin/tenants/${other.id}/keys/${second.id}`, { headers: admin }), 404);
    expect((await call('GET', '/api/v1/events', { key: second.key })).status).toBe(200);
  });

  it('refuses a wrong, missing or API-key admin token with 401', async () => {
    const t = await newTenant();
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token' }, { authorization: `Bearer ${t.key}` }, { authorization: `Basic ${btoa(`x:${env.ADMIN_TOKEN}`)}` }];
    for (const headers of attempts) {
      await expectProblem(await call('GET', '/api/v1/admin/tenants', { headers }), 401);
      await expectProblem(await call('POST', '/api/v1/admin/tenants', { headers, body: { name: 'x' } }), 401);
      await expectProblem(await call('POST', `/api/v1/admin/tenants/${t.id}/keys`, { headers }), 401);
    }
  });

  it('validates admin bodies', async () => {
    await expectProblem(await call('POST', '/api/v1/admin/tenants', { headers: admin, body: { name: '', id: 'Bad Id!', plan: 'gold' } }), 422, ['name', 'id', 'plan']);
    await expectProblem(await call('GET', '/api/v1/admin/tenants/no-such-tenant/keys', { headers: admin }), 404);
  });
});

describe('API keys on tenant routes', () => {
  it.each([
    ['no header', {}],
    ['not bearer', { authorization: 'Token abc' }],
    ['malformed key', { authorization: 'Bearer evl_short' }],
    ['well-formed unknown key', { authorization: `Bearer evl_AAAAAAAA_${'B'.repeat(32)}` }],
    ['the admin token', { authorization: `Bearer ${env.ADMIN_TOKEN}` }],
  ])('%s → 401 problem with WWW-Authenticate, nothing written', async (_name, headers) => {
    const res = await call('POST', '/api/v1/events', { headers, body: { event_type: 'contact.created', source: 'system' } });
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    await expectProblem(res, 401);
    for (const path of ['/api/v1/events', '/api/v1/events/stats', '/api/v1/events/export', '/api/v1/event-types', `/api/v1/events/${uuid()}`]) {
      await expectProblem(await call('GET', path, { headers }), 401);
    }
  });
});

describe('tenant isolation', () => {
  it('tenant B cannot read, list, count, aggregate or export tenant A\'s events', async () => {
    const [a, b] = [await newTenant('a'), await newTenant('b')];
    const contact = uuid();
    const session = uuid();
    const res = await call('POST', '/api/v1/events/batch', {
      key: a.key,
      body: {
        events: [
          { event_type: 'contact.created', source: 'system', contact_id: contact, session_id: session, metadata: { correlation_id: 'shared-corr' } },
          { event_type: 'message.sent', source: 'system', session_id: session, metadata: { correlation_id: 'shared-corr' } },
        ],
      },
    });
    const [evContact, evDirect] = (await json<{ events: { id: string }[] }>(res)).events;
    await eventually(async () => (await json<{ count: number }>(await call('GET', `/api/v1/events/count?contact_id=${contact}`, { key: a.key }))).count === 1);

    for (const id of [evContact!.id, evDirect!.id]) {
      expect((await call('GET', `/api/v1/events/${id}`, { key: a.key })).status).toBe(200);
      await expectProblem(await call('GET', `/api/v1/events/${id}`, { key: b.key }), 404);
    }
    for (const q of ['', `?contact_id=${contact}`, `?session_id=${session}`, '?correlation_id=shared-corr', '?type=contact.created']) {
      expect((await json<{ total: number }>(await call('GET', `/api/v1/events${q}`, { key: a.key }))).total).toBeGreaterThan(0);
      expect(await json(await call('GET', `/api/v1/events${q}`, { key: b.key }))).toEqual({ events: [], total: 0, next_cursor: null });
    }
    expect((await json<{ count: number }>(await call('GET', `/api/v1/events/count?session_id=${session}`, { key: a.key }))).count).toBe(2);
    expect((await json<{ count: number }>(await call('GET', `/api/v1/events/count?contact_id=${contact}`, { key: b.key }))).count).toBe(0);
    expect((await json<{ count: number }>(await call('GET', `/api/v1/events/count?session_id=${session}`, { key: b.key }))).count).toBe(0);
    expect((await json<{ total: number }>(await call('GET', '/api/v1/events/stats', { key: a.key }))).total).toBe(2);
    expect(await json(await call('GET', '/api/v1/events/stats?group_by=source', { key: b.key }))).toMatchObject({ total: 0, groups: [] });
    expect((await (await call('GET', '/api/v1/events/export', { key: a.key })).text()).trim().split('\n')).toHaveLength(2);
    expect(await (await call('GET', '/api/v1/events/export', { key: b.key })).text()).toBe('');
    // B reusing A's client id creates B's own event; A's is untouched.
    const mine = await call('POST', '/api/v1/events', { key: b.key, body: { id: evDirect!.id, event_type: 'tag.added', source: 'manual' } });
    expect(mine.status).toBe(201);
    expect((await json<{ event_type: string }>(await call('GET', `/api/v1/events/${evDirect!.id}`, { key: a.key }))).event_type).toBe('message.sent');
  });
});
