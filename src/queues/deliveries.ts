import {
  abandonDelivery,
  deliveryWithSubscription,
  leaseAttempt,
  recordAttemptStatements,
  type AttemptResult,
  type DeliveryRow,
  type SubscriptionRow,
} from '../db/webhooks';
import { deterministicUuid } from '../domain/ids';
import { prepareEvent } from '../domain/prepare';
import { WEBHOOK_EVENT_TYPES, isWebhookOperationalType } from '../domain/webhook-mapping';
import {
  DISABLE_AFTER_FAILING_MS,
  MAX_QUEUE_DELAY_SECONDS,
  classifyStatus,
  honoursRetryAfter,
  parseRetryAfter,
  retryDelaySeconds,
} from '../domain/webhook-retry';
import { activeSecrets, signatureHeader } from '../domain/webhook-signing';
import { webhookUrlProblem } from '../domain/webhook-urls';
import { appendLog, type WaitUntil } from '../http/append';

/** One message per (event, endpoint) on `webhook-deliveries`. The body to send lives in D1. */
export interface DeliveryMessage {
  tenant_id: string;
  delivery_id: string;
  /** The delivery's generation when enqueued; redeliver/recover start a new one and older messages are dropped. */
  generation: number;
}

/** What goes to the dead-letter queue when a delivery exhausts its retries. */
export interface DeadLetter extends DeliveryMessage {
  subscription_id: string;
  event_id: string;
  event_type: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  failed_at: string;
}

export const USER_AGENT = 'Eventline-Webhooks/1.0 (+https://eventline.dev/docs#webhooks)';
export const RESPONSE_BODY_BYTES = 4096;
// Headroom over the request timeout before another message may take the lease over (crashed isolate).
const LEASE_MARGIN_MS = 15_000;

export const allowPrivateUrls = (env: Env): boolean => env.ALLOW_PRIVATE_WEBHOOK_URLS === 'true';

interface HttpResult {
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
  retryAfter: string | null;
  durationMs: number;
  startedAt: number;
}

/** Reads at most `limit` bytes of a body, then lets the rest go. */
async function readPrefix(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (size >= limit) await reader.cancel().catch(() => undefined);
  const all = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.byteLength, all.byteLength - at));
    all.set(part, at);
    at += part.byteLength;
    if (at >= all.byteLength) break;
  }
  return new TextDecoder().decode(all);
}

/** The request itself: Standard Webhooks headers, the subscription's headers, a timeout, no redirects. */
export async function sendWebhook(env: Env, sub: SubscriptionRow, delivery: DeliveryRow): Promise<HttpResult> {
  const startedAt = Date.now();
  const refused = webhookUrlProblem(sub.url, allowPrivateUrls(env));
  if (refused) return { statusCode: null, responseBody: null, error: `url refused: ${refused}`, retryAfter: null, durationMs: 0, startedAt };
  const timestamp = Math.floor(startedAt / 1000);
  const secrets = activeSecrets(sub.secret, sub.previous_secret, sub.previous_secret_expires_at, startedAt);
  const headers: Record<string, string> = {
    ...(JSON.parse(sub.headers) as Record<string, string>),
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': delivery.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': await signatureHeader(secrets, delivery.id, timestamp, delivery.body),
  };
  const signal = AbortSignal.timeout(sub.timeout_seconds * 1000);
  try {
    const res = await fetch(sub.url, { method: 'POST', headers, body: delivery.body, redirect: 'manual', signal });
    const body = await readPrefix(res, RESPONSE_BODY_BYTES);
    return { statusCode: res.status, responseBody: body, error: null, retryAfter: res.headers.get('retry-after'), durationMs: Date.now() - startedAt, startedAt };
  } catch (e) {
    const err = e as Error;
    const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError' || signal.aborted;
    return {
      statusCode: null,
      responseBody: null,
      error: timedOut ? `timeout: no response within ${sub.timeout_seconds} s` : `network error: ${err.message}`.slice(0, 1000),
      retryAfter: null,
      durationMs: Date.now() - startedAt,
      startedAt,
    };
  }
}

/** Appends an operational event (webhook.retry_exhausted, webhook.endpoint_disabled) to the log, once per `key`. */
async function appendOperational(env: Env, ctx: WaitUntil, tenantId: string, type: string, key: string, payload: Record<string, unknown>): Promise<void> {
  const prepared = await prepareEvent(
    { id: await deterministicUuid(`${type}:${key}`), event_type: type, source: 'system', payload },
    { idempotencyKey: null, correlationId: null, now: Date.now() },
  );
  await appendLog(env, ctx, tenantId, [prepared]);
}

export interface AttemptReport extends AttemptResult {
  deliveryId: string;
  retryDelaySeconds: number | null;
}

/**
 * Makes one leased attempt and records it. `retryable` is false for POST /webhooks/{id}/test (one
 * attempt, no schedule). Side effects that must not be lost (dead letter, log events) happen before
 * the D1 record: if any fails the caller retries the message, which redoes the attempt.
 */
export async function attemptDelivery(
  env: Env,
  ctx: WaitUntil,
  sub: SubscriptionRow,
  delivery: DeliveryRow,
  lease: { attempts: number; generation_attempts: number },
  retryable: boolean,
): Promise<AttemptReport> {
  const tenantId = delivery.tenant_id;
  const http = await sendWebhook(env, sub, delivery);
  const now = Date.now();
  const outcome = classifyStatus(http.statusCode);
  const base = {
    deliveryId: delivery.id,
    attempt: lease.attempts,
    statusCode: http.statusCode,
    durationMs: http.durationMs,
    responseBody: http.responseBody,
    error: http.error ?? (outcome === 'success' ? null : `HTTP ${http.statusCode}`),
    startedAt: http.startedAt,
  };
  let report: AttemptReport;
  if (outcome === 'success') {
    report = { ...base, status: 'succeeded', nextAttemptAt: null, deadLettered: false, success: true, disable: null, retryDelaySeconds: null };
  } else {
    const failingFor = now - (sub.failing_since ?? now);
    const disable = outcome === 'gone' ? 'gone' : failingFor >= DISABLE_AFTER_FAILING_MS ? 'failing' : null;
    const retriesLeft = retryable && disable === null && lease.generation_attempts <= sub.retry_count;
    if (retriesLeft) {
      const asked = honoursRetryAfter(http.statusCode) ? parseRetryAfter(http.retryAfter, now) : null;
      const delay = asked ?? retryDelaySeconds(lease.generation_attempts);
      report = { ...base, status: 'pending', nextAttemptAt: now + delay * 1000, deadLettered: false, success: false, disable: null, retryDelaySeconds: delay };
    } else {
      const exhausted = retryable && disable === null;
      report = { ...base, status: 'failed', nextAttemptAt: null, deadLettered: exhausted, success: false, disable, retryDelaySeconds: null };
      if (exhausted) {
        const letter: DeadLetter = {
          tenant_id: tenantId,
          delivery_id: delivery.id,
          generation: delivery.generation,
          subscription_id: sub.id,
          event_id: delivery.event_id,
          event_type: delivery.event_type,
          attempts: lease.attempts,
          last_status_code: http.statusCode,
          last_error: base.error,
          failed_at: new Date(now).toISOString(),
        };
        await env.DELIVERIES_DLQ.send(letter, { contentType: 'json' });
        // Exhausting a delivery of an operational webhook event appends nothing: no event about an event about an event.
        if (!isWebhookOperationalType(delivery.event_type)) {
          await appendOperational(env, ctx, tenantId, WEBHOOK_EVENT_TYPES.retryExhausted, `${delivery.id}:${delivery.generation}`, {
            subscription_id: sub.id,
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            url: sub.url,
          });
        }
      }
      if (disable) {
        await appendOperational(env, ctx, tenantId, WEBHOOK_EVENT_TYPES.endpointDisabled, `${sub.id}:${delivery.id}:${delivery.generation}`, {
          subscription_id: sub.id,
          url: sub.url,
          reason: disable === 'gone' ? 'endpoint answered 410 Gone' : 'endpoint failed for 5 days without a success',
          delivery_id: delivery.id,
        });
      }
    }
  }
  await env.DB.batch(recordAttemptStatements(env.DB, tenantId, delivery, report, now));
  return report;
}

export const leaseUntil = (sub: SubscriptionRow, now: number) => now + sub.timeout_seconds * 1000 + LEASE_MARGIN_MS;

type Verdict = { ack: true } | { ack: false; delaySeconds: number };

/** One queue message: drop it if stale or a duplicate, otherwise make the attempt it stands for. */
async function processMessage(env: Env, ctx: WaitUntil, body: DeliveryMessage, messageId: string): Promise<Verdict> {
  const loaded = await deliveryWithSubscription(env.DB, body.tenant_id, body.delivery_id);
  if (!loaded) return { ack: true };
  const { delivery, sub } = loaded;
  if (delivery.generation !== body.generation || delivery.status !== 'pending') return { ack: true };
  const now = Date.now();
  if (!sub || !sub.active) {
    await abandonDelivery(env.DB, body.tenant_id, delivery, sub ? 'endpoint disabled' : 'subscription deleted', now);
    return { ack: true };
  }
  const lease = await leaseAttempt(env.DB, body.tenant_id, delivery.id, delivery.generation, delivery.generation_attempts, messageId, leaseUntil(sub, now), now);
  if (!lease) {
    // Our own lease, still running: this message was redelivered after its isolate died mid-attempt.
    // Come back when the lease has expired. Anything else is a duplicate: the owner carries the chain.
    if (delivery.lease_owner === messageId && delivery.lease_until !== null && delivery.lease_until >= now) {
      return { ack: false, delaySeconds: Math.min(Math.ceil((delivery.lease_until - now) / 1000) + 1, MAX_QUEUE_DELAY_SECONDS) };
    }
    return { ack: true };
  }
  try {
    const report = await attemptDelivery(env, ctx, sub, delivery, lease, true);
    return report.retryDelaySeconds === null ? { ack: true } : { ack: false, delaySeconds: report.retryDelaySeconds };
  } catch (error) {
    // The attempt was leased but not recorded: retry this message once the lease has expired.
    console.error(JSON.stringify({ msg: 'webhook attempt failed', tenant_id: body.tenant_id, delivery_id: body.delivery_id, error: String(error) }));
    return { ack: false, delaySeconds: Math.min(Math.ceil((leaseUntil(sub, now) - Date.now()) / 1000) + 1, MAX_QUEUE_DELAY_SECONDS) };
  }
}

export async function consumeDeliveries(batch: MessageBatch<DeliveryMessage>, env: Env, ctx: ExecutionContext): Promise<void> {
  await Promise.all(
    batch.messages.map(async (msg) => {
      try {
        const verdict = await processMessage(env, ctx, msg.body, msg.id);
        if (verdict.ack) msg.ack();
        else msg.retry({ delaySeconds: verdict.delaySeconds });
      } catch (error) {
        // D1 unavailable before any attempt was leased: try again soon.
        console.error(JSON.stringify({ msg: 'webhook delivery message failed', delivery_id: msg.body.delivery_id, error: String(error) }));
        msg.retry({ delaySeconds: Math.min(10 * msg.attempts, 300) });
      }
    }),
  );
}
