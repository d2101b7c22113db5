import { env } from 'cloudflare:workers';
import { createExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { hit } from '../../src/domain/rate-limit';
import { BASE, json, newTenant } from '../support/api';

const WINDOW_S = 2;

async function get(key: string, limit: string): Promise<Response> {
  const overrides = { RATE_LIMIT_PER_MINUTE: limit, RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_S) };
  return app.fetch(new Request(`${BASE}/api/v1/settings`, { headers: { authorization: `Bearer ${key}` } }), { ...env, ...overrides }, createExecutionContext());
}

/** Waits for the start of the next fixed window (windows are aligned to the epoch). */
const nextWindow = () => new Promise((r) => setTimeout(r, WINDOW_S * 1000 - (Date.now() % (WINDOW_S * 1000)) + 30));

describe('rate limits per API key', () => {
  it('answers 429 problem+json with Retry-After past the limit, per key, and resets with the next window', async () => {
    const a = await newTenant();
    const b = await newTenant();
    await nextWindow();
    const ok = await Promise.all([get(a.key, '3'), get(a.key, '3'), get(a.key, '3')]);
    expect(ok.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(ok.map((r) => r.headers.get('ratelimit-remaining')).sort()).toEqual(['0', '1', '2']);

    const refused = await get(a.key, '3');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_S);
    expect(await json(refused)).toMatchObject({ status: 429, title: 'Too many requests', limit: 3, retry_after: retryAfter });
    // Another key has its own budget.
    expect((await get(b.key, '3')).status).toBe(200);

    await nextWindow();
    const again = await get(a.key, '3');
    expect(again.status).toBe(200);
    expect(again.headers.get('ratelimit-remaining')).toBe('2');
  });

  it('is off at 0', async () => {
    const t = await newTenant();
    const all = await Promise.all(Array.from({ length: 20 }, () => get(t.key, '0')));
    expect(all.every((r) => r.status === 200 && r.headers.get('ratelimit-limit') === null)).toBe(true);
  });

  it('counts in fixed windows and does not count refused requests', () => {
    let s = hit(undefined, 2, 1000, 10_000).state;
    s = hit(s, 2, 1000, 10_100).state;
    const refused = hit(s, 2, 1000, 10_900);
    expect(refused.decision).toEqual({ allowed: false, limit: 2, remaining: 0, resetAt: 11_000 });
    expect(refused.state.count).toBe(2);
    expect(hit(refused.state, 2, 1000, 11_000).decision).toMatchObject({ allowed: true, remaining: 1, resetAt: 12_000 });
  });
});
