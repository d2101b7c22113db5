import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Webhook subscriptions (webhook_subscriptions), their deliveries and every attempt.
// Times are epoch milliseconds.

// On the tenant's shard, not in the control database: every delivery attempt updates its
// subscription's counters (success/failure, failing_since, auto-disable) in the attempt's own
// transaction, and the fan-out reads the active subscriptions per event; in the control database that
// would be a cross-database write per delivery, and one writer for every tenant's webhooks.
export const webhookSubscriptions = sqliteTable(
  'webhook_subscriptions',
  {
    tenantId: text('tenant_id').notNull(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    url: text('url').notNull(),
    // JSON arrays / object.
    events: text('events').notNull(),
    subscribeContactEvents: integer('subscribe_contact_events', { mode: 'boolean' }).notNull(),
    contactEventTypes: text('contact_event_types').notNull(),
    contactEventCategories: text('contact_event_categories').notNull(),
    active: integer('active', { mode: 'boolean' }).notNull(),
    headers: text('headers').notNull(),
    // Stored as given (needed to sign); never returned after creation or rotation.
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: integer('previous_secret_expires_at'),
    retryCount: integer('retry_count').notNull(),
    timeoutSeconds: integer('timeout_seconds').notNull(),
    // Why the endpoint was switched off by Eventline: 'gone' (410) or 'failing' (5 days without success).
    disabledReason: text('disabled_reason').$type<'gone' | 'failing'>(),
    disabledAt: integer('disabled_at'),
    // First failure since the last success: the start of the 5-day clock.
    failingSince: integer('failing_since'),
    lastTriggeredAt: integer('last_triggered_at'),
    lastSuccessAt: integer('last_success_at'),
    lastFailureAt: integer('last_failure_at'),
    successCount: integer('success_count').notNull().default(0),
    failureCount: integer('failure_count').notNull().default(0),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('webhook_subscriptions_active').on(t.tenantId, t.active)],
);

// One row per (event, subscription): the unique index makes fan-out idempotent under replays.
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    tenantId: text('tenant_id').notNull(),
    id: text('id').notNull(),
    subscriptionId: text('subscription_id').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    // The exact JSON body sent ({type, timestamp, data}); the same bytes on every attempt.
    body: text('body').notNull(),
    status: text('status', { enum: ['pending', 'succeeded', 'failed', 'erased'] }).notNull(),
    // Redeliver/recover start a new generation; queue messages of an older one are dropped.
    generation: integer('generation').notNull().default(1),
    generationAttempts: integer('generation_attempts').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    // While an attempt is in flight no other message may start one. The owner (a queue message id)
    // is the message that carries the retry chain: after the first attempt, only it may attempt.
    leaseUntil: integer('lease_until'),
    leaseOwner: text('lease_owner'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    nextAttemptAt: integer('next_attempt_at'),
    deadLetteredAt: integer('dead_lettered_at'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    completedAt: integer('completed_at'),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('webhook_deliveries_event_sub').on(t.tenantId, t.eventId, t.subscriptionId),
    index('webhook_deliveries_sub_time').on(t.tenantId, t.subscriptionId, t.createdAt),
    index('webhook_deliveries_sub_status').on(t.tenantId, t.subscriptionId, t.status, t.createdAt),
  ],
);

// WITHOUT ROWID (migrations/shard/0011_webhook_attempts_without_rowid.sql): an attempt is one row written.
export const webhookAttempts = sqliteTable(
  'webhook_attempts',
  {
    tenantId: text('tenant_id').notNull(),
    deliveryId: text('delivery_id').notNull(),
    attempt: integer('attempt').notNull(),
    subscriptionId: text('subscription_id').notNull(),
    eventId: text('event_id').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    // First 4 KiB of the response body.
    responseBody: text('response_body'),
    error: text('error'),
    nextAttemptAt: integer('next_attempt_at'),
    startedAt: integer('started_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.deliveryId, t.attempt] })],
);
