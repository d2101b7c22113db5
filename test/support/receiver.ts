import { env } from 'cloudflare:workers';

/** Client for the real HTTP receiver started by global-receiver.ts (its control API). */

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

export interface Scripted {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  delay_ms?: number;
}

/** A path of its own for each test, so that tests running in parallel never see each other's requests. */
export const hookPath = (label = 'hook') => `/wh/${label}/${crypto.randomUUID()}`;
export const hookUrl = (path: string) => `${env.RECEIVER_URL}${path}`;

export async function script(path: string, responses: Scripted[]): Promise<void> {
  const res = await fetch(`${env.RECEIVER_URL}/__control/script`, { method: 'POST', body: JSON.stringify({ path, responses }) });
  if (!res.ok) throw new Error(`receiver script failed: ${res.status}`);
}

export async function received(path: string): Promise<Received[]> {
  const res = await fetch(`${env.RECEIVER_URL}/__control/requests?path=${encodeURIComponent(path)}`);
  return ((await res.json()) as { requests: Received[] }).requests;
}

/** Waits until `path` has received at least `n` requests. */
export async function waitForRequests(path: string, n: number, timeoutMs = 10_000): Promise<Received[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await received(path);
    if (got.length >= n) return got;
    if (Date.now() > deadline) throw new Error(`expected ${n} requests on ${path} within ${timeoutMs} ms, got ${got.length}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const header = (r: Received, name: string): string => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
