import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { getTenantSettings } from '../../src/db/settings';
import { call, json, newTenant } from '../support/api';
import { expectProblem, fieldPaths } from '../support/problem';

const stored = async (tenantId: string) =>
  JSON.parse((await env.DB.prepare(`SELECT settings FROM tenants WHERE id = ?`).bind(tenantId).first<{ settings: string }>())!.settings) as Record<string, unknown>;

describe('settings', () => {
  it('starts at the defaults, changes one setting at a time, and resets with null', async () => {
    const t = await newTenant();
    const get = await call('GET', '/api/v1/settings', { key: t.key });
    expect(get.status).toBe(200);
    expect(await json(get)).toEqual({ event_retention_days: 365, contact_event_expired_grace_days: 7 });

    const patched = await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 30 } });
    expect(patched.status).toBe(200);
    expect(await json(patched)).toEqual({ event_retention_days: 30, contact_event_expired_grace_days: 7 });
    const second = await call('PATCH', '/api/v1/settings', { key: t.key, body: { contact_event_expired_grace_days: 0 } });
    expect(await json(second)).toEqual({ event_retention_days: 30, contact_event_expired_grace_days: 0 });
    // The exported reader the expiry cleanup uses sees the same.
    expect(await getTenantSettings(env.DB, t.id)).toEqual({ event_retention_days: 30, contact_event_expired_grace_days: 0 });

    const reset = await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: null } });
    expect(await json(reset)).toEqual({ event_retention_days: 365, contact_event_expired_grace_days: 0 });
    expect(await stored(t.id)).toEqual({ contact_event_expired_grace_days: 0 });
  });

  it('keeps other keys of the settings column', async () => {
    const t = await newTenant();
    await env.DB.prepare(`UPDATE tenants SET settings = ? WHERE id = ?`).bind(JSON.stringify({ other_feature: { on: true } }), t.id).run();
    await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 90 } });
    expect(await stored(t.id)).toEqual({ other_feature: { on: true }, event_retention_days: 90 });
  });

  it('rejects out-of-range, wrongly typed, unknown and empty changes, naming each field, and writes nothing', async () => {
    const t = await newTenant();
    await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 100 } });
    const cases: [unknown, string[]][] = [
      [{ event_retention_days: 0, contact_event_expired_grace_days: 366 }, ['event_retention_days', 'contact_event_expired_grace_days']],
      [{ event_retention_days: 3651 }, ['event_retention_days']],
      [{ event_retention_days: 1.5 }, ['event_retention_days']],
      [{ event_retention_days: '30' }, ['event_retention_days']],
      [{ contact_event_expired_grace_days: -1 }, ['contact_event_expired_grace_days']],
      [{ retention: 3 }, ['retention']],
      [{}, ['(body)']],
    ];
    for (const [body, paths] of cases) {
      const res = await call('PATCH', '/api/v1/settings', { key: t.key, body });
      const problem = await expectProblem(res, 422);
      expect(fieldPaths(problem)).toEqual([...paths].sort());
    }
    expect(await stored(t.id)).toEqual({ event_retention_days: 100 });
  });

  it('a corrupt stored value falls back to its default', async () => {
    const t = await newTenant();
    await env.DB.prepare(`UPDATE tenants SET settings = ? WHERE id = ?`).bind(JSON.stringify({ event_retention_days: -4, contact_event_expired_grace_days: 'x' }), t.id).run();
    expect(await getTenantSettings(env.DB, t.id, '3')).toEqual({ event_retention_days: 365, contact_event_expired_grace_days: 3 });
    expect(await getTenantSettings(env.DB, 'no-such-tenant')).toBeNull();
  });
});
