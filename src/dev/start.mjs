#!/usr/bin/env node
// `npm start`: runs Eventline locally on workerd at the runtime's speed (runs in Node, not in the
// Worker). Applies the D1 migrations to the local control database and every shard in .wrangler/ (where `wrangler dev` keeps
// it), makes sure a dev tenant and API key exist, prints them, then serves the Worker on its own socket
// at 127.0.0.1:8787 with every binding of wrangler.toml (src/dev/runtime.mjs). No `wrangler dev` proxy
// and no reload: `npm run dev` is wrangler dev, for changing the code.
import { createHash, randomInt } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyTrackedMigrations, root, startEventline } from './runtime.mjs';

process.chdir(root);
const port = Number(process.env.PORT ?? '8787');

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
try {
  applyTrackedMigrations('--local');
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}

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

console.log('Bundling the Worker and starting workerd…');
// .wrangler/state/v3: the same files `wrangler dev` and `wrangler d1 … --local` use.
const runtime = await startEventline({ persistRoot: path.join(root, '.wrangler', 'state', 'v3'), port });
const db = await runtime.mf.getD1Database('DB');
const now = Date.now();
await db.batch([
  db.prepare(`INSERT OR IGNORE INTO tenants (id, name, settings, created_at) VALUES (?, 'Local development', '{}', ?)`).bind(dev.tenant_id, now),
  db
    .prepare(`INSERT OR IGNORE INTO api_keys (id, tenant_id, name, prefix, hash, created_at) VALUES (?, ?, 'dev', ?, ?, ?)`)
    .bind(dev.key_id, dev.tenant_id, dev.prefix, createHash('sha256').update(dev.key).digest('hex'), now),
]);

const base = runtime.url;
console.log(`
Eventline is running on ${base} (workerd, the Worker's own socket; Ctrl-C stops it)
  tenant:      ${dev.tenant_id}
  API key:     ${dev.key}
  admin token: ${devVars.ADMIN_TOKEN ?? '(set ADMIN_TOKEN in .dev.vars)'}
  docs:        ${base}/docs
  console:     ${base}/console/
  crons:       curl '${base}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*'   (minute)   cron=17+3+*+*+* (daily)

Try:
  curl -s ${base}/api/v1/events -H 'authorization: Bearer ${dev.key}' -H 'content-type: application/json' \\
    -d '{"event_type":"contact.created","source":"system","contact_id":"0b6f8a4e-3a52-4c1e-9d35-1f0c2b7f9a10","payload":{"name":"Ada"}}'
`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    runtime.dispose().finally(() => process.exit(0));
  });
}
