// Analytics and operations figures (HELPERS.md scenario interface): a year of log events appended
// through the API, the rollups' catch-up time, then the latency of year-long rollup queries and of
// the ops document. Bounded: 10 batches of 1,000 events, 60 s catch-up limit, 50 timed calls each.
export const name = 'analytics';

const TYPES = ['message.sent', 'message.received', 'contact.updated', 'session.started', 'tag.added', 'note.added'];
const SOURCES = ['system', 'webhook', 'manual', 'cron', 'workflow'];
const DAY = 86_400_000;

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function timed(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export async function run(ctx) {
  const get = (path) => ctx.call('GET', path);
  const now = Date.now();
  const total = 10_000;
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let b = 0; b < total / 1000; b++) {
    const events = Array.from({ length: 1000 }, () => ({
      event_type: TYPES[Math.floor(rand() * TYPES.length)],
      source: SOURCES[Math.floor(rand() * SOURCES.length)],
      timestamp: new Date(now - Math.floor(rand() * 365 * DAY)).toISOString(),
    }));
    await ctx.call('POST', '/api/v1/events/batch', { events });
  }
  const appended = performance.now();
  const from = new Date(now - 366 * DAY).toISOString().slice(0, 10);
  const year = `/api/v1/analytics/events?from=${from}`;
  let counted = 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    counted = (await get(`${year}&group_by=type`)).total;
    if (counted >= total) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const catchUp = performance.now() - appended;
  if (counted < total) throw new Error(`rollups counted ${counted} of ${total} within 60 s`);

  const byType = await timed(50, () => get(`${year}&group_by=type`));
  const byDay = await timed(50, () => get(`${year}&group_by=day`));
  const filtered = await timed(50, () => get(`${year}&group_by=source&type=message.sent`));
  const ops = await timed(50, () => get('/api/v1/ops/stats'));
  return [
    { metric: 'rollups: 10,000 events appended → all counted', value: Math.round(catchUp), unit: 'ms', target: 'seconds (queue batch timeout 1 s)' },
    { metric: 'analytics over a year, group_by=type p50', value: +pct(byType, 50).toFixed(2), unit: 'ms', target: '≤ 50 ms' },
    { metric: 'analytics over a year, group_by=type p99', value: +pct(byType, 99).toFixed(2), unit: 'ms' },
    { metric: 'analytics over a year, group_by=day p50', value: +pct(byDay, 50).toFixed(2), unit: 'ms', target: '≤ 50 ms' },
    { metric: 'analytics over a year, type filter, group_by=source p50', value: +pct(filtered, 50).toFixed(2), unit: 'ms' },
    { metric: 'GET /ops/stats p50', value: +pct(ops, 50).toFixed(2), unit: 'ms' },
    { metric: 'GET /ops/stats p99', value: +pct(ops, 99).toFixed(2), unit: 'ms' },
  ];
}
