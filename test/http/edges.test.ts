import { env } from 'cloudflare:workers';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { AUTH_FAILURES_PER_MINUTE } from '../../src/http/rate-limit';
import { BASE, call, json, newTenant, uuid } from '../support/api';
import { hookPath, hookUrl } from '../support/receiver';

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
/** A client address of its own per test: the failure budget is per address. */
const address = () => `203.0.113.${Math.floor(Math.random() * 250) + 1}`;

describe('security headers', () => {
  it('serves /docs with a CSP that forbids framing, nosniff and a Referrer-Policy', async () => {
    const res = await call('GET', '/docs');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    // Swagger UI's script and style come from the Worker's own assets: nothing inline, nothing else.
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('marks every answer that carries a secret Cache-Control: no-store', async () => {
    const created = await call('POST', '/api/v1/admin/tenants', { headers: admin, body: { name: 'no-store' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { tenant, api_key } = await json<{ tenant: { id: string }; api_key: { key: string } }>(created);
    const key = await call('POST', `/api/v1/admin/tenants/${tenant.id}/keys`, { headers: admin, body: { name: 'second' } });
    expect(key.status).toBe(201);
    expect(key.headers.get('cache-control')).toBe('no-store');

    const hook = await call('POST', '/api/v1/webhooks', { key: api_key.key, body: { name: 'x', url: hookUrl(hookPath()), events: ['*'] } });
    expect(hook.status).toBe(201);
    expect(hook.headers.get('cache-control')).toBe('no-store');
    const { id } = await json<{ id: string }>(hook);
    const rotated = await call('POST', `/api/v1/webhooks/${id}/rotate-secret`, { key: api_key.key });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const token = await call('POST', '/api/v1/realtime/tokens', { key: api_key.key, body: { contact_id: uuid(), role: 'client' } });
    expect(token.headers.get('cache-control')).toBe('no-store');
    // Answers without a secret are not affected.
    expect((await call('GET', `/api/v1/webhooks/${id}`, { key: api_key.key })).headers.get('cache-control')).toBeNull();
  });
});

describe('realtime token URL', () => {
  it('is built from the request URL, not from a Host header the caller sets', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { contact_id: contact, role: 'client' }, headers: { host: 'evil.example' } });
    const { url } = await json<{ url: string }>(res);
    expect(new URL(url).host).toBe(new URL(BASE).host);
  });

  it('uses PUBLIC_URL when it is configured', async () => {
    const t = await newTenant();
    const contact = uuid();
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`${BASE}/api/v1/realtime/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json', host: 'evil.example' },
        body: JSON.stringify({ contact_id: contact, role: 'client' }),
      }),
      { ...env, PUBLIC_URL: 'https://events.example.com/ignored/path' },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(201);
    const { url, token } = await json<{ url: string; token: string }>(res);
    expect(url).toBe(`wss://events.example.com/api/v1/contacts/${contact}/stream?token=${encodeURIComponent(token)}`);
  });
});

describe('failed authentication is throttled per client address', () => {
  it(`answers 429 with Retry-After after ${AUTH_FAILURES_PER_MINUTE} failures a minute, for that address only`, async () => {
    const t = await newTenant();
    const ip = address();
    const bad = { authorization: 'Bearer evl_AAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'cf-connecting-ip': ip };
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE; i++) {
      const res = await call('GET', '/api/v1/events', { headers: bad });
      expect(res.status, `failure ${i + 1}`).toBe(401);
    }
    const over = await call('GET', '/api/v1/events', { headers: bad });
    expect(over.status).toBe(429);
    expect(over.headers.get('content-type')).toBe('application/problem+json');
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await json(over)).toMatchObject({ status: 429, title: 'Too many failed authentications', limit: AUTH_FAILURES_PER_MINUTE });
    // The address is refused before any key is looked at, a good one included; admin routes too.
    expect((await call('GET', '/api/v1/events', { key: t.key, headers: { 'cf-connecting-ip': ip } })).status).toBe(429);
    expect((await call('GET', '/api/v1/admin/tenants', { headers: { ...admin, 'cf-connecting-ip': ip } })).status).toBe(429);
    // Another address is not affected.
    expect((await call('GET', '/api/v1/events', { key: t.key, headers: { 'cf-connecting-ip': address() } })).status).toBe(200);
    expect((await call('GET', '/api/v1/events', { headers: { ...bad, 'cf-connecting-ip': '2001:db8::7' } })).status).toBe(401);
  });

  it('counts bad admin tokens and bad realtime tokens too', async () => {
    const ip = address();
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE; i++) {
      const res = i % 2
        ? await call('GET', '/api/v1/admin/tenants', { headers: { authorization: 'Bearer wrong', 'cf-connecting-ip': ip } })
        : await call('GET', `/api/v1/contacts/${uuid()}/stream?token=garbage`, { headers: { 'cf-connecting-ip': ip } });
      expect(res.status).toBe(401);
    }
    expect((await call('GET', '/api/v1/admin/tenants', { headers: { authorization: 'Bearer wrong', 'cf-connecting-ip': ip } })).status).toBe(429);
  });
});
