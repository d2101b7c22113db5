import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { TestProject } from 'vitest/node';

/**
 * A real HTTP receiver on 127.0.0.1 for webhook deliveries. Tests script it through its control API:
 *   POST /__control/script {path, responses:[{status, body?, headers?, delay_ms?}]}  — answers for a path, in turn
 *   GET  /__control/requests?path=…                                               — what arrived (method, headers, body, at)
 *   POST /__control/reset
 * Any other request is recorded and answered from its path's script (default 200).
 */
interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}
interface Scripted {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  delay_ms?: number;
}

let server: Server | undefined;

export default async function setup(project: TestProject) {
  const requests: Recorded[] = [];
  const scripts = new Map<string, Scripted[]>();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = Buffer.concat(chunks).toString('utf8');
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (url.pathname === '/__control/reset') {
        requests.length = 0;
        scripts.clear();
        return json(200, { ok: true });
      }
      if (url.pathname === '/__control/script') {
        const { path, responses } = JSON.parse(body) as { path: string; responses: Scripted[] };
        scripts.set(path, [...responses]);
        return json(200, { ok: true });
      }
      if (url.pathname === '/__control/requests') {
        const path = url.searchParams.get('path');
        return json(200, { requests: requests.filter((r) => !path || r.path === path) });
      }
      requests.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers, body, at: Date.now() });
      const queue = scripts.get(url.pathname);
      const next: Scripted = (queue && queue.length > 1 ? queue.shift() : queue?.[0]) ?? { status: 200 };
      setTimeout(() => {
        res.writeHead(next.status, { 'content-type': 'text/plain', ...next.headers });
        res.end(next.body ?? 'ok');
      }, next.delay_ms ?? 0);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  project.provide('receiverUrl', `http://127.0.0.1:${port}`);
  return async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    receiverUrl: string;
  }
}
