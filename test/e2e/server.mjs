// Starts Eventline as `npm start` runs it (src/dev/runtime.mjs: workerd through Miniflare's API, the
// Worker's own socket, every binding of wrangler.toml, the crons' local trigger) on a free loopback
// port, with its own local state in a temp directory. log() is the Worker's console output.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyMigrations, startEventline } from '../../src/dev/runtime.mjs';

export const ADMIN_TOKEN = 'e2e-admin-token';

export async function startServer() {
  const state = mkdtempSync(path.join(tmpdir(), 'eventline-e2e-'));
  let log = '';
  const runtime = await startEventline({
    persistRoot: state,
    bindings: { ADMIN_TOKEN, TOKEN_SIGNING_SECRET: 'e2e-signing-secret', ALLOW_PRIVATE_WEBHOOK_URLS: 'true' },
    stdio(stdout, stderr) {
      stdout.on('data', (d) => (log += d));
      stderr.on('data', (d) => (log += d));
    },
  });
  await applyMigrations(runtime.mf);
  return {
    url: runtime.url,
    log: () => log,
    async stop() {
      await runtime.dispose();
      rmSync(state, { recursive: true, force: true });
    },
  };
}
