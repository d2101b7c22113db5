import { applyD1Migrations, env } from 'cloudflare:test';
import { allShards } from '../../src/db/shards';

// Runs before each test file; applyD1Migrations skips what is already applied. The tests run with
// two shards (wrangler.toml's SHARDS), and tenants are placed on both.
await applyD1Migrations(env.DB, env.CONTROL_MIGRATIONS);
for (const shard of allShards(env)) await applyD1Migrations(shard.db, env.SHARD_MIGRATIONS);
