import { createMiddleware } from 'hono/factory';
import { retryAfterSeconds } from '../domain/rate-limit';
import type { AppEnv } from './context';
import { ApiError } from './problem';

/** RATE_LIMIT_WINDOW_SECONDS is not in wrangler.toml: a knob for tests and tuning (default 60). */
type RateEnv = Env & { RATE_LIMIT_WINDOW_SECONDS?: string };

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
  const windowMs = Number.isInteger(windowSeconds) && windowSeconds > 0 ? windowSeconds * 1000 : 60_000;
  let decision;
  try {
    const ns = c.env.RATE_LIMITER;
    decision = await ns.get(ns.idFromName(keyId)).hit(limit, windowMs);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'rate limiter unavailable', request_id: c.get('requestId'), error: String(error) }));
    return next();
  }
  const now = Date.now();
  const headers = {
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(retryAfterSeconds(decision.resetAt, now)),
  };
  if (!decision.allowed) {
    const retryAfter = retryAfterSeconds(decision.resetAt, now);
    throw new ApiError(
      429,
      'rate-limited',
      'Too many requests',
      `This API key may make ${decision.limit} requests per ${windowMs / 1000} s; retry after ${retryAfter} s.`,
      undefined,
      { limit: decision.limit, retry_after: retryAfter },
      { ...headers, 'retry-after': String(retryAfter) },
    );
  }
  await next();
  for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
});
