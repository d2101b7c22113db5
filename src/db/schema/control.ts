import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// The control database (binding DB): tenants, their API keys and settings, realtime signing
// keys, and the shard directory (which event-store shard holds each tenant).
// Everything a tenant appends lives on its shard (src/db/shards.ts). Times are epoch milliseconds.

export const tenants = sqliteTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  settings: text('settings').notNull().default('{}'),
  // The shard directory: the index of the SHARDS binding that holds this tenant's event store.
  shard: integer('shard').notNull().default(0),
  createdAt: integer('created_at').notNull(),
});

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    // SHA-256 of the whole key, hex. Keys carry 192 random bits, so a fast hash is enough.
    hash: text('hash').notNull(),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at'),
    revokedAt: integer('revoked_at'),
  },
  (t) => [index('api_keys_prefix').on(t.prefix), index('api_keys_tenant').on(t.tenantId, t.createdAt)],
);

// Control data: the tenants' realtime signing keys (their backends sign realtime tokens with them).
export const realtimeSigningKeys = sqliteTable(
  'realtime_signing_keys',
  {
    // `rsk_…`; tokens name it in their `kid` header, so a token's key is found by id alone.
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    name: text('name').notNull(),
    // AES-GCM sealed under a key derived from TOKEN_SIGNING_SECRET (src/domain/signing-keys.ts): a copy of the table alone mints nothing.
    sealedSecret: text('sealed_secret').notNull(),
    createdAt: integer('created_at').notNull(),
    revokedAt: integer('revoked_at'),
  },
  // The tenant's list, newest first.
  (t) => [index('realtime_signing_keys_tenant').on(t.tenantId, t.createdAt)],
);

/**
 * Moves of a tenant between shards (POST /api/v1/admin/tenants/{tenant_id}/move), one row per tenant:
 * its latest move. The TenantMover Durable Object advances it from its alarm (src/moves/), so a move
 * survives eviction; the row is its progress, shown by GET /api/v1/admin/tenants.
 */
export const tenantMoves = sqliteTable('tenant_moves', {
  tenantId: text('tenant_id').primaryKey(),
  fromShard: integer('from_shard').notNull(),
  toShard: integer('to_shard').notNull(),
  // copying → syncing → verifying → switched → deleting → done; or failed.
  state: text('state').$type<'copying' | 'syncing' | 'verifying' | 'switched' | 'deleting' | 'done' | 'failed'>().notNull(),
  // Where the current step stands: the table (an index into the moved tables) and the last key done.
  stepTable: integer('step_table').notNull().default(0),
  cursor: text('cursor'),
  copiedRows: integer('copied_rows').notNull().default(0),
  repairedRows: integer('repaired_rows').notNull().default(0),
  verifiedRows: integer('verified_rows').notNull().default(0),
  deletedRows: integer('deleted_rows').notNull().default(0),
  error: text('error'),
  startedAt: integer('started_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  switchedAt: integer('switched_at'),
  finishedAt: integer('finished_at'),
});
