import type { WebhookRecord } from '../domain/schemas/webhooks';
import { iso, isoOrNull } from '../domain/time';
import { filterOf, type StoredFilter, type SubscriptionFilter } from '../domain/webhook-filters';
import { bulkInsert } from './bulk';
import type { D1Row } from './client';
import { webhookDeliveries, type webhookAttempts, type webhookSubscriptions } from './schema/webhooks';

// Queries for webhook_subscriptions, webhook_deliveries and webhook_attempts. Tenant id first, always.

export type WebhookSubscriptionRow = D1Row<typeof webhookSubscriptions>;

export function subscriptionFromRow(row: WebhookSubscriptionRow, now = Date.now()): WebhookRecord {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    events: JSON.parse(row.events) as string[],
    subscribe_contact_events: row.subscribe_contact_events === 1,
    contact_event_types: JSON.parse(row.contact_event_types) as string[],
    contact_event_categories: JSON.parse(row.contact_event_categories) as string[],
    active: row.active === 1,
    disabled_reason: row.disabled_reason,
    headers: JSON.parse(row.headers) as Record<string, string>,
    retry_count: row.retry_count,
    timeout_seconds: row.timeout_seconds,
    secret_rotation_ends_at:
      row.previous_secret && row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now ? iso(row.previous_secret_expires_at) : null,
    last_triggered_at: isoOrNull(row.last_triggered_at),
    last_success_at: isoOrNull(row.last_success_at),
    last_failure_at: isoOrNull(row.last_failure_at),
    success_count: row.success_count,
    failure_count: row.failure_count,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/** The columns a caller sets (create and update). */
export interface SubscriptionFields {
  name: string;
  url: string;
  events: string[];
  subscribe_contact_events: boolean;
  contact_event_types: string[];
  contact_event_categories: string[];
  active: boolean;
  headers: Record<string, string>;
  retry_count: number;
  timeout_seconds: number;
}

const fieldValues = (f: SubscriptionFields) => [
  f.name,
  f.url,
  JSON.stringify(f.events),
  f.subscribe_contact_events ? 1 : 0,
  JSON.stringify(f.contact_event_types),
  JSON.stringify(f.contact_event_categories),
  f.active ? 1 : 0,
  JSON.stringify(f.headers),
  f.retry_count,
  f.timeout_seconds,
];

export async function insertSubscription(d1: D1Database, tenantId: string, id: string, f: SubscriptionFields, secret: string, now: number): Promise<WebhookSubscriptionRow> {
  return (await d1
    .prepare(
      `INSERT INTO webhook_subscriptions (tenant_id, id, name, url, events, subscribe_contact_events, contact_event_types,
         contact_event_categories, active, headers, retry_count, timeout_seconds, secret, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    )
    .bind(tenantId, id, ...fieldValues(f), secret, now, now)
    .first<WebhookSubscriptionRow>())!;
}

/** Replaces the settable fields. Re-activating clears Eventline's own disabling and restarts the 5-day clock. */
export async function updateSubscription(d1: D1Database, tenantId: string, id: string, f: SubscriptionFields, reactivate: boolean, now: number): Promise<WebhookSubscriptionRow | null> {
  return d1
    .prepare(
      `UPDATE webhook_subscriptions SET name = ?, url = ?, events = ?, subscribe_contact_events = ?, contact_event_types = ?,
         contact_event_categories = ?, active = ?, headers = ?, retry_count = ?, timeout_seconds = ?, updated_at = ?,
         disabled_reason = CASE WHEN ? THEN NULL ELSE disabled_reason END,
         disabled_at = CASE WHEN ? THEN NULL ELSE disabled_at END,
         failing_since = CASE WHEN ? THEN NULL ELSE failing_since END
       WHERE tenant_id = ? AND id = ? RETURNING *`,
    )
    .bind(...fieldValues(f), now, reactivate ? 1 : 0, reactivate ? 1 : 0, reactivate ? 1 : 0, tenantId, id)
    .first<WebhookSubscriptionRow>();
}

export async function getSubscription(d1: D1Database, tenantId: string, id: string): Promise<WebhookSubscriptionRow | null> {
  return d1.prepare(`SELECT * FROM webhook_subscriptions WHERE tenant_id = ? AND id = ?`).bind(tenantId, id).first<WebhookSubscriptionRow>();
}

/** Newest first; `before` is the keyset of the last row of the previous page. */
export async function listSubscriptions(
  d1: D1Database,
  tenantId: string,
  opts: { limit: number; before?: { createdAt: number; id: string } | undefined },
): Promise<WebhookSubscriptionRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT * FROM webhook_subscriptions WHERE tenant_id = ?1
         AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(tenantId, opts.before?.createdAt ?? null, opts.before?.id ?? '', opts.limit)
    .all<WebhookSubscriptionRow>();
  return results;
}

export async function activeSubscriptions(d1: D1Database, tenantId: string): Promise<WebhookSubscriptionRow[]> {
  const { results } = await d1
    .prepare(`SELECT * FROM webhook_subscriptions WHERE tenant_id = ? AND active = 1`)
    .bind(tenantId)
    .all<WebhookSubscriptionRow>();
  return results;
}

/** Deletes the subscription with its deliveries and attempts, in one transaction. */
export async function deleteSubscription(d1: D1Database, tenantId: string, id: string): Promise<boolean> {
  const [, , sub] = await d1.batch([
    d1.prepare(`DELETE FROM webhook_attempts WHERE tenant_id = ? AND subscription_id = ?`).bind(tenantId, id),
    d1.prepare(`DELETE FROM webhook_deliveries WHERE tenant_id = ? AND subscription_id = ?`).bind(tenantId, id),
    d1.prepare(`DELETE FROM webhook_subscriptions WHERE tenant_id = ? AND id = ?`).bind(tenantId, id),
  ]);
  return (sub?.meta.changes ?? 0) > 0;
}

export async function rotateSecret(d1: D1Database, tenantId: string, id: string, secret: string, previousUntil: number, now: number): Promise<WebhookSubscriptionRow | null> {
  return d1
    .prepare(
      `UPDATE webhook_subscriptions SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = ?
       WHERE tenant_id = ? AND id = ? RETURNING *`,
    )
    .bind(previousUntil, secret, now, tenantId, id)
    .first<WebhookSubscriptionRow>();
}

export function touchTriggeredStatement(d1: D1Database, tenantId: string, ids: string[], now: number): D1PreparedStatement {
  return d1
    .prepare(`UPDATE webhook_subscriptions SET last_triggered_at = ? WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))`)
    .bind(now, tenantId, JSON.stringify(ids));
}

// ------------------------------------------------------------------------------------------ deliveries

/** `erased`: the delivery's contact was erased; its body is gone and it is never sent again. */
export type DeliveryStatus = DeliveryRow['status'];

export type DeliveryRow = D1Row<typeof webhookDeliveries>;

export function deliveryFromRow(row: DeliveryRow) {
  return {
    id: row.id,
    subscription_id: row.subscription_id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    next_attempt_at: isoOrNull(row.next_attempt_at),
    dead_lettered_at: isoOrNull(row.dead_lettered_at),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    completed_at: isoOrNull(row.completed_at),
  };
}

/** What fan-out decides of a delivery; the rest of the row starts at its defaults. */
export type NewDelivery = Pick<DeliveryRow, 'id' | 'subscription_id' | 'event_id' | 'event_type' | 'body'>;

/**
 * Inserts deliveries, one statement for many rows; an (event, subscription) pair that already has
 * a delivery keeps it (a replayed queue message creates nothing).
 */
export function insertDeliveriesStatement(d1: D1Database, tenantId: string, rows: NewDelivery[], now: number): D1PreparedStatement {
  return bulkInsert(
    d1,
    webhookDeliveries,
    tenantId,
    ['id', 'subscription_id', 'event_id', 'event_type', 'body', 'status', 'next_attempt_at', 'created_at', 'updated_at'],
    rows.map((r) => ({ ...r, status: 'pending', next_attempt_at: now, created_at: now, updated_at: now })),
    'ON CONFLICT DO NOTHING',
  );
}

/** Of these deliveries, those still waiting for their first attempt (what fan-out must (re)enqueue). */
export function unstartedDeliveriesStatement(d1: D1Database, tenantId: string, ids: string[]): D1PreparedStatement {
  return d1
    .prepare(
      `SELECT id, generation FROM webhook_deliveries
       WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?)) AND status = 'pending' AND generation_attempts = 0`,
    )
    .bind(tenantId, JSON.stringify(ids));
}

export async function getDelivery(d1: D1Database, tenantId: string, id: string): Promise<DeliveryRow | null> {
  return d1.prepare(`SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND id = ?`).bind(tenantId, id).first<DeliveryRow>();
}

export async function listDeliveries(
  d1: D1Database,
  tenantId: string,
  subscriptionId: string,
  opts: { status?: DeliveryStatus; limit: number; before?: { createdAt: number; id: string } },
): Promise<DeliveryRow[]> {
  const { results } = await d1
    .prepare(
      `SELECT * FROM webhook_deliveries WHERE tenant_id = ?1 AND subscription_id = ?2
         AND (?3 IS NULL OR status = ?3)
         AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?5))
       ORDER BY created_at DESC, id DESC LIMIT ?6`,
    )
    .bind(tenantId, subscriptionId, opts.status ?? null, opts.before?.createdAt ?? null, opts.before?.id ?? '', opts.limit)
    .all<DeliveryRow>();
  return results;
}

export type AttemptRow = D1Row<typeof webhookAttempts>;

export function attemptFromRow(row: AttemptRow) {
  return {
    delivery_id: row.delivery_id,
    event_id: row.event_id,
    subscription_id: row.subscription_id,
    attempt: row.attempt,
    status_code: row.status_code,
    duration_ms: row.duration_ms,
    response_body: row.response_body,
    error: row.error,
    next_attempt_at: isoOrNull(row.next_attempt_at),
    started_at: iso(row.started_at),
  };
}

export async function listAttempts(d1: D1Database, tenantId: string, deliveryId: string): Promise<AttemptRow[]> {
  const { results } = await d1
    .prepare(`SELECT * FROM webhook_attempts WHERE tenant_id = ? AND delivery_id = ? ORDER BY attempt`)
    .bind(tenantId, deliveryId)
    .all<AttemptRow>();
  return results;
}

export interface LoadedDelivery {
  delivery: DeliveryRow;
  /** Null when the subscription was deleted. */
  sub: WebhookSubscriptionRow | null;
}

/** Deliveries with their subscriptions, for many (tenant, delivery id) pairs in one round trip. */
export async function deliveriesWithSubscriptions(d1: D1Database, keys: { tenant_id: string; delivery_id: string }[]): Promise<Map<string, LoadedDelivery>> {
  const pairs = JSON.stringify(keys.map((k) => [k.tenant_id, k.delivery_id]));
  const [d, s] = await d1.batch([
    d1
      .prepare(`SELECT d.* FROM json_each(?) j JOIN webhook_deliveries d ON d.tenant_id = j.value->>0 AND d.id = j.value->>1`)
      .bind(pairs),
    d1
      .prepare(
        `SELECT DISTINCT s.* FROM json_each(?) j JOIN webhook_deliveries d ON d.tenant_id = j.value->>0 AND d.id = j.value->>1
         JOIN webhook_subscriptions s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id`,
      )
      .bind(pairs),
  ]);
  const subs = new Map(((s?.results ?? []) as WebhookSubscriptionRow[]).map((r) => [`${r.tenant_id}/${r.id}`, r]));
  const out = new Map<string, LoadedDelivery>();
  for (const row of (d?.results ?? []) as DeliveryRow[]) {
    out.set(`${row.tenant_id}/${row.id}`, { delivery: row, sub: subs.get(`${row.tenant_id}/${row.subscription_id}`) ?? null });
  }
  return out;
}

export async function deliveryWithSubscription(d1: D1Database, tenantId: string, deliveryId: string): Promise<LoadedDelivery | null> {
  return (await deliveriesWithSubscriptions(d1, [{ tenant_id: tenantId, delivery_id: deliveryId }])).get(`${tenantId}/${deliveryId}`) ?? null;
}

/**
 * Takes the right to make attempt `expected + 1` of this generation. One attempt per delivery is in
 * flight at a time (the lease), and after the first attempt only the message that made it (the
 * owner, which retries itself) may go on: a duplicate queue message gets nothing. A delivery without
 * an owner (released by reclaimStaleDeliveries: its message was lost) goes to the first message.
 */
export interface LeaseRequest {
  tenantId: string;
  deliveryId: string;
  generation: number;
  expectedGenerationAttempts: number;
  owner: string;
  leaseUntil: number;
}

export type DeliveryLease = Pick<DeliveryRow, 'attempts' | 'generation_attempts'>;

export function leaseStatement(d1: D1Database, r: LeaseRequest, now: number): D1PreparedStatement {
  return d1
    .prepare(
      `UPDATE webhook_deliveries SET lease_until = ?1, lease_owner = ?7, attempts = attempts + 1, generation_attempts = generation_attempts + 1, updated_at = ?2
       WHERE tenant_id = ?3 AND id = ?4 AND generation = ?5 AND generation_attempts = ?6 AND status = 'pending'
         AND (lease_until IS NULL OR lease_until < ?2) AND (generation_attempts = 0 OR lease_owner = ?7 OR lease_owner IS NULL)
       RETURNING attempts, generation_attempts`,
    )
    .bind(r.leaseUntil, now, r.tenantId, r.deliveryId, r.generation, r.expectedGenerationAttempts, r.owner);
}

/** Leases for many deliveries in one round trip; null where another message holds or owns the delivery. */
export async function leaseAttempts(d1: D1Database, requests: LeaseRequest[], now: number): Promise<(DeliveryLease | null)[]> {
  if (requests.length === 0) return [];
  const results = await d1.batch(requests.map((r) => leaseStatement(d1, r, now)));
  return results.map((res) => ((res.results[0] as DeliveryLease | undefined) ?? null));
}

export async function leaseAttempt(d1: D1Database, r: LeaseRequest, now: number): Promise<DeliveryLease | null> {
  return (await leaseAttempts(d1, [r], now))[0] ?? null;
}

export interface AttemptResult {
  attempt: number;
  statusCode: number | null;
  durationMs: number;
  responseBody: string | null;
  error: string | null;
  startedAt: number;
  /** The delivery's state after this attempt. */
  status: DeliveryStatus;
  nextAttemptAt: number | null;
  deadLettered: boolean;
  success: boolean;
  /** Set when this attempt switches the endpoint off. */
  disable: 'gone' | 'failing' | null;
}

/** Records one attempt: the attempt row, the delivery's state and the subscription's counters, in one transaction. */
export function recordAttemptStatements(d1: D1Database, tenantId: string, delivery: DeliveryRow, r: AttemptResult, now: number): D1PreparedStatement[] {
  const finished = r.status !== 'pending';
  return [
    d1
      .prepare(
        // An attempt that was in flight when its contact was erased leaves no trace (the erase deleted
        // the delivery's attempts and redacted it; this record must not bring a response body back).
        `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, subscription_id, event_id, status_code, duration_ms, response_body, error, next_attempt_at, started_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
         WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE tenant_id = ?1 AND id = ?2 AND status != 'erased') ON CONFLICT DO NOTHING`,
      )
      .bind(tenantId, delivery.id, r.attempt, delivery.subscription_id, delivery.event_id, r.statusCode, r.durationMs, r.responseBody, r.error, r.nextAttemptAt, r.startedAt),
    d1
      .prepare(
        `UPDATE webhook_deliveries SET status = ?, lease_until = NULL, last_status_code = ?, last_error = ?, next_attempt_at = ?,
           dead_lettered_at = CASE WHEN ? THEN ? ELSE dead_lettered_at END, completed_at = ?, updated_at = ?
         WHERE tenant_id = ? AND id = ? AND generation = ? AND status != 'erased'`,
      )
      .bind(r.status, r.statusCode, r.error, r.nextAttemptAt, r.deadLettered ? 1 : 0, now, finished ? now : null, now, tenantId, delivery.id, delivery.generation),
    r.success
      ? d1
          .prepare(
            `UPDATE webhook_subscriptions SET success_count = success_count + 1, last_success_at = ?, failing_since = NULL WHERE tenant_id = ? AND id = ?`,
          )
          .bind(now, tenantId, delivery.subscription_id)
      : d1
          .prepare(
            `UPDATE webhook_subscriptions SET failure_count = failure_count + 1, last_failure_at = ?1, failing_since = COALESCE(failing_since, ?1),
               active = CASE WHEN ?2 IS NULL THEN active ELSE 0 END,
               disabled_reason = COALESCE(?2, disabled_reason),
               disabled_at = CASE WHEN ?2 IS NULL THEN disabled_at ELSE ?1 END
             WHERE tenant_id = ?3 AND id = ?4`,
          )
          .bind(now, r.disable, tenantId, delivery.subscription_id),
  ];
}

/** Ends a pending delivery without an attempt (its endpoint was disabled or deleted meanwhile). */
export async function abandonDelivery(d1: D1Database, tenantId: string, delivery: DeliveryRow, reason: string, now: number): Promise<void> {
  await d1
    .prepare(
      `UPDATE webhook_deliveries SET status = 'failed', last_error = ?, next_attempt_at = NULL, lease_until = NULL, completed_at = ?, updated_at = ?
       WHERE tenant_id = ? AND id = ? AND generation = ? AND status = 'pending'`,
    )
    .bind(reason, now, now, tenantId, delivery.id, delivery.generation)
    .run();
}

/** Starts a new generation (redeliver, recover): pending again, attempts of the old generation ignored. */
export async function restartDeliveries(d1: D1Database, tenantId: string, ids: string[], now: number): Promise<{ id: string; generation: number }[]> {
  const { results } = await d1
    .prepare(
      `UPDATE webhook_deliveries SET status = 'pending', generation = generation + 1, generation_attempts = 0, lease_until = NULL, lease_owner = NULL,
         next_attempt_at = ?1, completed_at = NULL, updated_at = ?1
       WHERE tenant_id = ?2 AND id IN (SELECT value FROM json_each(?3)) AND status != 'erased'
       RETURNING id, generation`,
    )
    .bind(now, tenantId, JSON.stringify(ids))
    .all<{ id: string; generation: number }>();
  return results;
}

export async function failedDeliveriesSince(d1: D1Database, tenantId: string, subscriptionId: string, since: number, limit: number): Promise<string[]> {
  const { results } = await d1
    .prepare(
      `SELECT id FROM webhook_deliveries WHERE tenant_id = ? AND subscription_id = ? AND status = 'failed' AND created_at >= ?
       ORDER BY created_at LIMIT ?`,
    )
    .bind(tenantId, subscriptionId, since, limit)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/**
 * Pending deliveries whose next attempt is overdue since before `overdueBefore` and whose lease ran
 * out: their queue message was lost (a local broker's memory, a consumer that died past the queue's
 * retries). Each is released (no owner, so that a new message may carry its retry chain) and its next
 * attempt set to `now`, so that it is not reclaimed again before it is overdue again. Returns what to
 * enqueue. Reads pending rows only, through webhook_deliveries_sub_status, one subscription at a time.
 */
export async function reclaimStaleDeliveries(
  d1: D1Database,
  overdueBefore: number,
  now: number,
  limit: number,
): Promise<{ tenant_id: string; id: string; generation: number }[]> {
  const res = await d1
    .prepare(
      `UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = ?2, updated_at = ?2
       WHERE (tenant_id, id) IN (
         SELECT d.tenant_id, d.id FROM webhook_subscriptions s
         JOIN webhook_deliveries d ON d.tenant_id = s.tenant_id AND d.subscription_id = s.id AND d.status = 'pending'
         WHERE d.next_attempt_at < ?1 AND (d.lease_until IS NULL OR d.lease_until < ?2)
           -- A tenant that moved away from this shard: its rows here are being deleted, and the fence
           -- would abort this statement for every tenant of the shard.
           AND NOT EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = d.tenant_id)
         LIMIT ?3)
       RETURNING tenant_id, id, generation`,
    )
    .bind(overdueBefore, now, limit)
    .all<{ tenant_id: string; id: string; generation: number }>();
  return res.results;
}

/** The filters of a tenant's active subscriptions (what the relay asks before sending to the webhooks queue). */
export async function activeFilters(d1: D1Database, tenantId: string): Promise<SubscriptionFilter[]> {
  const { results } = await d1
    .prepare(`SELECT events, subscribe_contact_events, contact_event_types, contact_event_categories FROM webhook_subscriptions WHERE tenant_id = ? AND active = 1`)
    .bind(tenantId)
    .all<StoredFilter>();
  return results.map(filterOf);
}
