// The local runtime shared by `npm start`, `npm run bench`, the e2e suite and bench/probe-minimal.mjs
// (runs in Node, not in the Worker): Miniflare's API on workerd, as wrangler itself uses it (wrangler's
// own copy of Miniflare), with the Worker options wrangler derives from wrangler.toml
// (`unstable_getMiniflareWorkerOptions`: D1, Durable Objects, Queues with their consumers, R2, the
// [assets] directory, [vars] and .dev.vars). There is no `wrangler dev` in front — no ProxyWorker, no
// inspector proxy, no Miniflare entry worker: requests reach the Worker's own socket
// (`unsafeDirectSockets`), as on Cloudflare, where the edge hands a request straight to the Worker.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const root = path.resolve(import.meta.dirname, '../..');
const wranglerBin = path.join(root, 'node_modules', '.bin', 'wrangler');
const requireFromWrangler = createRequire(path.join(root, 'node_modules', 'wrangler', 'package.json'));

/** Miniflare as wrangler bundles it (the same workerd `wrangler dev` runs). */
export function miniflare() {
  const { Miniflare, Log, LogLevel } = requireFromWrangler('miniflare');
  const { version } = requireFromWrangler('miniflare/package.json');
  return { Miniflare, Log, LogLevel, version };
}

/** Runs a wrangler command in `cwd` (non-interactive, no metrics); throws with its output on failure. */
export function wrangler(args, { cwd = root } = {}) {
  const r = spawnSync(wranglerBin, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' } });
  if (r.status !== 0) throw new Error(`wrangler ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * Bundles the Worker with wrangler (`wrangler deploy --dry-run`: the bundle `wrangler deploy` uploads,
 * including the [build] step that writes dist/assets). `entry` defaults to src/dev/local-entry.ts, the
 * deployed Worker plus the crons' local trigger. Returns { outdir, main } (main: the bundled entry module).
 */
export function bundle({ entry = path.join(root, 'src', 'dev', 'local-entry.ts') } = {}) {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'eventline-bundle-'));
  wrangler(['deploy', '--dry-run', '--outdir', outdir, entry]);
  return { outdir, main: path.join(outdir, `${path.basename(entry).replace(/\.[cm]?[tj]s$/, '')}.js`) };
}

/** A fresh state directory: tmpfs (/dev/shm) when `kind` is 'tmpfs' and the machine has one, else the OS temp dir. */
export function tempState(kind = 'tmpfs') {
  const base = kind === 'tmpfs' && existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return { dir: mkdtempSync(path.join(base, 'eventline-state-')), kind: base === '/dev/shm' ? 'tmpfs (/dev/shm)' : `disk (${base})` };
}

/** The event-store shards' D1 bindings, in shard-number order: wrangler.toml's SHARDS var. */
export function shardBindings() {
  const m = /^SHARDS\s*=\s*"([^"]*)"/m.exec(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'));
  return (m?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Every D1 database with its migrations folder: the control database, then each shard. */
export function d1Databases() {
  return [{ binding: 'DB', dir: 'control' }, ...shardBindings().map((binding) => ({ binding, dir: 'shard' }))];
}

/** Applies migrations/<kind>/*.sql to one fresh D1 database (for throwaway state; `npm start` uses wrangler's tracked apply). */
async function applyFolder(db, kind) {
  const dir = path.join(root, 'migrations', kind);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    const statements = readFileSync(path.join(dir, file), 'utf8')
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter((s) => s.replace(/--.*$/gm, '').trim().length > 0);
    for (const sql of statements) await db.prepare(sql).run();
  }
}

/** Applies the migrations to every D1 database of a fresh Miniflare: the control database and each shard. */
export async function applyMigrations(mf) {
  for (const { binding, dir } of d1Databases()) await applyFolder(await mf.getD1Database(binding), dir);
}

/** `wrangler d1 migrations apply` on every D1 database (`where`: '--local' or '--remote'): what `npm start` and `npm run deploy` run. */
export function applyTrackedMigrations(where) {
  for (const { binding } of d1Databases()) wrangler(['d1', 'migrations', 'apply', binding, where]);
}

/**
 * Starts Eventline on workerd.
 * - `persistRoot`: where D1, Durable Object, R2 and cache files live. `.wrangler/state/v3` is what
 *   `wrangler dev` and `wrangler d1 … --local` use, so both see the same data.
 * - `port`: the Worker's own socket (0 = any free port).
 * - `assets`: wrangler.toml's [assets] are served by a worker of their own (LOCAL_ASSETS), which the
 *   local entry asks first for non-API paths (src/dev/local-entry.ts says why: Miniflare's router in
 *   front of the Worker cost 5.7× the no-op floor). false leaves them out.
 * - `bindings`: overrides of [vars] / .dev.vars.
 * - `stdio(stdout, stderr)`: what to do with workerd's output (the Worker's console lines); default: pass through.
 * - `shared`: further Miniflare options (e.g. `inspectorPort` to profile the Worker).
 * Returns { mf, url, entryUrl, miniflareVersion, dispose }.
 */
export async function startEventline({ persistRoot, port = 0, host = '127.0.0.1', assets = true, bindings = {}, stdio, logLevel = 'WARN', shared = {}, bundled = bundle() }) {
  const { Miniflare, Log, LogLevel, version } = miniflare();
  const wranglerApi = await import(pathToFileURL(path.join(root, 'node_modules', 'wrangler', 'wrangler-dist', 'cli.js')).href);
  // .dev.vars (secrets) are read by the same helper, as `wrangler dev` reads them.
  const { workerOptions } = wranglerApi.unstable_getMiniflareWorkerOptions(path.join(root, 'wrangler.toml'));
  const { assets: assetOptions, ...apiOptions } = workerOptions;
  // The local entry sends /api/… straight to the Worker: that is only right while no asset lives there.
  if (assets && existsSync(path.join(assetOptions.directory, 'api'))) throw new Error(`${assetOptions.directory}/api exists: API paths would no longer reach the Worker first`);
  const mf = new Miniflare({
    // Miniflare's own entry socket (unused by clients; the Worker's socket below serves them).
    host: '127.0.0.1',
    port: 0,
    log: new Log(LogLevel[logLevel]),
    defaultPersistRoot: persistRoot,
    // Loopback only: no fetch of the Request.cf placeholder from workers.cloudflare.com.
    cf: false,
    ...(stdio ? { handleRuntimeStdio: stdio } : {}),
    ...shared,
    workers: [
      {
        ...apiOptions,
        name: 'eventline',
        modules: true,
        modulesRoot: bundled.outdir,
        scriptPath: bundled.main,
        unsafeDirectSockets: [{ host, port }],
        bindings: { ...workerOptions.bindings, ...bindings },
        serviceBindings: { ...apiOptions.serviceBindings, ...(assets ? { LOCAL_ASSETS: 'eventline-assets' } : {}) },
      },
      // Only the assets: no user worker behind them, so a missing asset is a 404 the local entry reads.
      ...(assets
        ? [
            {
              name: 'eventline-assets',
              modules: true,
              script: 'export default { fetch() { return new Response(null, { status: 404 }); } };',
              compatibilityDate: workerOptions.compatibilityDate,
              assets: { ...assetOptions, routerConfig: { ...assetOptions.routerConfig, has_user_worker: false } },
            },
          ]
        : []),
    ],
  });
  const entryUrl = await mf.ready;
  const url = (await mf.unsafeGetDirectURL('eventline')).toString().replace(/\/$/, '');
  return {
    mf,
    url,
    entryUrl: entryUrl.toString().replace(/\/$/, ''),
    miniflareVersion: version,
    async dispose() {
      await mf.dispose().catch(() => undefined);
      rmSync(bundled.outdir, { recursive: true, force: true });
    },
  };
}
