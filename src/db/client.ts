import { drizzle } from 'drizzle-orm/d1';
import type { InferSelectModel, Table } from 'drizzle-orm';
import * as schema from './schema/control';

// How db/ describes a table: once, in the drizzle schema (src/db/schema/), from which drizzle-kit
// generates the migrations. Queries are raw D1 SQL (bulk JSON statements, INDEXED BY, json_each,
// RETURNING, statements batched with other modules' statements: what the query builder cannot
// express or would make slower), except the tenant and API key queries of tenants.ts, which use the
// builder (its rows are `typeof table.$inferSelect`, inferred by drizzle). A raw query's row type is
// never written by hand either: it is `D1Row<typeof table>` (or a Pick/Omit of it), inferred from the
// same schema. Raw D1 SQL lives only in src/db/.

//
// Two kinds of database (docs/operations.md "Shards"), each with its drizzle config and migrations folder:
// - control (binding DB; schema/control.ts): tenants (settings, the shard directory), api_keys,
//   realtime_signing_keys, tenant_moves;
// - shards (SHARD_0, SHARD_1, …; schema/core.ts, eventstore.ts, analytics.ts, webhooks.ts): events,
//   log_heads, relay_outbox, contact_events (+ full-text index), processed_events, id_owners, hub_keys,
//   event_subscriptions, projection_state, projection_rows, stream_snapshots, webhook_subscriptions,
//   webhook_deliveries, webhook_attempts, analytics_hourly, analytics_daily, analytics_compacted, archives,
//   hub_relay_backlog, relay_parked, tenant_fences.
// A query of tenant data takes the tenant's shard (src/db/shards.ts), never DB.

export const orm = (d1: D1Database) => drizzle(d1, { schema });
export type Orm = ReturnType<typeof orm>;

/** D1 hands a boolean-mode column back as the 0/1 integer SQLite stores when the builder is not used. */
type Raw<V> = V extends boolean ? number : V;

/** A row of `T` as raw D1 SQL returns it (`SELECT *`): SQL column names, booleans as 0/1. */
export type D1Row<T extends Table> = { [K in keyof InferSelectModel<T, { dbColumnNames: true }>]: Raw<InferSelectModel<T, { dbColumnNames: true }>[K]> };

/** The cheapest round trip to D1 (the health check): throws when D1 cannot be reached. */
export async function pingD1(d1: D1Database): Promise<void> {
  await d1.prepare('SELECT 1').first();
}
