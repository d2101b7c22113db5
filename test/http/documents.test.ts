import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { call, json } from '../support/api';

interface OpenApiDoc {
  openapi: string;
  info: { title: string };
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }>; security?: unknown[] }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}

// Routes that are not part of the API: the document itself, the docs page and helpers.
const NOT_API = new Set(['/', '/__noop', '/docs', '/openapi.json']);

describe('health', () => {
  it('answers without auth after checking D1', async () => {
    const res = await call('GET', '/api/v1/health');
    expect(res.status).toBe(200);
    const body = await json<{ status: string; d1: string; time: string }>(res);
    expect(body.status).toBe('ok');
    expect(body.d1).toBe('ok');
    expect(Math.abs(Date.parse(body.time) - Date.now())).toBeLessThan(60_000);
  });
});

describe('/openapi.json', () => {
  it('is OpenAPI 3.1 and documents every route the app serves', async () => {
    const res = await call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = await json<OpenApiDoc>(res);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes).toHaveProperty('apiKey');
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && !NOT_API.has(r.path))
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`),
    );
    expect(served.size).toBeGreaterThan(10);
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
    for (const route of [
      'POST /api/v1/events',
      'POST /api/v1/events/batch',
      'GET /api/v1/events',
      'GET /api/v1/events/{event_id}',
      'GET /api/v1/events/count',
      'GET /api/v1/events/stats',
      'GET /api/v1/events/export',
      'GET /api/v1/event-types',
      'GET /api/v1/health',
      'POST /api/v1/admin/tenants',
      'GET /api/v1/admin/tenants',
      'POST /api/v1/admin/tenants/{tenant_id}/keys',
      'GET /api/v1/admin/tenants/{tenant_id}/keys',
      'DELETE /api/v1/admin/tenants/{tenant_id}/keys/{key_id}',
    ]) {
      expect(documented).toContain(route);
    }
    // Errors are documented as problem+json.
    const append = doc.paths['/api/v1/events']!.post!;
    for (const code of ['400', '401', '409', '413', '415', '422']) expect(append.responses[code]!.content).toHaveProperty(['application/problem+json']);
    expect(doc.components.schemas).toHaveProperty('Problem');
    expect(doc.components.schemas).toHaveProperty('EventPage');
  });
});

describe('/docs', () => {
  it('serves the reference page: Swagger UI from the Worker\'s own assets over /openapi.json', async () => {
    const res = await call('GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('href="/openapi.json"');
    // Every script and style is a same-origin file (the CSP allows no inline script or style).
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map(([, attrs]) => attrs);
    expect(scripts).toEqual([' src="/docs/swagger-ui-bundle.js"', ' src="/docs/init.js"']);
    expect(html).not.toMatch(/<style|style=/);
    expect([...html.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map(([, href]) => href)).toEqual(['/docs/swagger-ui.css', '/docs/docs.css']);
    // `/` redirects to the docs (the test fetch follows the redirect).
    const root = await call('GET', '/');
    expect(root.status).toBe(200);
    expect(await root.text()).toBe(html);
  });
});
