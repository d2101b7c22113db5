// The Worker as `npm start`, the e2e suite and the bench run it locally: the deployed Worker unchanged,
// plus two things Cloudflare does in front of it. Never deployed: `wrangler deploy` bundles src/index.ts.
// - The crons' local trigger: on Cloudflare the cron triggers call `scheduled`; locally nothing does,
//   so GET /cdn-cgi/handler/scheduled?cron=… (wrangler's URL) and /__scheduled?cron=… (wrangler dev
//   --test-scheduled's) run it.
// - Static assets: on Cloudflare an existing asset is served before the Worker runs. Miniflare emulates
//   that with its asset router in front of every request (two more workers on the one local thread:
//   measured 3,314 instead of 18,830 no-op requests/s). Here API paths (/api/…, /__…) go straight to
//   the Worker — no asset lives under them (src/dev/runtime.mjs checks) — and any other path is first
//   looked up in the [assets] directory (the LOCAL_ASSETS service: wrangler.toml's assets on a
//   worker of their own), falling through to the Worker where no asset exists, as on Cloudflare.
import worker from '../index';

export * from '../index';

type LocalEnv = Env & { LOCAL_ASSETS?: Fetcher };

const TRIGGERS = new Set(['/cdn-cgi/handler/scheduled', '/__scheduled']);

export default {
  async fetch(request, env, ctx) {
    // Plain string tests: an API request pays for two, not for a URL parse.
    const href = request.url;
    const pathAt = href.indexOf('/', href.indexOf('//') + 2);
    if (href.startsWith('/api/', pathAt)) return worker.fetch(request, env, ctx);
    const url = new URL(href);
    if (TRIGGERS.has(url.pathname)) {
      const cron = url.searchParams.get('cron') ?? '* * * * *';
      const controller: ScheduledController = { cron, scheduledTime: Number(url.searchParams.get('time') ?? Date.now()), noRetry() {} };
      await worker.scheduled(controller, env, ctx);
      return new Response(`Ran scheduled event (cron ${cron})\n`);
    }
    if (env.LOCAL_ASSETS && !url.pathname.startsWith('/__') && (request.method === 'GET' || request.method === 'HEAD')) {
      const asset = await env.LOCAL_ASSETS.fetch(request.clone());
      if (asset.status !== 404) return asset;
    }
    return worker.fetch(request, env, ctx);
  },
  queue: worker.queue,
  scheduled: worker.scheduled,
} satisfies ExportedHandler<LocalEnv, unknown>;
