import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// Event store: subscriptions with checkpoints, projections and snapshots. Times are epoch ms.

// Named consumers of the global log (event_subscriptions). One row per consumer; its
// `event_types` (JSON array, empty = all) filters what it reads. Built-in projections are rows too
// (kind 'projection', name 'projection:<name>'), so `GET /subscriptions` shows every consumer's lag.
export const eventSubscriptions = sqliteTable(
  'event_subscriptions',
  {
    tenantId: text('tenant_id').notNull(),
    name: text('name').notNull(),
    kind: text('kind').$type<'external' | 'projection'>().notNull().default('external'),
    eventTypes: text('event_types').notNull().default('[]'),
    // The last global position this consumer has processed (0 = nothing yet).
    checkpoint: integer('checkpoint').notNull().default(0),
    status: text('status').$type<'active' | 'paused'>().notNull().default('active'),
    errorCount: integer('error_count').notNull().default(0),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.name] }), index('event_subscriptions_kind').on(t.kind, t.status)],
);

// A projection's generations: reads use `generation`; a rebuild fills `rebuild_generation` from
// position 0 in the background, then becomes the live one.
export const projectionState = sqliteTable(
  'projection_state',
  {
    tenantId: text('tenant_id').notNull(),
    name: text('name').notNull(),
    generation: integer('generation').notNull().default(1),
    rebuildGeneration: integer('rebuild_generation'),
    rebuildCheckpoint: integer('rebuild_checkpoint'),
    rebuildStartedAt: integer('rebuild_started_at'),
    rebuiltAt: integer('rebuilt_at'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.name] })],
);

// Read-model rows of every projection: one JSON state per key, per generation. `last_position` makes
// re-applying an event idempotent (an event at or below it is already in the state).
export const projectionRows = sqliteTable(
  'projection_rows',
  {
    tenantId: text('tenant_id').notNull(),
    projection: text('projection').notNull(),
    generation: integer('generation').notNull(),
    key: text('key').notNull(),
    state: text('state').notNull(),
    eventCount: integer('event_count').notNull(),
    lastPosition: integer('last_position').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.projection, t.generation, t.key] }),
    index('projection_rows_updated').on(t.tenantId, t.projection, t.generation, t.updatedAt),
  ],
);

// Aggregate state at a stream version: written by clients (PUT …/snapshot) or by built-in projections
// every N events (source 'projection:<name>'). Reads return the latest at or below a version.
export const streamSnapshots = sqliteTable(
  'stream_snapshots',
  {
    tenantId: text('tenant_id').notNull(),
    streamId: text('stream_id').notNull(),
    // The stream's sequence_number the state was taken at (the API calls it the snapshot's `version`).
    sequenceNumber: integer('version').notNull(),
    state: text('state').notNull(),
    source: text('source').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.streamId, t.sequenceNumber] })],
);
