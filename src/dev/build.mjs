#!/usr/bin/env node
// `npm run build`: bundles what browsers and Node consumers load (the Worker itself is bundled by
// wrangler). Output in dist/ (not committed):
//   dist/assets/console/  the agent console, served by the Worker's static assets at /console/
//   dist/assets/docs/     Swagger UI (swagger-ui-dist) and its starter, loaded by the /docs page
//   dist/assets/_headers  their security headers (CSP, nosniff, Referrer-Policy)
// and the client package: packages/client/dist/ (ES modules, and .d.ts by tsc).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
// The /docs page's own headers come from the Worker (src/http/security-headers.ts); its scripts and
// styles here get the hardening ones.
const HARDENING = '  X-Content-Type-Options: nosniff\n  Referrer-Policy: no-referrer\n  X-Frame-Options: DENY\n';
writeFileSync(
  path.join(out, 'assets', '_headers'),
  `/console/*\n  Content-Security-Policy: ${CONSOLE_CSP}\n${HARDENING}/docs/*\n${HARDENING}`,
);

// The API reference: swagger-ui-dist's prebuilt bundle and style, and the starter (src/docs/init.ts).
const docsOut = path.join(out, 'assets', 'docs');
mkdirSync(docsOut, { recursive: true });
const swaggerDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) copyFileSync(path.join(swaggerDir, file), path.join(docsOut, file));
copyFileSync(path.join(root, 'src/docs/docs.css'), path.join(docsOut, 'docs.css'));
await build({
  entryPoints: [path.join(root, 'src/docs/init.ts')],
  outfile: path.join(docsOut, 'init.js'),
  bundle: true,
  format: 'iife',
  target: 'es2022',
  minify: true,
  logLevel: 'warning',
});

// The client package (@eventline/client): one ES module per entry point; openapi-fetch and jose stay
// dependencies of the package rather than being copied into it.
const clientDir = path.join(root, 'packages', 'client');
rmSync(path.join(clientDir, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: ['index', 'api', 'realtime', 'inbox', 'protocol', 'tokens'].map((name) => path.join(clientDir, 'src', `${name}.ts`)),
  outdir: path.join(clientDir, 'dist'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'neutral',
  external: ['openapi-fetch', 'jose'],
  // The entries share their modules (index re-exports the others) through chunks rather than copies.
  splitting: true,
  logLevel: 'warning',
});
const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(clientDir, 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
console.log('built dist/assets/console, dist/assets/docs and packages/client/dist');
