import { defineConfig } from 'drizzle-kit';

// The event-store shards (SHARD_0, SHARD_1, …): flat SQL files in migrations/shard/, applied to every
// shard by `npm start`, `npm run deploy` and the test setup. The control database has its own
// config (drizzle.control.config.ts, migrations/control/).
export default defineConfig({
  dialect: 'sqlite',
  schema: ['./src/db/schema/core.ts', './src/db/schema/eventstore.ts', './src/db/schema/analytics.ts', './src/db/schema/webhooks.ts'],
  out: './migrations/shard',
  migrations: { prefix: 'index' },
});
