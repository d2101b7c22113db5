import { shardOf } from './api';
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { app } from '../../src/app';
import { BASE, call, json } from './api';
import { header, type Received } from './receiver';
import type { DeliveryRow } from '../../src/db/webhooks';

export interface Sub {
  id: string;
  secret: string;
  url: string;
}

export async function subscribe(key: string, body: Record<string, unknown>): Promise<Sub> {
  const res = await call('POST', '/api/v1/webhooks', { key, body: { name: 'test', ...body } });
  if (res.status !== 201) throw new Error(`subscribe failed: ${res.status} ${await res.text()}`);
  return json<Sub>(res);
}

export async function append(key: string, body: Record<string, unknown>): Promise<{ id: string }> {
  const res = await call('POST', '/api/v1/events', { key, body: { source: 'system', ...body } });
  if (res.status !== 201) throw new Error(`append failed: ${res.status} ${await res.text()}`);
  return json<{ id: string }>(res);
}

/** Verifies a received request with the official Standard Webhooks library; returns the parsed body. */
export function verify(secret: string, r: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
  return new StandardWebhook(secret).verify(r.body, {
    'webhook-id': header(r, 'webhook-id'),
    'webhook-timestamp': header(r, 'webhook-timestamp'),
    'webhook-signature': header(r, 'webhook-signature'),
  }) as { type: string; timestamp: string; data: Record<string, unknown> };
}

export async function deliveriesOf(tenantId: string, subscriptionId: string): Promise<DeliveryRow[]> {
  const { results } = await (await shardOf(tenantId)).prepare(`SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND subscription_id = ? ORDER BY created_at`)
    .bind(tenantId, subscriptionId)
    .all<DeliveryRow>();
  return results;
}

export async function eventsOfType(tenantId: string, type: string): Promise<{ id: string; payload: string }[]> {
  const { results } = await (await shardOf(tenantId)).prepare(`SELECT id, payload FROM events WHERE tenant_id = ? AND event_type = ?`).bind(tenantId, type).all<{ id: string; payload: string }>();
  return results;
}

/** The same app with ALLOW_PRIVATE_WEBHOOK_URLS as in production ("false"): the URL rules apply. */
export async function callProduction(method: string, path: string, key: string, body?: unknown): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    { ...env, ALLOW_PRIVATE_WEBHOOK_URLS: 'false' },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}
