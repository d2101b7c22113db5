import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// Analytics, retention and operations. Times are epoch milliseconds (INTEGER).

/**
 * Event counts per tenant and hour. One row counts log events (`events`, keyed by their `event_type`
 * and `source`) and timeline entries (`entries`, keyed by `entry_type`, `entry_source` and
 * `category`) together, so that a log event and the entry it derives cost one row written, not two: a
 * log event without an entry leaves the entry columns '', an entry appended on its own the event
 * columns. Fed by the `analytics` queue consumer, idempotent by event id through `processed_events`
 * (consumer 'analytics'). Counts survive retention: archiving raw events does not lower them. WITHOUT ROWID
 * (migrations/shard/0009_analytics_one_row_per_event.sql): a new bucket is one row written.
 */
export const analyticsHourly = sqliteTable(
  'analytics_hourly',
  {
    tenantId: text('tenant_id').notNull(),
    hour: integer('hour').notNull(),
    eventType: text('event_type').notNull(),
    source: text('source').notNull(),
    entryType: text('entry_type').notNull(),
    entrySource: text('entry_source').notNull(),
    category: text('category').notNull(),
    events: integer('events').notNull(),
    entries: integer('entries').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hour, t.eventType, t.source, t.entryType, t.entrySource, t.category] })],
);

/** The same counts per UTC day, so that a year-long query reads 365 buckets per combination, not 8,760. */
export const analyticsDaily = sqliteTable(
  'analytics_daily',
  {
    tenantId: text('tenant_id').notNull(),
    day: integer('day').notNull(),
    eventType: text('event_type').notNull(),
    source: text('source').notNull(),
    entryType: text('entry_type').notNull(),
    entrySource: text('entry_source').notNull(),
    category: text('category').notNull(),
    events: integer('events').notNull(),
    entries: integer('entries').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.day, t.eventType, t.source, t.entryType, t.entrySource, t.category] })],
);

/**
 * The tenant's compaction watermark (src/jobs/rollup-compaction.ts): `analytics_daily` is complete for
 * every UTC day before `through_day` (a day start, ms). The consumer counts an event in the daily table
 * only when its day is before it; later days are read from the hourly table until the daily cron
 * compacts them. A tenant without a row has a watermark of 0 (nothing compacted yet).
 */
export const analyticsCompacted = sqliteTable('analytics_compacted', {
  tenantId: text('tenant_id').primaryKey(),
  throughDay: integer('through_day').notNull(),
});

/**
 * The archive manifest: one row per R2 object of archived log events. A row is written
 * (`status = 'pending'`) before its object, and turns `complete` in the same D1 batch that deletes
 * the archived rows, so a run that dies in between is finished by the next one.
 */
export const archives = sqliteTable(
  'archives',
  {
    tenantId: text('tenant_id').notNull(),
    // The API's name for it (`2025-10-01.000000000001-000000004711`); `key` is the R2 object key.
    id: text('id').notNull(),
    key: text('key').notNull(),
    day: integer('day').notNull(),
    firstPosition: integer('first_position').notNull(),
    lastPosition: integer('last_position').notNull(),
    count: integer('count').notNull(),
    // SHA-256 (hex) of the uncompressed NDJSON.
    sha256: text('sha256').notNull(),
    bytes: integer('bytes').notNull(),
    status: text('status').$type<'pending' | 'complete'>().notNull(),
    createdAt: integer('created_at').notNull(),
    completedAt: integer('completed_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('archives_tenant_day').on(t.tenantId, t.day), index('archives_status').on(t.tenantId, t.status)],
);

/**
 * Hub outbox backlogs, reported by the hubs themselves (hubs cannot be enumerated): a hub upserts
 * its row when a relay pass fails and deletes it once its outbox is empty again. Best effort: a hub
 * that cannot reach D1 cannot report here either.
 */
export const hubRelayBacklog = sqliteTable(
  'hub_relay_backlog',
  {
    tenantId: text('tenant_id').notNull(),
    hub: text('hub').notNull(),
    pending: integer('pending').notNull(),
    oldestAt: integer('oldest_at'),
    failures: integer('failures').notNull(),
    lastError: text('last_error'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hub] })],
);

/**
 * Relay records a hub parked (dead-lettered) because they can never reach a destination, reported by
 * the hub (the record's body stays in the hub's own storage, which an erase deletes). One row per
 * (hub, outbox row, destination). `reason`: `oversized` (over the queue message limit), `rejected`
 * (a deterministic error, e.g. a constraint), `failed_alone` (failed on its own while the destination
 * accepted other records).
 */
export const relayParked = sqliteTable(
  'relay_parked',
  {
    tenantId: text('tenant_id').notNull(),
    hub: text('hub').notNull(),
    outboxId: integer('outbox_id').notNull(),
    destination: text('destination').notNull(),
    kind: text('kind').notNull(),
    recordId: text('record_id').notNull(),
    bytes: integer('bytes').notNull(),
    reason: text('reason').notNull(),
    error: text('error').notNull(),
    parkedAt: integer('parked_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hub, t.outboxId, t.destination] }), index('relay_parked_time').on(t.tenantId, t.parkedAt)],
);
