// Cloudflare list prices (Workers Paid plan) that `npm run bench:cost` multiplies its counts by.
// AS KNOWN ON 2025-10-01 — VERIFY against https://developers.cloudflare.com/workers/platform/pricing/,
// /d1/platform/pricing/, /durable-objects/platform/pricing/ and /queues/platform/pricing/ before
// quoting them. They were written from memory, not read off the pages on that date.
// Usage beyond the plan's monthly allowance, in US dollars per million operations; the allowances
// (10 M Worker requests, 1 M Durable Object requests, 25 B D1 rows read, 50 M D1 rows written,
// 1 M queue operations …) are not subtracted, CPU time and Durable Object duration are not counted.
export const PRICES = {
  as_known_on: '2025-10-01',
  status: 'from memory, verify',
  usd_per_million: {
    worker_requests: 0.3,
    do_requests: 0.15,
    d1_rows_read: 0.001,
    d1_rows_written: 1.0,
    // SQLite-backed Durable Object storage bills rows like D1.
    do_rows_read: 0.001,
    do_rows_written: 1.0,
    // A write, a read and a delete per 64 KB of each message.
    queue_ops: 0.4,
  },
  usd_per_gb_month: { d1: 0.75, do_sqlite: 0.2 },
};

/** Dollars for one million events that each cost `counts`. */
export function usdPerMillion(counts) {
  let usd = 0;
  for (const [k, price] of Object.entries(PRICES.usd_per_million)) usd += (counts[k] ?? 0) * price;
  return usd;
}
