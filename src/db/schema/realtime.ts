import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// Control data: the tenants' realtime signing keys (their backends sign realtime tokens with them).
// Times are epoch milliseconds.
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
