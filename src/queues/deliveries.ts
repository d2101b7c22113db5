import { tenantDb } from '../db/shards';
import {
  abandonDelivery,
  deliveriesWithSubscriptions,
  leaseAttempts,
  recordAttemptStatements,
  type AttemptResult,
  type DeliveryRow,
  type DeliveryLease,
  type LeaseRequest,
  type WebhookSubscriptionRow,
} from '../db/webhooks';
import { deterministicUuid } from '../domain/ids';
import { prepareEvent } from '../domain/prepare';
import { WEBHOOK_EVENT_TYPES, isWebhookOperationalType } from '../domain/webhook-mapping';
import {
  DISABLE_AFTER_FAILING_MS,
  classifyStatus,
  deliveryRetryDelaySeconds,
  failedBatchRetryDelaySeconds,
  honoursRetryAfter,
  parseRetryAfter,
  untilLeaseExpires,
} from '../domain/queue-retry';
import { activeSecrets, signatureHeader } from '../domain/webhook-signing';
import { webhookUrlProblem } from '../domain/webhook-urls';
import { appendLog, type WaitUntil } from '../append/log';

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
export async function sendWebhook(env: Env, sub: WebhookSubscriptionRow, delivery: DeliveryRow): Promise<HttpResult> {
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
  const outcome = await appendLog(env, ctx, tenantId, [prepared]);
  // The id is derived from `key` and the body from the same facts: a conflict is a bug, and failing
  // the message (it is retried) keeps it visible.
  if (!outcome.ok) throw new Error(`operational event not appended: ${outcome.detail}`);
}

export interface AttemptReport extends AttemptResult {
  deliveryId: string;
  retryDelaySeconds: number | null;
}

export interface LeasedAttempt {
  sub: WebhookSubscriptionRow;
  delivery: DeliveryRow;
  lease: DeliveryLease;
  /** False for POST /webhooks/{id}/test: one attempt, no schedule, no dead letter. */
  retryable: boolean;
}

/** Judges one attempt's HTTP result: the delivery's next state. */
function judge(item: LeasedAttempt, http: HttpResult, now: number): AttemptReport {
  const { sub, lease, retryable } = item;
  const outcome = classifyStatus(http.statusCode);
  const base = {
    deliveryId: item.delivery.id,
    attempt: lease.attempts,
    statusCode: http.statusCode,
    durationMs: http.durationMs,
    responseBody: http.responseBody,
    error: http.error ?? (outcome === 'success' ? null : `HTTP ${http.statusCode}`),
    startedAt: http.startedAt,
  };
  if (outcome === 'success') {
    return { ...base, status: 'succeeded', nextAttemptAt: null, deadLettered: false, success: true, disable: null, retryDelaySeconds: null };
  }
  const failingFor = now - (sub.failing_since ?? now);
  const disable = outcome === 'gone' ? 'gone' : failingFor >= DISABLE_AFTER_FAILING_MS ? 'failing' : null;
  if (retryable && disable === null && lease.generation_attempts <= sub.retry_count) {
    const asked = honoursRetryAfter(http.statusCode) ? parseRetryAfter(http.retryAfter, now) : null;
    const delay = asked ?? deliveryRetryDelaySeconds(lease.generation_attempts);
    return { ...base, status: 'pending', nextAttemptAt: now + delay * 1000, deadLettered: false, success: false, disable: null, retryDelaySeconds: delay };
  }
  return { ...base, status: 'failed', nextAttemptAt: null, deadLettered: retryable && disable === null, success: false, disable, retryDelaySeconds: null };
}

/** What must happen outside D1 before a final failure is recorded: the dead letter and the log events. */
async function finalSideEffects(env: Env, ctx: WaitUntil, item: LeasedAttempt, report: AttemptReport, now: number): Promise<void> {
  const { sub, delivery } = item;
  const tenantId = delivery.tenant_id;
  if (report.deadLettered) {
    const letter: DeadLetter = {
      tenant_id: tenantId,
      delivery_id: delivery.id,
      generation: delivery.generation,
      subscription_id: sub.id,
      event_id: delivery.event_id,
      event_type: delivery.event_type,
      attempts: report.attempt,
      last_status_code: report.statusCode,
      last_error: report.error,
      failed_at: new Date(now).toISOString(),
    };
    await env.DELIVERIES_DLQ.send(letter, { contentType: 'json' });
    // Exhausting a delivery of an operational webhook.* event appends nothing: no event about an event about an event.
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
  if (report.disable) {
    await appendOperational(env, ctx, tenantId, WEBHOOK_EVENT_TYPES.endpointDisabled, `${sub.id}:${delivery.id}:${delivery.generation}`, {
      subscription_id: sub.id,
      url: sub.url,
      reason: report.disable === 'gone' ? 'endpoint answered 410 Gone' : 'endpoint failed for 5 days without a success',
      delivery_id: delivery.id,
    });
  }
}

/**
 * Makes leased attempts (in parallel) and records them all in one D1 batch. Side effects that must
 * not be lost (dead letter, log events) happen before the record; an item whose side effects fail
 * is left unrecorded and comes back as null: its message is retried once the lease expires, which
 * redoes the attempt.
 */
export async function attemptDeliveries(env: Env, db: D1Database, ctx: WaitUntil, items: LeasedAttempt[]): Promise<(AttemptReport | null)[]> {
  const https = await Promise.all(items.map((i) => sendWebhook(env, i.sub, i.delivery)));
  const now = Date.now();
  const reports = await Promise.all(
    items.map(async (item, k) => {
      const report = judge(item, https[k]!, now);
      if (report.status !== 'failed') return report;
      try {
        await finalSideEffects(env, ctx, item, report, now);
        return report;
      } catch (error) {
        console.error(JSON.stringify({ msg: 'webhook final side effects failed', delivery_id: item.delivery.id, error: String(error) }));
        return null;
      }
    }),
  );
  const statements = reports.flatMap((r, k) => (r ? recordAttemptStatements(db, items[k]!.delivery.tenant_id, items[k]!.delivery, r, now) : []));
  if (statements.length > 0) await db.batch(statements);
  return reports;
}

export const leaseUntil = (sub: WebhookSubscriptionRow, now: number) => now + sub.timeout_seconds * 1000 + LEASE_MARGIN_MS;


/**
 * A batch of delivery messages, with three D1 round trips for the whole batch (load, lease, record)
 * and the HTTP requests in parallel. Messages that are stale (older generation, delivery finished)
 * or duplicates (another message holds or owns the delivery) are acked without a request.
 */
export async function consumeDeliveries(batch: MessageBatch<DeliveryMessage>, env: Env, ctx: ExecutionContext): Promise<void> {
  // Per shard (a delivery lives on its tenant's shard): a failing shard retries only its own messages.
  const byShard = new Map<D1Database, Message<DeliveryMessage>[]>();
  for (const msg of batch.messages) {
    const db = await tenantDb(env, msg.body.tenant_id);
    const list = byShard.get(db);
    if (list) list.push(msg);
    else byShard.set(db, [msg]);
  }
  await Promise.all([...byShard].map(([db, messages]) => consumeShardDeliveries(db, messages, env, ctx)));
}

async function consumeShardDeliveries(db: D1Database, messages: Message<DeliveryMessage>[], env: Env, ctx: ExecutionContext): Promise<void> {
  let loaded: Awaited<ReturnType<typeof deliveriesWithSubscriptions>>;
  try {
    loaded = await deliveriesWithSubscriptions(db, messages.map((m) => m.body));
  } catch (error) {
    // D1 unavailable before any attempt was leased: try again soon.
    console.error(JSON.stringify({ msg: 'webhook deliveries load failed', error: String(error) }));
    for (const m of messages) m.retry({ delaySeconds: failedBatchRetryDelaySeconds(m.attempts) });
    return;
  }
  const now = Date.now();
  const candidates: { msg: Message<DeliveryMessage>; sub: WebhookSubscriptionRow; delivery: DeliveryRow; request: LeaseRequest }[] = [];
  const claimed = new Set<string>();
  for (const msg of messages) {
    const key = `${msg.body.tenant_id}/${msg.body.delivery_id}`;
    const found = loaded.get(key);
    if (!found || found.delivery.generation !== msg.body.generation || found.delivery.status !== 'pending') {
      msg.ack();
      continue;
    }
    const { delivery, sub } = found;
    if (!sub || !sub.active) {
      await abandonDelivery(db, delivery.tenant_id, delivery, sub ? 'endpoint disabled' : 'subscription deleted', now);
      msg.ack();
      continue;
    }
    if (claimed.has(key)) {
      // Two messages for one delivery in this batch: one of them is enough.
      msg.ack();
      continue;
    }
    claimed.add(key);
    candidates.push({
      msg,
      sub,
      delivery,
      request: {
        tenantId: delivery.tenant_id,
        deliveryId: delivery.id,
        generation: delivery.generation,
        expectedGenerationAttempts: delivery.generation_attempts,
        owner: msg.id,
        leaseUntil: leaseUntil(sub, now),
      },
    });
  }
  let leases: (DeliveryLease | null)[];
  try {
    leases = await leaseAttempts(db, candidates.map((c) => c.request), now);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'webhook lease failed', error: String(error) }));
    for (const c of candidates) c.msg.retry({ delaySeconds: failedBatchRetryDelaySeconds(c.msg.attempts) });
    return;
  }
  const leased: (LeasedAttempt & { msg: Message<DeliveryMessage>; leaseUntil: number })[] = [];
  candidates.forEach((c, k) => {
    const lease = leases[k];
    if (lease) {
      leased.push({ msg: c.msg, sub: c.sub, delivery: c.delivery, lease, retryable: true, leaseUntil: c.request.leaseUntil });
      return;
    }
    // Our own lease, still running: this message was redelivered after its isolate died mid-attempt;
    // come back when the lease has expired. Anything else is a duplicate: the owner carries the chain.
    const d = c.delivery;
    if (d.lease_owner === c.msg.id && d.lease_until !== null && d.lease_until >= now) c.msg.retry({ delaySeconds: untilLeaseExpires(d.lease_until, now) });
    else c.msg.ack();
  });
  if (leased.length === 0) return;
  try {
    const reports = await attemptDeliveries(env, db, ctx, leased);
    leased.forEach((item, k) => {
      const report = reports[k];
      if (!report) item.msg.retry({ delaySeconds: untilLeaseExpires(item.leaseUntil, Date.now()) });
      else if (report.retryDelaySeconds !== null) item.msg.retry({ delaySeconds: report.retryDelaySeconds });
      else item.msg.ack();
    });
  } catch (error) {
    // Attempts made but not recorded (D1 failed): retry each once its lease has expired.
    console.error(JSON.stringify({ msg: 'webhook attempts not recorded', error: String(error) }));
    for (const item of leased) item.msg.retry({ delaySeconds: untilLeaseExpires(item.leaseUntil, Date.now()) });
  }
}
