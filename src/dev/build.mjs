#!/usr/bin/env node
// `npm run build`: bundles what browsers and Node consumers load (the Worker itself is bundled by
// wrangler). Output in dist/ (not committed):
//   dist/assets/console/  the agent console, served by the Worker's static assets at /console/
//   dist/assets/_headers  its security headers (CSP, nosniff, Referrer-Policy)
//   dist/client/index.js  the realtime client, exported as `eventline/client`
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const out = path.join(root, 'dist');
const consoleOut = path.join(out, 'assets', 'console');
mkdirSync(consoleOut, { recursive: true });

await build({
  entryPoints: [path.join(root, 'src/console/console.ts')],
  outfile: path.join(consoleOut, 'console.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css']) copyFileSync(path.join(root, 'src/console', file), path.join(consoleOut, file));

// Response headers of the static assets (Workers static assets read `_headers` from the assets root).
// The console loads only its own script and style; its socket may go to any API base the user types.
// The same rules as the /docs page (src/http/security-headers.ts), test/e2e checks them.
const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
writeFileSync(
  path.join(out, 'assets', '_headers'),
  `/console/*\n  Content-Security-Policy: ${CONSOLE_CSP}\n  X-Content-Type-Options: nosniff\n  Referrer-Policy: no-referrer\n  X-Frame-Options: DENY\n`,
);

await build({
  entryPoints: [path.join(root, 'src/client/index.ts')],
  outfile: path.join(out, 'client', 'index.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'neutral',
  logLevel: 'warning',
});
console.log('built dist/assets/console and dist/client');
