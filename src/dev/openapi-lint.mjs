#!/usr/bin/env node
// `npm run lint:openapi`: takes /openapi.json from the running Worker (the document clients get, not
// a copy that could lag), writes it to dist/openapi.json, and lints it with Redocly's `recommended`
// rules (redocly.yaml). Fails on any error or warning: a warning today is a broken client tomorrow.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer } from '../../test/e2e/server.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const out = path.join(root, 'dist', 'openapi.json');

const server = await startServer();
let doc;
try {
  const res = await fetch(`${server.url}/openapi.json`);
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
  doc = await res.text();
} finally {
  await server.stop();
}
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, doc);
console.log(`wrote ${path.relative(root, out)} (${doc.length} bytes)`);

const redocly = path.join(root, 'node_modules', '.bin', 'redocly');
const run = spawnSync(redocly, ['lint', out, '--config', path.join(root, 'redocly.yaml'), '--format=json'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
});
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`redocly lint gave no JSON report (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  process.exit(1);
}
for (const p of report.problems) {
  const where = p.location?.[0]?.pointer ?? '';
  console.log(`${p.severity.padEnd(7)} ${p.ruleId.padEnd(34)} ${where}  ${p.message}`);
}
const { errors, warnings } = report.totals;
console.log(`openapi lint (redocly recommended): ${errors} errors, ${warnings} warnings`);
if (errors + warnings > 0) process.exit(1);
