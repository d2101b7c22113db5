import { createMiddleware } from 'hono/factory';
import type { Context } from 'hono';
import { leaseSize, retryAfterSeconds } from '../domain/rate-limit';
import { MINUTE_MS, SECOND_MS } from '../domain/time';
import type { AppEnv } from './context';
import { ApiError } from './problem';

/** RATE_LIMIT_WINDOW_SECONDS is not in wrangler.toml: a knob for tests and tuning (default 60). */
type RateEnv = Env & { RATE_LIMIT_WINDOW_SECONDS?: string };

interface Local {
  limit: number;
  resetAt: number;
  /** Leased requests this isolate may still admit in the window. */
  tokens: number;
  /** The limiter said the window is used up: refuse here until it ends, without asking again. */
  exhausted: boolean;
  /** What the limiter had left at the last lease (for the RateLimit-Remaining header). */
  remaining: number;
  /** The lease being fetched; concurrent requests wait for it instead of asking too. */
  inflight: Promise<void> | null;
}

// Per isolate: the requests leased from each key's RateLimiter for the current window.
const leases = new Map<string, Local>();

async function admit(env: Env, keyId: string, limit: number, windowMs: number): Promise<{ allowed: boolean; remaining: number; resetAt: number }> {
  for (;;) {
    const now = Date.now();
    let local = leases.get(keyId);
    if (local && !local.inflight && (local.limit !== limit || now >= local.resetAt)) local = undefined;
    if (local && local.tokens > 0) {
      local.tokens -= 1;
      return { allowed: true, remaining: local.remaining + local.tokens, resetAt: local.resetAt };
    }
    if (local?.exhausted) return { allowed: false, remaining: 0, resetAt: local.resetAt };
    if (local?.inflight) {
      await local.inflight;
      continue;
    }
    const entry: Local = { limit, resetAt: Number.MAX_SAFE_INTEGER, tokens: 0, exhausted: false, remaining: 0, inflight: null };
    if (leases.size > 10_000) leases.clear();
    leases.set(keyId, entry);
    entry.inflight = (async () => {
      try {
        const ns = env.RATE_LIMITER;
        const got = await ns.get(ns.idFromName(keyId)).lease(limit, windowMs, leaseSize(limit));
        Object.assign(entry, { resetAt: got.resetAt, tokens: got.granted, exhausted: got.granted === 0, remaining: got.remaining });
      } catch (error) {
        leases.delete(keyId);
        throw error;
      } finally {
        entry.inflight = null;
      }
    })();
    await entry.inflight;
  }
}

/**
 * RATE_LIMIT_PER_MINUTE requests per API key per window (0 or unset: off), counted by the key's
 * RateLimiter Durable Object. Over the limit: 429 problem+json with Retry-After. Runs after the API
 * key check; routes without a key (health, admin) are not limited. If the limiter itself fails the
 * request goes through: the limiter protects the API, it must not take it down.
 */
export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const keyId = c.get('apiKeyId') as string | undefined;
  const limit = Number(c.env.RATE_LIMIT_PER_MINUTE ?? '0');
  if (!keyId || !Number.isInteger(limit) || limit <= 0) return next();
  const windowSeconds = Number((c.env as RateEnv).RATE_LIMIT_WINDOW_SECONDS ?? '60');
  const windowMs = Number.isInteger(windowSeconds) && windowSeconds > 0 ? windowSeconds * SECOND_MS : MINUTE_MS;
  let decision;
  try {
    decision = await admit(c.env, keyId, limit, windowMs);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'rate limiter unavailable', request_id: c.get('requestId'), error: String(error) }));
    return next();
  }
  const now = Date.now();
  const headers = {
    'ratelimit-limit': String(limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(retryAfterSeconds(decision.resetAt, now)),
  };
  if (!decision.allowed) {
    const retryAfter = retryAfterSeconds(decision.resetAt, now);
    throw new ApiError({
      code: 'rate-limited',
      message: `This API key may make ${limit} requests per ${windowMs / 1000} s; retry after ${retryAfter} s.`,
      extra: { limit, retry_after: retryAfter },
      headers: { ...headers, 'retry-after': String(retryAfter) },
    });
  }
  await next();
  for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
});

// ---------------------------------------------------------------- failed authentication, per address

/** AUTH_FAILURES_PER_MINUTE is not in wrangler.toml: a knob (default below; 0 disables). */
type AuthEnv = Env & { AUTH_FAILURES_PER_MINUTE?: string };

/** Failed authentications (401s) one client address may cause per minute before it is refused with 429. */
export const AUTH_FAILURES_PER_MINUTE = 20;
const AUTH_WINDOW_MS = MINUTE_MS;

// Per isolate: addresses over the limit → when their window ends. Every failure also asks the
// address's limiter, so an address that moves between isolates is caught on its next failure there.
const throttled = new Map<string, number>();

function authFailureLimit(env: Env): number {
  const raw = (env as AuthEnv).AUTH_FAILURES_PER_MINUTE;
  const n = raw === undefined ? AUTH_FAILURES_PER_MINUTE : Number(raw);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function throttledError(limit: number, resetAt: number, now: number): ApiError {
  const retryAfter = retryAfterSeconds(resetAt, now);
  return new ApiError({
    code: 'auth-throttled',
    message: `This address failed to authenticate more than ${limit} times in a minute; retry after ${retryAfter} s.`,
    extra: { limit, retry_after: retryAfter },
    headers: { 'retry-after': String(retryAfter) },
  });
}

/**
 * The client address as Cloudflare's edge reports it. Without it (a request from inside the runtime:
 * tests, service bindings) nothing is throttled: there is no address to blame.
 */
const clientAddress = (c: Context<AppEnv>): string | null => c.req.header('cf-connecting-ip') ?? null;

/** Refuses (429) a caller whose address is over its failed-authentication budget in this isolate, before any key is checked. */
export function assertAuthNotThrottled(c: Context<AppEnv>): void {
  const address = clientAddress(c);
  const limit = authFailureLimit(c.env);
  if (!address || limit === 0) return;
  const until = throttled.get(address);
  const now = Date.now();
  if (until === undefined) return;
  if (until <= now) {
    throttled.delete(address);
    return;
  }
  throw throttledError(limit, until, now);
}

/**
 * Counts one failed authentication of the caller's address (in the RateLimiter of that address, so
 * every isolate shares the count). Over the limit it throws the 429 instead of letting the 401 go,
 * and the address is refused in this isolate until its window ends. A failing limiter counts nothing:
 * the 401 goes out as it would.
 */
export async function noteAuthFailure(c: Context<AppEnv>): Promise<void> {
  const address = clientAddress(c);
  const limit = authFailureLimit(c.env);
  if (!address || limit === 0) return;
  let got;
  try {
    const ns = c.env.RATE_LIMITER;
    got = await ns.get(ns.idFromName(`auth-failures:${address}`)).lease(limit, AUTH_WINDOW_MS, 1);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'auth failure limiter unavailable', request_id: c.get('requestId'), error: String(error) }));
    return;
  }
  if (got.granted > 0) return;
  if (throttled.size > 10_000) throttled.clear();
  throttled.set(address, got.resetAt);
  throw throttledError(limit, got.resetAt, Date.now());
}
