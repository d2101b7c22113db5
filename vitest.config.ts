import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations'));
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        main: './src/index.ts',
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
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
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
