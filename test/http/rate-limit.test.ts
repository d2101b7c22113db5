import { env } from 'cloudflare:workers';
import { createExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { lease, leaseSize } from '../../src/domain/rate-limit';
import { BASE, json, newTenant } from '../support/api';

const WINDOW_S = 2;

async function get(key: string, limit: string, windowSeconds = WINDOW_S): Promise<Response> {
  const overrides = { RATE_LIMIT_PER_MINUTE: limit, RATE_LIMIT_WINDOW_SECONDS: String(windowSeconds) };
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

  it('leases requests in fixed windows, never beyond the limit, and a refused ask takes nothing', () => {
    const first = lease(undefined, 10, 1000, 4, 10_000);
    expect(first.lease).toEqual({ granted: 4, limit: 10, remaining: 6, resetAt: 11_000 });
    const second = lease(first.state, 10, 1000, 8, 10_500);
    expect(second.lease).toMatchObject({ granted: 6, remaining: 0 });
    const refused = lease(second.state, 10, 1000, 4, 10_900);
    expect(refused.lease).toMatchObject({ granted: 0, remaining: 0, resetAt: 11_000 });
    expect(refused.state.count).toBe(10);
    expect(lease(refused.state, 10, 1000, 4, 11_000).lease).toMatchObject({ granted: 4, remaining: 6, resetAt: 12_000 });
    expect([leaseSize(3), leaseSize(6000)]).toEqual([1, 120]);
  });

  it('with leases, a key never gets more than its limit in a window', async () => {
    const t = await newTenant();
    // A minute-long window, not started in its last 8 s, so that the burst surely stays inside it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 52_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 30));
    // 100/window → leases of 2: 130 concurrent requests, exactly 100 admitted.
    const all = await Promise.all(Array.from({ length: 130 }, () => get(t.key, '100', 60)));
    expect(all.filter((r) => r.status === 200)).toHaveLength(100);
    expect(all.filter((r) => r.status === 429)).toHaveLength(30);
  });
});
