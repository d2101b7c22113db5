import { defineConfig } from 'drizzle-kit';

// The control database (binding DB): tenants, keys, webhook subscriptions, settings, the shard
// directory. `npx drizzle-kit generate --config drizzle.control.config.ts --name <what>`.
export default defineConfig({
  dialect: 'sqlite',
  schema: ['./src/db/schema/control.ts'],
  out: './migrations/control',
  migrations: { prefix: 'index' },
});
