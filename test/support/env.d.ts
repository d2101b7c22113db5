import type { D1Migration } from '@cloudflare/vitest-plugin';

declare global {
  namespace Cloudflare {
    interface Env {
      CONTROL_MIGRATIONS: D1Migration[];
      SHARD_MIGRATIONS: D1Migration[];
      /** Base URL of the real HTTP receiver started by test/support/global-receiver.ts. */
      RECEIVER_URL: string;
    }
  }
}
