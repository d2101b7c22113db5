import type { IdLayout } from './record-ids';

/**
 * The hub's own SQLite schema. Applied in the constructor under blockConcurrencyWhile (applyHubSchema);
 * every statement is idempotent so that a hub woken after an upgrade brings itself up to date.
 *
 * Durable Object SQLite bills every index entry as a row written, and SQLite indexes NULLs too: a
 * column that is usually null (an Idempotency-Key, a session) gets a partial index, not an inline
 * UNIQUE. Hubs stored before keep their tables' inline UNIQUE constraints (SQLite cannot drop them
 * without rebuilding the table); they get no second, partial index for the same column.
 */
export const HUB_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  // Log events owned by this hub (its stream). No index on id: src/hub/record-ids.ts finds ids (hubs stored
  // before keep an inline UNIQUE on it). The column seq is the sequence_number (the stream's version):
  // stored hubs already have it under this name, and SQL reads it back `AS sequence_number` where rows leave the store.
  `CREATE TABLE IF NOT EXISTS log (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL,
     idempotency_key TEXT,
     request_hash TEXT NOT NULL,
     event_type TEXT NOT NULL,
     timestamp INTEGER NOT NULL,
     body TEXT NOT NULL
   )`,
  // Timeline entries. A derived entry shares the sequence number of the log event it came from, which
  // is what finds it (and keeps it to one per event: seq is the key); origin_event_id needs no index.
  `CREATE TABLE IF NOT EXISTS timeline (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL,
     idempotency_key TEXT,
     request_hash TEXT,
     origin_event_id TEXT,
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
  // The ids that their sequence number does not find (src/hub/record-ids.ts): a client's, or given before
  // the hub's key was registered.
  `CREATE TABLE IF NOT EXISTS hub_ids (kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID`,
  // Most entries name no session: the index of before held an entry for each of them.
  `DROP INDEX IF EXISTS timeline_session`,
  `CREATE INDEX IF NOT EXISTS timeline_by_session ON timeline (session_id, seq) WHERE session_id IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS timeline_undelivered ON timeline (seq) WHERE is_realtime = 1 AND delivered = 0`,
  // Committed with each change, cleared once D1 (d1) and the webhooks (wq) and analytics (aq) queues have it.
  // Ids are assigned by the Outbox (above every stored and parked id), not AUTOINCREMENT, which would
  // write its sqlite_sequence row with every insert. Hubs stored before keep AUTOINCREMENT.
  `CREATE TABLE IF NOT EXISTS outbox (
     id INTEGER PRIMARY KEY,
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

/** The partial unique indexes for tables created without an inline UNIQUE on the column (see HUB_SCHEMA). */
const PARTIAL_UNIQUE: [table: string, index: string][] = [
  ['log', 'log_idempotency'],
  ['timeline', 'timeline_idempotency'],
];

/** Applies HUB_SCHEMA; answers which tables keep the inline UNIQUE index on `id` of hubs stored before. */
export function applyHubSchema(sql: SqlStorage): IdLayout {
  for (const statement of HUB_SCHEMA) sql.exec(statement);
  // One pass over sqlite_master (it has no index) for both tables.
  const created = new Map(
    sql.exec<{ name: string; sql: string }>(`SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('log', 'timeline')`).toArray().map((r) => [r.name, r.sql]),
  );
  for (const [table, index] of PARTIAL_UNIQUE) {
    if (/idempotency_key TEXT UNIQUE/.test(created.get(table) ?? '')) continue;
    sql.exec(`CREATE UNIQUE INDEX IF NOT EXISTS ${index} ON ${table} (idempotency_key) WHERE idempotency_key IS NOT NULL`);
  }
  const indexed = (table: string) => /\bid TEXT NOT NULL UNIQUE/.test(created.get(table) ?? '');
  return { event: indexed('log'), entry: indexed('timeline') };
}
