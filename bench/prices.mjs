// Cloudflare list prices (Workers Paid plan) that `npm run bench:cost` multiplies its counts by, each
// with the page it was read from, read on the date below. Usage beyond the plan's monthly allowance,
// in US dollars per million operations; the allowances (10 M Worker requests, 1 M Durable Object
// requests, 25 B rows read and 50 M rows written for D1 and for Durable Object SQLite each, 1 M queue
// operations) are not subtracted, CPU time and Durable Object duration are not counted.
export const PRICES = {
  as_known_on: '2026-12-01',
  status: 'read off the pages below',
  usd_per_million: {
    // "Standard: 10 million included per month +$0.30 per additional million" (requests).
    worker_requests: 0.3,
    // "Requests: 1 million, + $0.15/million. Includes HTTP requests, RPC sessions, WebSocket messages,
    // and alarm invocations" (each RPC method call on a stub is one session).
    do_requests: 0.15,
    // "Rows read: First 25 billion / month included + $0.001 / million rows"; "Rows written: First
    // 50 million / month included + $1.00 / million rows"; an index entry is a row written.
    d1_rows_read: 0.001,
    d1_rows_written: 1.0,
    // SQLite storage backend: "Rows reads ... + $0.001 / million rows", "Rows written ... + $1.00 /
    // million rows" ("match D1"); "Each setAlarm is billed as a single row written".
    do_rows_read: 0.001,
    do_rows_written: 1.0,
    // "Standard operations ... $0.40 / million operations"; "an operation is counted for each 64 KB
    // of data that is written, read, or deleted".
    queue_ops: 0.4,
  },
  usd_per_gb_month: { d1: 0.75, do_sqlite: 0.2 },
  sources: {
    worker_requests: 'https://developers.cloudflare.com/workers/platform/pricing/',
    do_requests: 'https://developers.cloudflare.com/durable-objects/platform/pricing/',
    d1_rows_read: 'https://developers.cloudflare.com/d1/platform/pricing/',
    d1_rows_written: 'https://developers.cloudflare.com/d1/platform/pricing/',
    // The pricing page's SQLite table, as its source partial in github.com/cloudflare/cloudflare-docs
    // (src/content/partials/workers/storage_api_pricing.mdx).
    do_rows_read: 'https://developers.cloudflare.com/durable-objects/platform/pricing/#sqlite-storage-backend',
    do_rows_written: 'https://developers.cloudflare.com/durable-objects/platform/pricing/#sqlite-storage-backend',
    queue_ops: 'https://developers.cloudflare.com/queues/pricing/',
    d1: 'https://developers.cloudflare.com/d1/platform/pricing/',
    do_sqlite: 'https://developers.cloudflare.com/durable-objects/platform/pricing/#sqlite-storage-backend',
  },
};

/**
 * What hosted services of the same kind charge per million messages, for docs/performance.md, read on
 * PRICES.as_known_on. `usd_per_million` is null where no per-million price was found.
 */
export const HOSTED = [
  { service: 'Ably (realtime pub/sub)', usd_per_million: 2.5, what: 'overage per million messages; one publish to 10 subscribers counts 11', source: 'https://ably.com/pricing/full-calculator' },
  { service: 'Amazon SNS (standard topic)', usd_per_million: 0.5, what: 'per million publishes; HTTP delivery $0.60 per million on top (a third-party summary, not aws.amazon.com)', source: 'https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/' },
  { service: 'Amazon SQS (standard)', usd_per_million: 0.4, what: 'per million requests (per 64 KB); send, receive and delete are 3 requests (third-party summary)', source: 'https://cloudburn.io/blog/amazon-sqs-pricing' },
  { service: 'Amazon EventBridge (custom events)', usd_per_million: 1.0, what: 'per million custom events published (third-party summary)', source: 'https://cloudburn.io/blog/amazon-eventbridge-pricing' },
  { service: 'Pusher Channels', usd_per_million: null, what: 'not found as a per-million price (packages only; a competitor quotes $49/month for 1 M messages/day)', source: 'https://blog.mattheworiordan.com/p/transparent-pricing-that-rewards' },
  { service: 'Svix (webhooks)', usd_per_million: null, what: 'not found as a per-million price (a competitor quotes 50,000 free messages/month, then $490/month)', source: 'https://dev.to/emithq/why-we-built-emithq-the-49-490-webhook-pricing-gap-npd' },
];

/** Dollars for one million events that each cost `counts`. */
export function usdPerMillion(counts) {
  let usd = 0;
  for (const [k, price] of Object.entries(PRICES.usd_per_million)) usd += (counts[k] ?? 0) * price;
  return usd;
}
