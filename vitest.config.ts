import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

type OnUnhandledError = NonNullable<NonNullable<ViteUserConfig['test']>['onUnhandledError']>;

// Background work in workerd (relay passes, queue consumers) can still be logging when vitest tears
// a file's environment down; that RPC noise is not a test failure. Any other unhandled error is.
const ignoreTeardownNoise: OnUnhandledError = (error) => {
  if (error.name === 'EnvironmentTeardownError' || /Closing rpc while/.test(error.message ?? '')) return false;
};

export default defineConfig(async () => {
  // One folder per kind of database: the control database and the shards (each shard gets the same).
  const controlMigrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations', 'control'));
  const shardMigrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations', 'shard'));
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        main: './src/index.ts',
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            CONTROL_MIGRATIONS: controlMigrations,
            SHARD_MIGRATIONS: shardMigrations,
            ADMIN_TOKEN: 'test-admin-token',
            TOKEN_SIGNING_SECRET: 'test-token-signing-secret',
            ALLOW_PRIVATE_WEBHOOK_URLS: 'true',
            // One JSON line per request would drown the test output; tests that check logging turn it on.
            LOG_REQUESTS: 'false',
            // Load-heavy tests of other capabilities must not meet the limiter; its own tests set a limit.
            RATE_LIMIT_PER_MINUTE: '0',
            RECEIVER_URL: inject<string>('receiverUrl'),
          },
        },
      })),
    ],
    test: {
      include: ['test/**/*.test.ts'],
      setupFiles: ['./test/support/apply-migrations.ts'],
      globalSetup: ['./test/support/global-receiver.ts'],
      onUnhandledError: ignoreTeardownNoise,
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
