// Webhooks: append → signed request received by a local endpoint (p50, p99) and deliveries/s to one
// endpoint answering in 1 ms. The endpoint is a plain Node HTTP server on 127.0.0.1 that checks every
// Standard Webhooks signature (HMAC-SHA256 over "id.timestamp.body") before counting a delivery.
// Needs the Worker started with ALLOW_PRIVATE_WEBHOOK_URLS=true (an http://127.0.0.1 endpoint).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { percentile, round } from '../lib.mjs';

export const name = 'webhooks';

const LATENCY_EVENTS = 40;
const LATENCY_SPACING_MS = 50;
const THROUGHPUT_EVENTS = 1000; // one /events/batch request (the API's maximum)
const WAIT_LIMIT_MS = 120_000;

function verifier(secret) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return (headers, body) => {
    const id = headers['webhook-id'];
    const ts = headers['webhook-timestamp'];
    const sigs = String(headers['webhook-signature'] ?? '').split(' ');
    if (!id || !ts) return false;
    const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
    return sigs.some((s) => {
      const [v, b64] = s.split(',');
      const got = Buffer.from(b64 ?? '', 'base64');
      return v === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
    });
  };
}

export async function run(ctx) {
  const arrivals = new Map(); // run:index → ms
  let badSignatures = 0;
  let verify = () => false;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      if (!verify(req.headers, body)) {
        badSignatures += 1;
        return;
      }
      const payload = JSON.parse(body).data?.payload ?? {};
      const key = `${payload.run}:${payload.i}`;
      if (!arrivals.has(key)) arrivals.set(key, at);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;

  const waitFor = async (keys) => {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (Date.now() < deadline && keys.some((k) => !arrivals.has(k))) await new Promise((r) => setTimeout(r, 5));
    return keys.filter((k) => arrivals.has(k)).length;
  };

  try {
    const sub = await ctx.call('POST', '/api/v1/webhooks', { name: 'bench', url: `http://127.0.0.1:${port}/hook`, events: ['bench.webhook.*'], retry_count: 0 });
    verify = verifier(sub.secret);

    // Warm-up: isolates, D1 statements, the queue consumers.
    const warm = [];
    for (let i = 0; i < 3; i++) {
      await ctx.call('POST', '/api/v1/events', { event_type: 'bench.webhook.warmup', source: 'system', payload: { run: 'warm', i } });
      warm.push(`warm:${i}`);
    }
    await waitFor(warm);

    // Latency: one event every LATENCY_SPACING_MS, each timed from just before its append request.
    const sent = new Map();
    const keys = [];
    for (let i = 0; i < LATENCY_EVENTS; i++) {
      const key = `lat:${i}`;
      keys.push(key);
      sent.set(key, performance.now());
      await ctx.call('POST', '/api/v1/events', { event_type: 'bench.webhook.latency', source: 'system', payload: { run: 'lat', i } });
      await new Promise((r) => setTimeout(r, LATENCY_SPACING_MS));
    }
    const got = await waitFor(keys);
    const latencies = keys.filter((k) => arrivals.has(k)).map((k) => arrivals.get(k) - sent.get(k)).sort((a, b) => a - b);

    // Throughput: 1000 events in one batch append, timed until the last signed request arrives.
    const tKeys = Array.from({ length: THROUGHPUT_EVENTS }, (_, i) => `tp:${i}`);
    const t0 = performance.now();
    await ctx.call('POST', '/api/v1/events/batch', {
      events: tKeys.map((_, i) => ({ event_type: 'bench.webhook.throughput', source: 'system', payload: { run: 'tp', i } })),
    });
    const delivered = await waitFor(tKeys);
    const last = Math.max(...tKeys.filter((k) => arrivals.has(k)).map((k) => arrivals.get(k)));
    const seconds = (last - t0) / 1000;

    if (badSignatures > 0) throw new Error(`${badSignatures} requests failed signature verification`);
    return [
      { metric: 'webhook append → signed request p50', value: round(percentile(latencies, 50), 1), unit: 'ms', target: '≤ 1000 ms' },
      { metric: 'webhook append → signed request p99', value: round(percentile(latencies, 99), 1), unit: 'ms', target: '' },
      { metric: `webhook latency sample (received/sent)`, value: got, unit: `of ${LATENCY_EVENTS}`, target: `${LATENCY_EVENTS}` },
      { metric: 'webhook deliveries/s to one endpoint (1 ms)', value: round(delivered / seconds, 1), unit: '/s', target: '' },
      { metric: 'webhook throughput sample delivered', value: delivered, unit: `of ${THROUGHPUT_EVENTS}`, target: `${THROUGHPUT_EVENTS}` },
    ];
  } finally {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
}

