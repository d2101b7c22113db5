import { DAY_MS } from './time';

/*
 * Every rule of when a queue message comes back, in one module:
 * - a webhook endpoint failed: the delivery schedule below (cut by the subscription's `retry_count`),
 *   or the endpoint's own Retry-After;
 * - our own storage failed while a consumer handled the batch (D1 unavailable during a fan-out, a
 *   rollup, a lease): one short exponential backoff, failedBatchRetryDelaySeconds;
 * - a delivery whose attempt is leased by a live consumer: after the lease, untilLeaseExpires.
 */

/**
 * When to try a failed webhook delivery again. Retry n (1-based) waits SCHEDULE[n-1] (the last
 * step repeats for retry counts above 7), ±20% jitter so that an endpoint recovering from an outage
 * is not hit by every delivery in the same second. A subscription's `retry_count` cuts the schedule.
 */
export const RETRY_SCHEDULE_SECONDS = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600] as const;

export const DEFAULT_RETRY_COUNT = 7;
export const MAX_RETRY_COUNT = 10;
export const JITTER = 0.2;

/** Cloudflare Queues accept a retry delay of at most 12 hours. */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 3600;

export function baseRetryDelay(retry: number): number {
  const i = Math.min(Math.max(retry, 1), RETRY_SCHEDULE_SECONDS.length) - 1;
  return RETRY_SCHEDULE_SECONDS[i]!;
}

/** Delay before delivery retry `retry` (1-based), with jitter; `random` in [0, 1). */
export function deliveryRetryDelaySeconds(retry: number, random: number = Math.random()): number {
  const base = baseRetryDelay(retry);
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random));
  return Math.min(Math.max(jittered, 1), MAX_QUEUE_DELAY_SECONDS);
}

/**
 * `Retry-After` (RFC 9110): delay-seconds or an HTTP-date. Returns seconds clamped to what a queue
 * retry accepts, or null when absent or unreadable (then the schedule applies).
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  const text = value.trim();
  let seconds: number;
  if (/^\d+$/.test(text)) {
    seconds = Number(text);
  } else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    seconds = Math.ceil((at - now) / 1000);
  }
  return Math.min(Math.max(seconds, 1), MAX_QUEUE_DELAY_SECONDS);
}

/**
 * A consumer's batch that failed on our side (D1 unavailable): 2, 4, 8 … seconds by the message's
 * attempt count, at most 5 minutes. Short, because the cause is usually a blip and every retried
 * message is handled idempotently.
 */
export const failedBatchRetryDelaySeconds = (attempts: number): number => Math.min(300, 2 ** Math.max(1, Math.min(attempts, 9)));

/** Seconds until a delivery's lease has expired (one more, so that it has), as a queue delay. */
export const untilLeaseExpires = (until: number, now: number): number =>
  Math.min(Math.max(Math.ceil((until - now) / 1000) + 1, 1), MAX_QUEUE_DELAY_SECONDS);

/** An endpoint failing for this long without a single success is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * DAY_MS;

/** How an attempt's HTTP outcome is judged. */
export type AttemptOutcome = 'success' | 'gone' | 'retryable';

export function classifyStatus(status: number | null): AttemptOutcome {
  if (status !== null && status >= 200 && status < 300) return 'success';
  if (status === 410) return 'gone';
  // Everything else fails and is retried: 3xx (redirects are not followed), 4xx, 5xx, network errors, timeouts.
  return 'retryable';
}

export const honoursRetryAfter = (status: number | null): boolean => status === 429 || status === 503;
