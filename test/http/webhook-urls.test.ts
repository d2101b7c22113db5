import { describe, expect, it } from 'vitest';
import { json, newTenant } from '../support/api';
import { EMBEDDED_AND_CLUSTER } from '../support/webhook-urls';
import { callProduction } from '../support/webhooks';


describe('webhook URLs with IPv4 inside IPv6, and cluster names', () => {
  it('refuses each on create and on PATCH with a 422 naming url, and stores nothing', async () => {
    const t = await newTenant();
    for (const url of EMBEDDED_AND_CLUSTER) {
      const res = await callProduction('POST', '/api/v1/webhooks', t.key, { name: 'x', url, events: ['*'] });
      expect(res.status, url).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const p = await json<{ errors: { path: string }[] }>(res);
      expect(p.errors.map((e) => e.path), url).toEqual(['url']);
    }
    const ok = await callProduction('POST', '/api/v1/webhooks', t.key, { name: 'x', url: 'https://hooks.example.com/eventline', events: ['*'] });
    expect(ok.status).toBe(201);
    const sub = await json<{ id: string }>(ok);
    for (const url of EMBEDDED_AND_CLUSTER) {
      const res = await callProduction('PATCH', `/api/v1/webhooks/${sub.id}`, t.key, { url });
      expect(res.status, url).toBe(422);
    }
    const list = await json<{ webhooks: { url: string }[] }>(await callProduction('GET', '/api/v1/webhooks', t.key));
    expect(list.webhooks.map((w) => w.url)).toEqual(['https://hooks.example.com/eventline']);
  });
});
