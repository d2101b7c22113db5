import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { EventSource } from '../../domain/event-types';
import type { TimelineEntryRecord } from '../../domain/schemas/contact-events';

// Times are epoch milliseconds (INTEGER): cheap to compare, index and range-scan; the API speaks ISO 8601.

// The log. `position` is the tenant's order: 1, 2, 3… per tenant, assigned inside the insert statement
// from log_heads (increasing in commit order, never reused), so that it survives a move between shards.
// The table is WITHOUT ROWID (set in the migration; drizzle-kit cannot say it): its primary key
// (tenant_id, position) clusters a tenant's log, and ends every secondary index, so
// `ORDER BY timestamp, position` within a tenant needs no sort.
export const events = sqliteTable(
  'events',
  {
    tenantId: text('tenant_id').notNull(),
    position: integer('position').notNull(),
    id: text('id').notNull(),
    eventType: text('event_type').notNull(),
    source: text('source').$type<EventSource>().notNull(),
    contactId: text('contact_id'),
    sessionId: text('session_id'),
    messageId: text('message_id'),
    payload: text('payload').notNull(),
    metadata: text('metadata').notNull(),
    correlationId: text('correlation_id'),
    causationId: text('causation_id'),
    // The aggregate stream this event belongs to (contact-<id> for contact events) and the event's
    // sequence_number there. The column keeps its older name `stream_version`: renaming it would rewrite
    // the largest table for a word.
    streamId: text('stream_id'),
    sequenceNumber: integer('stream_version'),
    schemaVersion: integer('schema_version').notNull().default(1),
    timestamp: integer('timestamp').notNull(),
    createdAt: integer('created_at').notNull(),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash'),
  },
  // Each index serves named queries (src/db/events.ts); test/db/event-indexes.test.ts checks the plans.
  (t) => [
    // The tenant's log in position order (GET /log, subscriptions, projections, a move's copy).
    primaryKey({ columns: [t.tenantId, t.position] }),
    // getEvent, findExisting (by id), the relay's ON CONFLICT, for the ids that do not name their hub's
    // row: events no hub owns, and ids not of the hubs' form. An event a hub sequenced under an id of
    // its form is found by (stream, sequence number) instead (events_stream; src/db/events.ts idIndexed,
    // which repeats this WHERE for the queries: test/db/event-indexes.test.ts fails should they differ).
    uniqueIndex('events_tenant_id').on(t.tenantId, t.id).where(sql`stream_id IS NULL OR substr(id, 15, 1) <> '8'`),
    // Uniqueness of Idempotency-Keys among events no hub owns (a hub keeps its own keys).
    uniqueIndex('events_tenant_idem').on(t.tenantId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL AND contact_id IS NULL AND stream_id IS NULL`),
    // findExisting (by key, any owner): a reused key is found whoever holds it. Partial: only keyed rows.
    index('events_idem_any').on(t.tenantId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    uniqueIndex('events_stream').on(t.tenantId, t.streamId, t.sequenceNumber).where(sql`stream_id IS NOT NULL`),
    // List/export without a column filter, start/end ranges, stats, retention by age.
    index('events_tenant_time').on(t.tenantId, t.timestamp),
    // One per filter of GET /events; contact and session also serve /events/count. The columns an
    // event often leaves null are indexed partially: a row without one writes no entry (D1 bills an
    // index entry as a row written), and `col = ?` implies `col IS NOT NULL`, so the filter still uses it.
    index('events_type').on(t.tenantId, t.eventType, t.timestamp),
    index('events_source').on(t.tenantId, t.source, t.timestamp),
    index('events_contact').on(t.tenantId, t.contactId, t.timestamp).where(sql`contact_id IS NOT NULL`),
    index('events_session').on(t.tenantId, t.sessionId, t.timestamp).where(sql`session_id IS NOT NULL`),
    index('events_message').on(t.tenantId, t.messageId, t.timestamp).where(sql`message_id IS NOT NULL`),
    index('events_correlation').on(t.tenantId, t.correlationId, t.timestamp).where(sql`correlation_id IS NOT NULL`),
  ],
);

// Each tenant's last assigned log position: the next insert numbers its rows from here (src/db/events.ts).
// Kept apart from events so that deleting the newest events (erase, retention) never frees a position.
export const logHeads = sqliteTable('log_heads', {
  tenantId: text('tenant_id').primaryKey(),
  lastPosition: integer('last_position').notNull(),
});

// A tenant moved away from this shard (src/moves/): triggers on every tenant table refuse its writes
// here (RAISE 'tenant moved'), so a writer that still resolves this shard from a stale cache fails and
// retries on the new one instead of writing where nobody reads. `deleting` = 1 lets the move delete the
// old rows. Triggers in migrations/shard (drizzle-kit cannot declare them).
export const tenantFences = sqliteTable('tenant_fences', {
  tenantId: text('tenant_id').primaryKey(),
  movedTo: integer('moved_to').notNull(),
  deleting: integer('deleting').notNull().default(0),
  fencedAt: integer('fenced_at').notNull(),
});

// Events committed by the Worker itself (no owning hub) wait here until both queues have them.
// WITHOUT ROWID, no index by time (migrations/shard/0010_relay_outbox_without_rowid.sql): one row written per event.
export const relayOutbox = sqliteTable(
  'relay_outbox',
  {
    tenantId: text('tenant_id').notNull(),
    eventId: text('event_id').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.eventId] })],
);

// The timeline's query store (cross-contact queries). The owning StreamHub is the source of truth.
// Keyed by (tenant_id, contact_id, sequence_number), the hub's own key: no index of ids (one row fewer
// written per entry). An id is found through its hub (the hash it carries, or id_owners), never here.
// A rowid table: the full-text index (contact_events_fts) refers to its rows by rowid.
export const contactEvents = sqliteTable(
  'contact_events',
  {
    tenantId: text('tenant_id').notNull(),
    id: text('id').notNull(),
    contactId: text('contact_id').notNull(),
    sequenceNumber: integer('sequence_number').notNull(),
    sessionId: text('session_id'),
    eventType: text('event_type').notNull(),
    category: text('category').$type<TimelineEntryRecord['category']>().notNull(),
    priority: text('priority').$type<TimelineEntryRecord['priority']>().notNull(),
    title: text('title'),
    description: text('description'),
    payload: text('payload').notNull(),
    metadata: text('metadata').notNull(),
    source: text('source').$type<TimelineEntryRecord['source']>().notNull(),
    triggeredBy: text('triggered_by'),
    integrationSource: text('integration_source'),
    isRealtime: integer('is_realtime', { mode: 'boolean' }).notNull(),
    delivered: integer('delivered', { mode: 'boolean' }).notNull(),
    deliveredAt: integer('delivered_at'),
    read: integer('read', { mode: 'boolean' }).notNull(),
    readAt: integer('read_at'),
    visibleToClient: integer('visible_to_client', { mode: 'boolean' }).notNull(),
    visibleToAgent: integer('visible_to_agent', { mode: 'boolean' }).notNull(),
    expiresAt: integer('expires_at'),
    occurredAt: integer('occurred_at').notNull(),
    createdAt: integer('created_at').notNull(),
    originEventId: text('origin_event_id'),
    // Row version from the hub: an update relayed late never overwrites a newer one.
    revision: integer('revision').notNull(),
  },
  (t) => [
    uniqueIndex('contact_events_seq').on(t.tenantId, t.contactId, t.sequenceNumber),
    index('contact_events_type').on(t.tenantId, t.eventType, t.occurredAt),
    index('contact_events_category').on(t.tenantId, t.category, t.occurredAt),
    // Partial: most entries name no session (see events_session).
    index('contact_events_session').on(t.tenantId, t.sessionId, t.occurredAt).where(sql`session_id IS NOT NULL`),
    index('contact_events_tenant_time').on(t.tenantId, t.occurredAt),
    index('contact_events_expired').on(t.expiresAt).where(sql`expires_at IS NOT NULL`),
  ],
);

// Consumers record what they processed so that a redelivered message never doubles an effect.
// WITHOUT ROWID (set in migrations/shard/0000_shard.sql: drizzle cannot express it): one row written per marker, not two.
export const processedEvents = sqliteTable(
  'processed_events',
  {
    consumer: text('consumer').notNull(),
    tenantId: text('tenant_id').notNull(),
    eventId: text('event_id').notNull(),
    processedAt: integer('processed_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.tenantId, t.eventId] })],
);

// Which hub holds an id that reaches D1's tables only through a relay (timeline entries, events naming
// a contact or a stream): written in the append's own request, so that routes taking only an id find
// the hub on the very next request instead of after the relay lag. The first owner wins. `owner` is
// the hub's key, `contact:<uuid>` or `stream:<stream_id>` (src/db/owners.ts). WITHOUT ROWID
// (migrations/shard/0000_shard.sql): an id costs one row written.
export const idOwners = sqliteTable(
  'id_owners',
  {
    tenantId: text('tenant_id').notNull(),
    // 'entry' (a timeline entry id) or 'event' (a log event id): the two are separate id spaces.
    kind: text('kind').notNull(),
    id: text('id').notNull(),
    owner: text('owner').notNull(),
  },
  // No index by owner: a row leaves with its id's row in events / contact_events (delete triggers,
  // migrations/shard/0003_owner_rows_by_trigger.sql), and an erase deletes the ids its hub still holds (src/db/erase.ts).
  (t) => [primaryKey({ columns: [t.tenantId, t.kind, t.id] })],
);

// The hub of a server-chosen id (src/domain/hub-ids.ts): the id's first 60 bits are the hash of its hub's
// key, and this row, written when the hub's first append answers, names the hub. One row per hub
// instead of one per id (id_owners keeps the ids clients choose, and the ids of a hub whose hash another
// hub of the tenant took first). WITHOUT ROWID (migrations/shard/0005_hub_keys.sql).
export const hubKeys = sqliteTable(
  'hub_keys',
  {
    tenantId: text('tenant_id').notNull(),
    hash: text('hash').notNull(),
    owner: text('owner').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hash] })],
);
