// Starts the Worker with `wrangler dev` on a free loopback port, with its own local state in a temp
// directory, in its own process group (wrangler's workerd children outlive a killed wrangler), with
// `--test-scheduled` as `npm start` runs it (GET /__scheduled?cron=… runs a cron).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const wrangler = path.join(root, 'node_modules', '.bin', 'wrangler');
export const ADMIN_TOKEN = 'e2e-admin-token';

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startServer() {
  const state = mkdtempSync(path.join(tmpdir(), 'eventline-e2e-'));
  const env = { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' };
  const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', state], { cwd: root, env, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  const port = await freePort();
  // The devtools inspector too: wrangler's default 9229 is shared by every wrangler dev on the machine.
  const inspectorPort = await freePort();
  const vars = ['ADMIN_TOKEN:' + ADMIN_TOKEN, 'TOKEN_SIGNING_SECRET:e2e-signing-secret', 'ALLOW_PRIVATE_WEBHOOK_URLS:true'];
  const child = spawn(
    wrangler,
    ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--persist-to', state, '--show-interactive-dev-session=false', '--test-scheduled', ...vars.flatMap((v) => ['--var', v])],
    { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/api/v1/health`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`wrangler dev did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    log: () => log,
    async stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 500));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(state, { recursive: true, force: true });
    },
  };
}
