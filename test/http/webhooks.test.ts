import { describe, expect, it } from 'vitest';
import { call, json, newTenant, uuid } from '../support/api';
import { expectProblem, fieldPaths } from '../support/problem';
import { hookPath, hookUrl } from '../support/receiver';
import { callProduction } from '../support/webhooks';

interface Sub {
  id: string;
  secret?: string;
  [k: string]: unknown;
}
interface Problem {
  status: number;
  errors: { path: string; message: string }[];
}

const create = (key: string, body: Record<string, unknown>) => call('POST', '/api/v1/webhooks', { key, body });
const paths = (p: Problem) => p.errors.map((e) => e.path).sort();


describe('webhook subscriptions API', () => {
  it('creates with defaults, shows the secret once, never on GET', async () => {
    const t = await newTenant();
    const res = await create(t.key, { name: 'CRM sync', url: hookUrl(hookPath()), events: ['contact.*'] });
    expect(res.status).toBe(201);
    const sub = await json<Sub>(res);
    expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(atob(sub.secret!.slice(6)).length).toBeGreaterThanOrEqual(24);
    expect(sub).toMatchObject({
      name: 'CRM sync',
      events: ['contact.*'],
      subscribe_contact_events: false,
      contact_event_types: [],
      contact_event_categories: [],
      active: true,
      headers: {},
      retry_count: 7,
      timeout_seconds: 15,
      success_count: 0,
      failure_count: 0,
      last_triggered_at: null,
      disabled_reason: null,
    });
    const got = await json<Sub>(await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key }));
    expect(got.secret).toBeUndefined();
    expect(JSON.stringify(got)).not.toContain(sub.secret!.slice(6));
    const list = await json<{ webhooks: Sub[] }>(await call('GET', '/api/v1/webhooks', { key: t.key }));
    expect(list.webhooks.map((w) => w.id)).toEqual([sub.id]);
    expect(JSON.stringify(list)).not.toContain('whsec_');
  });

  it('updates only the given fields and deletes', async () => {
    const t = await newTenant();
    const sub = await json<Sub>(await create(t.key, { name: 'a', url: hookUrl(hookPath()), events: ['*'], headers: { 'x-api-key': 'k1' } }));
    const res = await call('PATCH', `/api/v1/webhooks/${sub.id}`, {
      key: t.key,
      body: { name: 'b', retry_count: 3, subscribe_contact_events: true, contact_event_categories: ['tag', 'note'], active: false },
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ name: 'b', retry_count: 3, timeout_seconds: 15, events: ['*'], headers: { 'x-api-key': 'k1' }, subscribe_contact_events: true, contact_event_categories: ['tag', 'note'], active: false });
    expect((await call('DELETE', `/api/v1/webhooks/${sub.id}`, { key: t.key })).status).toBe(204);
    expect((await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key })).status).toBe(404);
    expect((await call('DELETE', `/api/v1/webhooks/${sub.id}`, { key: t.key })).status).toBe(404);
  });

  it('rotates the secret: a new one, shown once, with a 24 h overlap', async () => {
    const t = await newTenant();
    const sub = await json<Sub>(await create(t.key, { name: 'a', url: hookUrl(hookPath()), events: ['*'] }));
    const res = await call('POST', `/api/v1/webhooks/${sub.id}/rotate-secret`, { key: t.key });
    expect(res.status).toBe(200);
    const body = await json<{ secret: string; secret_rotation_ends_at: string }>(res);
    expect(body.secret).toMatch(/^whsec_/);
    expect(body.secret).not.toBe(sub.secret);
    const overlap = Date.parse(body.secret_rotation_ends_at) - Date.now();
    expect(overlap).toBeGreaterThan(23.9 * 3600_000);
    expect(overlap).toBeLessThanOrEqual(24 * 3600_000);
    const got = await json<Sub>(await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key }));
    expect(got.secret_rotation_ends_at).toBe(body.secret_rotation_ends_at);
    expect(JSON.stringify(got)).not.toContain('whsec_');
  });

  it('rejects bad input naming every bad field, and writes nothing', async () => {
    const t = await newTenant();
    const res = await create(t.key, {
      name: '',
      url: 'ftp://example.com/x',
      events: ['Contact.Created', 'contact.*'],
      contact_event_categories: ['nope'],
      retry_count: 11,
      timeout_seconds: 0,
      headers: { 'webhook-id': 'forged', 'User-Agent': 'x', 'bad header': 'v' },
      surprise: true,
    });
    const p = await expectProblem(res, 422);
    expect(fieldPaths(p)).toEqual(
      ['contact_event_categories.0', 'events.0', 'headers.User-Agent', 'headers.bad header', 'headers.webhook-id', 'name', 'retry_count', 'surprise', 'timeout_seconds', 'url'].sort(),
    );
    // No filters at all and no contact events: nothing would ever be delivered.
    const empty = await create(t.key, { name: 'x', url: hookUrl(hookPath()) });
    expect(empty.status).toBe(422);
    expect(paths(await json<Problem>(empty))).toEqual(['events']);
    const list = await json<{ webhooks: Sub[] }>(await call('GET', '/api/v1/webhooks', { key: t.key }));
    expect(list.webhooks).toEqual([]);
  });

  it('rejects a bad PATCH without changing anything', async () => {
    const t = await newTenant();
    const sub = await json<Sub>(await create(t.key, { name: 'a', url: hookUrl(hookPath()), events: ['*'] }));
    const res = await call('PATCH', `/api/v1/webhooks/${sub.id}`, { key: t.key, body: { name: 'b', timeout_seconds: 31, url: 'nope' } });
    expect(res.status).toBe(422);
    expect(paths(await json<Problem>(res))).toEqual(['timeout_seconds', 'url']);
    const cleared = await call('PATCH', `/api/v1/webhooks/${sub.id}`, { key: t.key, body: { events: [] } });
    expect(cleared.status).toBe(422);
    const got = await json<Sub>(await call('GET', `/api/v1/webhooks/${sub.id}`, { key: t.key }));
    expect(got).toMatchObject({ name: 'a', timeout_seconds: 15, events: ['*'], url: sub.url });
    expect((await call('GET', `/api/v1/webhooks/not-a-uuid`, { key: t.key })).status).toBe(422);
    const q = await call('GET', `/api/v1/webhooks/${sub.id}/deliveries?status=bogus&limit=0`, { key: t.key });
    expect(q.status).toBe(422);
    expect(paths(await json<Problem>(q))).toEqual(['query.limit', 'query.status']);
    const r = await call('POST', `/api/v1/webhooks/${sub.id}/recover`, { key: t.key });
    expect(r.status).toBe(422);
    expect(paths(await json<Problem>(r))).toEqual(['query.from']);
  });

  it('refuses private, loopback, link-local and metadata URLs in production (SSRF)', async () => {
    const t = await newTenant();
    const bad = [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://2130706433/hook',
      'https://0x7f000001/hook',
      'https://[::1]/hook',
      'https://[::ffff:169.254.169.254]/hook',
      'https://169.254.169.254/latest/meta-data/',
      'https://metadata.google.internal/computeMetadata/v1/',
      'https://localhost:8443/hook',
      'https://10.0.0.8/hook',
      'https://192.168.1.1/hook',
      'https://[fd00:ec2::254]/hook',
    ];
    for (const url of bad) {
      const res = await callProduction('POST', '/api/v1/webhooks', t.key, { name: 'x', url, events: ['*'] });
      expect(res.status, url).toBe(422);
      const p = await json<Problem>(res);
      expect(p.errors, url).toEqual([{ path: 'url', message: expect.stringMatching(/https|private|loopback|local|internal|reserved/) }]);
    }
    // The URL is checked even when other fields fail too.
    const both = await callProduction('POST', '/api/v1/webhooks', t.key, { name: '', url: 'https://127.0.0.1/', events: ['*'] });
    expect(paths(await json<Problem>(both))).toEqual(['name', 'url']);
    const ok = await callProduction('POST', '/api/v1/webhooks', t.key, { name: 'x', url: 'https://hooks.example.com/eventline', events: ['*'] });
    expect(ok.status).toBe(201);
    const sub = await json<Sub>(ok);
    const patch = await callProduction('PATCH', `/api/v1/webhooks/${sub.id}`, t.key, { url: 'https://[::1]:9000/x' });
    expect(patch.status).toBe(422);
    const list = await json<{ webhooks: Sub[] }>(await call('GET', '/api/v1/webhooks', { key: t.key }));
    expect(list.webhooks.map((w) => w.url)).toEqual(['https://hooks.example.com/eventline']);
  });

  it('documents every webhook route in the OpenAPI document', async () => {
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(await call('GET', '/openapi.json'));
    expect(Object.keys(doc.paths['/api/v1/webhooks']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/v1/webhooks/{webhook_id}']!).sort()).toEqual(['delete', 'get', 'patch']);
    for (const path of ['/api/v1/webhooks/{webhook_id}/rotate-secret', '/api/v1/webhooks/{webhook_id}/test', '/api/v1/webhooks/{webhook_id}/recover', '/api/v1/webhook-deliveries/{delivery_id}/redeliver']) {
      expect(Object.keys(doc.paths[path]!), path).toEqual(['post']);
    }
    expect(Object.keys(doc.paths['/api/v1/webhooks/{webhook_id}/deliveries']!)).toEqual(['get']);
    expect(Object.keys(doc.paths['/api/v1/webhook-deliveries/{delivery_id}']!)).toEqual(['get']);
  });

  it("keeps tenants apart: another tenant's webhook is not found", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const sub = await json<Sub>(await create(a.key, { name: 'a', url: hookUrl(hookPath()), events: ['*'] }));
    for (const [method, path] of [
      ['GET', `/api/v1/webhooks/${sub.id}`],
      ['PATCH', `/api/v1/webhooks/${sub.id}`],
      ['DELETE', `/api/v1/webhooks/${sub.id}`],
      ['POST', `/api/v1/webhooks/${sub.id}/rotate-secret`],
      ['POST', `/api/v1/webhooks/${sub.id}/test`],
      ['GET', `/api/v1/webhooks/${sub.id}/deliveries`],
      ['POST', `/api/v1/webhooks/${sub.id}/recover?from=2020-01-01`],
    ] as const) {
      const res = await call(method, path, { key: b.key, ...(method === 'PATCH' ? { body: { name: 'stolen' } } : {}) });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await json<{ webhooks: Sub[] }>(await call('GET', '/api/v1/webhooks', { key: b.key }))).webhooks).toEqual([]);
    const still = await json<Sub>(await call('GET', `/api/v1/webhooks/${sub.id}`, { key: a.key }));
    expect(still.name).toBe('a');
    expect((await call('GET', `/api/v1/webhook-deliveries/${uuid()}`, { key: a.key })).status).toBe(404);
  });
});
