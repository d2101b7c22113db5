#!/usr/bin/env node
// `npm start`: the local launcher (runs in Node, not in the Worker). Applies the D1 migrations to the
// embedded local database, makes sure a dev tenant and API key exist, prints them, then runs
// `wrangler dev` on 127.0.0.1:8787 with local D1, Durable Objects and Queues.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
process.chdir(root);
const wrangler = path.join(root, 'node_modules', '.bin', 'wrangler');
const port = process.env.PORT ?? '8787';

function run(args) {
  const r = spawnSync(wrangler, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    process.exit(r.status ?? 1);
  }
  return r.stdout;
}

if (!existsSync('.dev.vars')) {
  copyFileSync('.dev.vars.example', '.dev.vars');
  console.log('Created .dev.vars from .dev.vars.example (local secrets: ADMIN_TOKEN, TOKEN_SIGNING_SECRET).');
}
const devVars = Object.fromEntries(
  readFileSync('.dev.vars', 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
);

console.log('Applying D1 migrations to the local database…');
run(['d1', 'migrations', 'apply', 'DB', '--local']);

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const token = (n) => Array.from({ length: n }, () => ALPHABET[randomInt(62)]).join('');
const statePath = path.join('.wrangler', 'eventline-dev.json');
let dev;
if (existsSync(statePath)) {
  dev = JSON.parse(readFileSync(statePath, 'utf8'));
} else {
  const prefix = token(8);
  dev = { tenant_id: 'dev', key_id: 'dev-key', prefix, key: `evl_${prefix}_${token(32)}` };
  mkdirSync('.wrangler', { recursive: true });
  writeFileSync(statePath, JSON.stringify(dev, null, 2));
}
const hash = createHash('sha256').update(dev.key).digest('hex');
const now = Date.now();
run([
  'd1', 'execute', 'DB', '--local', '--command',
  `INSERT OR IGNORE INTO tenants (id, name, settings, created_at) VALUES ('${dev.tenant_id}', 'Local development', '{}', ${now});
   INSERT OR IGNORE INTO api_keys (id, tenant_id, name, prefix, hash, created_at) VALUES ('${dev.key_id}', '${dev.tenant_id}', 'dev', '${dev.prefix}', '${hash}', ${now});`,
]);

const base = `http://127.0.0.1:${port}`;
console.log(`
Eventline is starting on ${base}
  tenant:      ${dev.tenant_id}
  API key:     ${dev.key}
  admin token: ${devVars.ADMIN_TOKEN ?? '(set ADMIN_TOKEN in .dev.vars)'}
  docs:        ${base}/docs
  crons:       curl '${base}/__scheduled?cron=*+*+*+*+*'   (minute)   cron=17+3+*+*+* (daily)

Try:
  curl -s ${base}/api/v1/events -H 'authorization: Bearer ${dev.key}' -H 'content-type: application/json' \\
    -d '{"event_type":"contact.created","source":"system","contact_id":"0b6f8a4e-3a52-4c1e-9d35-1f0c2b7f9a10","payload":{"name":"Ada"}}'
`);

// --test-scheduled: GET /__scheduled?cron=… runs the scheduled handler. wrangler's own
// /cdn-cgi/handler/scheduled answers 500 for a Worker with static assets: the trigger goes through
// Miniflare's assets RPC proxy, which fails to pass the ScheduledController on (DataCloneError).
const child = spawn(wrangler, ['dev', '--ip', '127.0.0.1', '--port', port, '--test-scheduled'], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));
