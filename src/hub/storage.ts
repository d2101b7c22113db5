/**
 * The hub's own SQLite schema. Applied in the constructor under blockConcurrencyWhile; every statement
 * is idempotent so that a hub woken after an upgrade brings itself up to date.
 */
export const HUB_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  // Log events owned by this hub (its stream). The column seq is the sequence_number (the stream's version):
  // stored hubs already have it under this name, and SQL reads it back `AS sequence_number` where rows leave the store.
  `CREATE TABLE IF NOT EXISTS log (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     idempotency_key TEXT UNIQUE,
     request_hash TEXT NOT NULL,
     event_type TEXT NOT NULL,
     timestamp INTEGER NOT NULL,
     body TEXT NOT NULL
   )`,
  // Timeline entries. A derived entry shares the sequence number of the log event it came from.
  `CREATE TABLE IF NOT EXISTS timeline (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     idempotency_key TEXT UNIQUE,
     request_hash TEXT,
     origin_event_id TEXT UNIQUE,
     session_id TEXT,
     event_type TEXT NOT NULL,
     category TEXT NOT NULL,
     is_realtime INTEGER NOT NULL,
     delivered INTEGER NOT NULL,
     read INTEGER NOT NULL,
     visible_to_client INTEGER NOT NULL,
     visible_to_agent INTEGER NOT NULL,
     expires_at INTEGER,
     occurred_at INTEGER NOT NULL,
     revision INTEGER NOT NULL,
     body TEXT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS timeline_session ON timeline (session_id, seq)`,
  `CREATE INDEX IF NOT EXISTS timeline_undelivered ON timeline (seq) WHERE is_realtime = 1 AND delivered = 0`,
  // Committed with each change, cleared once D1 (d1) and the webhooks (wq) and analytics (aq) queues have it.
  `CREATE TABLE IF NOT EXISTS outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     body TEXT NOT NULL,
     d1 INTEGER NOT NULL,
     wq INTEGER NOT NULL,
     aq INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  // Outbox rows that can never reach a destination, taken out of the outbox so that the rows behind
  // them go on (Outbox.park, src/hub/outbox.ts). One row per (outbox row, destination); reported to D1 relay_parked.
  `CREATE TABLE IF NOT EXISTS parked (
     outbox_id INTEGER NOT NULL,
     destination TEXT NOT NULL,
     kind TEXT NOT NULL,
     record_id TEXT NOT NULL,
     body TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     reason TEXT NOT NULL,
     error TEXT NOT NULL,
     parked_at INTEGER NOT NULL,
     reported INTEGER NOT NULL,
     PRIMARY KEY (outbox_id, destination)
   )`,
  // The agents whose inbox watches this contact (src/hub/watchers.ts): loaded once per instance, so
  // that a hub nobody watches pays nothing per commit, and kept across evictions.
  `CREATE TABLE IF NOT EXISTS watchers (agent_id TEXT PRIMARY KEY, name TEXT)`,
];
