// The bench's HTTP client: keep-alive node:http over loopback to the Worker's own socket, the calls
// scenarios make (caller), tenant creation and a closed-loop load generator (bench/run.mjs).
import http from 'node:http';
import { percentile } from './lib.mjs';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Closes the kept-alive sockets (at the end of a run, so that Node can exit). */
export const closeConnections = () => agent.destroy();

export function request(base, method, pathname, opts = {}, retried = false) {
  return once(base, method, pathname, opts).catch((e) => {
    // A keep-alive socket the server closed while idle fails on reuse; that is not the request failing.
    if (!retried && e.reusedSocket && e.code === 'ECONNRESET') return request(base, method, pathname, opts, true);
    throw e;
  });
}

function once(base, method, pathname, { key, body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const h = { ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    if (payload !== undefined) {
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(payload);
    }
    const req = http.request(`${base}${pathname}`, { method, agent, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (e) => {
      e.reusedSocket = req.reusedSocket;
      reject(e);
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/**
 * What scenarios call the API with: the same keep-alive node:http client as the built-in scenarios
 * (undici's fetch cost about a millisecond of client time per call here). Parses the JSON answer and
 * throws on a status of 300 or more. A connection error is retried twice: scenarios that write send
 * client-chosen ids, so a retried append is an idempotent replay.
 */
export function caller(base, key) {
  return async (method, pathname, body) => {
    let res;
    for (let attempt = 1; ; attempt += 1) {
      try {
        res = await request(base, method, pathname, { key, body });
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
    if (res.status >= 300) throw new Error(`${method} ${pathname}: ${res.status} ${res.text.slice(0, 500)}`);
    return res.text ? JSON.parse(res.text) : null;
  };
}

export async function newTenant(url, adminToken, name) {
  const res = await request(url, 'POST', '/api/v1/admin/tenants', { headers: { authorization: `Bearer ${adminToken}` }, body: { name } });
  if (res.status !== 201) throw new Error(`tenant creation failed: ${res.status} ${res.text}`);
  const body = JSON.parse(res.text);
  return { tenantId: body.tenant.id, key: body.api_key.key };
}

/**
 * Closed-loop load: `connections` loops, each sending its next request when the previous answered.
 * Requests in the warm-up are not counted. `make(i)` returns the request; `check(res)` says if it succeeded.
 */
export async function load({ base, connections, seconds, warmup, maxRequests = Infinity, make, check }) {
  const latencies = [];
  let ok = 0;
  let okAll = 0;
  let failed = 0;
  let firstFailure = null;
  let n = 0;
  const startAt = performance.now();
  const measureFrom = startAt + warmup * 1000;
  const endAt = measureFrom + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < endAt && n < maxRequests) {
        const { method, path: p, body, key } = make(n++);
        const t0 = performance.now();
        let res;
        try {
          res = await request(base, method, p, { key, body });
        } catch (e) {
          res = { status: 0, text: String(e) };
        }
        const t1 = performance.now();
        if (check(res)) okAll += 1;
        if (t0 < measureFrom) continue;
        if (check(res)) {
          ok += 1;
          latencies.push(t1 - t0);
        } else {
          failed += 1;
          firstFailure ??= `${res.status} ${res.text.slice(0, 200)}`;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  // A count-bounded run may end before its time is up: rates are over the time actually measured.
  const measured = Math.max(0.001, (Math.min(performance.now(), endAt) - measureFrom) / 1000);
  return { rps: ok / measured, ok, okAll, failed, firstFailure, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}
