import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import {
  attemptFromRow,
  deleteSubscription,
  deliveryFromRow,
  deliveryWithSubscription,
  failedDeliveriesSince,
  getDelivery,
  getSubscription,
  insertDeliveriesStatement,
  insertSubscription,
  leaseAttempt,
  listAttempts,
  listDeliveries,
  listSubscriptions,
  restartDeliveries,
  rotateSecret,
  subscriptionFromRow,
  updateSubscription,
  type SubscriptionFields,
} from '../db/webhooks';
import { CursorParam, NextCursor, PageLimit, Uuid, problemResponses } from '../domain/schemas/common';
import { TimeParam } from '../domain/schemas/event-queries';
import {
  DeliveryStatus,
  NewWebhook,
  Webhook,
  WebhookAttempt,
  WebhookDelivery,
  WebhookDeliveryDetail,
  WebhookPatch,
  WebhookWithSecret,
} from '../domain/schemas/webhooks';
import { iso, parseTimeParam } from '../domain/time';
import { WEBHOOK_EVENT_TYPES } from '../domain/webhook-mapping';
import { ROTATION_OVERLAP_MS, generateSecret } from '../domain/webhook-signing';
import { webhookUrlProblem } from '../domain/webhook-urls';
import { allowPrivateUrls, attemptDeliveries, leaseUntil, type DeliveryMessage } from '../queues/deliveries';
import { sendAll } from '../queues/messages';
import type { AppEnv } from './context';
import { router } from './context';
import { cursorKey, cutPage } from './paging';
import { ApiError, conflict, notFound, validationFailed, zodFieldErrors, type FieldError } from './problem';

export const webhooks = router();

const tags = ['Webhooks'];
const WebhookParam = z.object({ webhook_id: Uuid });
const DeliveryParam = z.object({ delivery_id: Uuid });

/** A delivery of an erased contact: it still exists (its id and state), but its payload is gone for good. */
const erasedDelivery = (id: string) =>
  new ApiError({ code: 'erased', message: `Delivery ${id} carried a contact that was erased: its payload is gone and it is never sent again.` });

function urlErrors(c: Context<AppEnv>, url: unknown): FieldError[] {
  if (typeof url !== 'string') return [];
  const problem = webhookUrlProblem(url, allowPrivateUrls(c.env));
  return problem ? [{ path: 'url', message: problem }] : [];
}

/**
 * Body hook for create/update: the URL rules depend on the environment (ALLOW_PRIVATE_WEBHOOK_URLS),
 * which a static schema cannot see. On a schema failure the URL is still checked, so that one 422
 * names every bad field.
 */
function bodyHook(result: { target: string } & ({ success: true } | { success: false; error: ZodError }), c: Context<AppEnv>): undefined {
  if (result.success) return undefined;
  const errors = zodFieldErrors(result.error, result.target === 'json' ? undefined : result.target);
  if (result.target === 'json' && !errors.some((e) => e.path === 'url')) {
    const raw = (result as { data?: unknown }).data;
    if (raw && typeof raw === 'object') errors.push(...urlErrors(c, (raw as { url?: unknown }).url));
  }
  throw validationFailed(errors);
}

function checkUrl(c: Context<AppEnv>, url: string | undefined): void {
  const errors = urlErrors(c, url);
  if (errors.length) throw validationFailed(errors);
}

async function loadSubscription(c: Context<AppEnv>, id: string) {
  const row = await getSubscription(c.var.db, c.get('tenantId'), id);
  if (!row) throw notFound(`Webhook ${id}`);
  return row;
}

async function enqueue(env: Env, tenantId: string, rows: { id: string; generation: number }[]): Promise<void> {
  const messages: DeliveryMessage[] = rows.map((r) => ({ tenant_id: tenantId, delivery_id: r.id, generation: r.generation }));
  await sendAll(env.DELIVERIES_QUEUE, messages);
}

webhooks.openapi(
  createRoute({
    operationId: 'createWebhook',
    method: 'post',
    path: '/webhooks',
    tags,
    summary: 'Subscribe an endpoint',
    description: 'The response holds the signing `secret`: it is shown this once.',
    request: { body: { required: true, content: { 'application/json': { schema: NewWebhook } } } },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: WebhookWithSecret } } },
      ...problemResponses(400, 401, 413, 415, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    checkUrl(c, body.url);
    const now = Date.now();
    const secret = generateSecret();
    const row = await insertSubscription(c.var.db, c.get('tenantId'), crypto.randomUUID(), body, secret, now);
    // The answer carries the secret: no cache (browser, proxy) may keep it.
    c.header('cache-control', 'no-store');
    return c.json({ ...subscriptionFromRow(row, now), secret }, 201);
  },
  bodyHook,
);

webhooks.openapi(
  createRoute({
    operationId: 'listWebhooks',
    method: 'get',
    path: '/webhooks',
    tags,
    summary: 'List webhook subscriptions',
    request: { query: z.object({ limit: PageLimit(), cursor: CursorParam }) },
    responses: {
      200: {
        description: 'Newest first',
        content: { 'application/json': { schema: z.object({ webhooks: z.array(Webhook), next_cursor: NextCursor }) } },
      },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const now = Date.now();
    const { limit, cursor } = c.req.valid('query');
    const key = cursorKey(cursor, 'webhooks', ['number', 'string']);
    const before = key ? { createdAt: key[0] as number, id: key[1] as string } : undefined;
    const rows = await listSubscriptions(c.var.db, c.get('tenantId'), { limit: limit + 1, before });
    const { page, next_cursor } = cutPage(rows, limit, 'webhooks', (r) => [r.created_at, r.id]);
    return c.json({ webhooks: page.map((r) => subscriptionFromRow(r, now)), next_cursor }, 200);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'getWebhook',
    method: 'get',
    path: '/webhooks/{webhook_id}',
    tags,
    summary: 'Get a webhook subscription',
    request: { params: WebhookParam },
    responses: {
      200: { description: 'The subscription (never its secret)', content: { 'application/json': { schema: Webhook } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const row = await loadSubscription(c, c.req.valid('param').webhook_id);
    return c.json(subscriptionFromRow(row), 200);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'updateWebhook',
    method: 'patch',
    path: '/webhooks/{webhook_id}',
    tags,
    summary: 'Change a webhook subscription',
    description: 'Only the fields given change. `active: true` re-enables an endpoint Eventline disabled.',
    request: { params: WebhookParam, body: { required: true, content: { 'application/json': { schema: WebhookPatch } } } },
    responses: {
      200: { description: 'The subscription', content: { 'application/json': { schema: Webhook } } },
      ...problemResponses(400, 401, 404, 413, 415, 422),
    },
  }),
  async (c) => {
    const { webhook_id: id } = c.req.valid('param');
    const patch = c.req.valid('json');
    checkUrl(c, patch.url);
    const current = subscriptionFromRow(await loadSubscription(c, id));
    const merged: SubscriptionFields = {
      name: patch.name ?? current.name,
      url: patch.url ?? current.url,
      events: patch.events ?? current.events,
      subscribe_contact_events: patch.subscribe_contact_events ?? current.subscribe_contact_events,
      contact_event_types: patch.contact_event_types ?? current.contact_event_types,
      contact_event_categories: (patch.contact_event_categories ?? current.contact_event_categories) as SubscriptionFields['contact_event_categories'],
      active: patch.active ?? current.active,
      headers: patch.headers ?? current.headers,
      retry_count: patch.retry_count ?? current.retry_count,
      timeout_seconds: patch.timeout_seconds ?? current.timeout_seconds,
    };
    if (merged.events.length === 0 && !merged.subscribe_contact_events) {
      throw validationFailed([{ path: 'events', message: 'must hold at least one filter unless subscribe_contact_events is true' }]);
    }
    const reactivate = patch.active === true && !current.active;
    const row = await updateSubscription(c.var.db, c.get('tenantId'), id, merged, reactivate, Date.now());
    if (!row) throw notFound(`Webhook ${id}`);
    return c.json(subscriptionFromRow(row), 200);
  },
  bodyHook,
);

webhooks.openapi(
  createRoute({
    operationId: 'deleteWebhook',
    method: 'delete',
    path: '/webhooks/{webhook_id}',
    tags,
    summary: 'Delete a webhook subscription',
    description: 'Its deliveries and attempt log go with it; queued deliveries are dropped.',
    request: { params: WebhookParam },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404, 422) },
  }),
  async (c) => {
    const { webhook_id: id } = c.req.valid('param');
    if (!(await deleteSubscription(c.var.db, c.get('tenantId'), id))) throw notFound(`Webhook ${id}`);
    return c.body(null, 204);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'rotateWebhookSecret',
    method: 'post',
    path: '/webhooks/{webhook_id}/rotate-secret',
    tags,
    summary: 'Rotate the signing secret',
    description: 'Returns the new secret (shown once). For 24 hours deliveries carry two signatures, by the new and the previous secret.',
    request: { params: WebhookParam },
    responses: {
      200: {
        description: 'The new secret',
        content: { 'application/json': { schema: z.object({ secret: z.string(), secret_rotation_ends_at: z.string().openapi({ description: 'Until then the previous secret also signs (the subscription shows the same time).' }) }) } },
      },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const { webhook_id: id } = c.req.valid('param');
    const now = Date.now();
    const secret = generateSecret();
    const row = await rotateSecret(c.var.db, c.get('tenantId'), id, secret, now + ROTATION_OVERLAP_MS, now);
    if (!row) throw notFound(`Webhook ${id}`);
    c.header('cache-control', 'no-store');
    return c.json({ secret, secret_rotation_ends_at: iso(now + ROTATION_OVERLAP_MS) }, 200);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'testWebhook',
    method: 'post',
    path: '/webhooks/{webhook_id}/test',
    tags,
    summary: 'Send a webhook.test event now',
    description: 'One signed attempt, made during the request and not retried; the result is logged like any other delivery. Works on a disabled endpoint too.',
    request: { params: WebhookParam },
    responses: {
      200: { description: 'The attempt', content: { 'application/json': { schema: z.object({ delivery: WebhookDelivery, attempt: WebhookAttempt }) } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const sub = await loadSubscription(c, c.req.valid('param').webhook_id);
    const now = Date.now();
    const eventId = crypto.randomUUID();
    const deliveryId = crypto.randomUUID();
    const body = JSON.stringify({
      type: WEBHOOK_EVENT_TYPES.test,
      timestamp: iso(now),
      data: { id: eventId, subscription_id: sub.id, message: 'A test event from Eventline.' },
    });
    const db = c.var.db;
    await insertDeliveriesStatement(db, tenantId, [{ id: deliveryId, subscription_id: sub.id, event_id: eventId, event_type: WEBHOOK_EVENT_TYPES.test, body }], now).run();
    const lease = await leaseAttempt(db, { tenantId, deliveryId, generation: 1, expectedGenerationAttempts: 0, owner: 'test', leaseUntil: leaseUntil(sub, now) }, now);
    const loaded = await deliveryWithSubscription(db, tenantId, deliveryId);
    if (!lease || !loaded) throw new ApiError({ code: 'internal', message: 'The test delivery could not be started.' });
    const [report] = await attemptDeliveries(c.env, db, c.executionCtx, [{ sub, delivery: loaded.delivery, lease, retryable: false }]);
    if (!report) throw new ApiError({ code: 'internal', message: 'The test attempt could not be recorded.' });
    const after = await getDelivery(db, tenantId, deliveryId);
    const attempt = (await listAttempts(db, tenantId, deliveryId)).find((a) => a.attempt === report.attempt);
    return c.json({ delivery: deliveryFromRow(after!), attempt: attemptFromRow(attempt!) }, 200);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'listWebhookDeliveries',
    method: 'get',
    path: '/webhooks/{webhook_id}/deliveries',
    tags,
    summary: "List a subscription's deliveries",
    request: {
      params: WebhookParam,
      query: z.object({
        status: DeliveryStatus.optional(),
        limit: PageLimit(),
        cursor: CursorParam,
      }),
    },
    responses: {
      200: {
        description: 'Newest first',
        content: { 'application/json': { schema: z.object({ deliveries: z.array(WebhookDelivery), next_cursor: NextCursor }) } },
      },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const { webhook_id: id } = c.req.valid('param');
    const { status, limit, cursor } = c.req.valid('query');
    await loadSubscription(c, id);
    const key = cursorKey(cursor, 'webhook-deliveries', ['number', 'string']);
    const before = key ? { createdAt: key[0] as number, id: key[1] as string } : undefined;
    const rows = await listDeliveries(c.var.db, c.get('tenantId'), id, { limit: limit + 1, ...(status ? { status } : {}), ...(before ? { before } : {}) });
    const { page, next_cursor } = cutPage(rows, limit, 'webhook-deliveries', (r) => [r.created_at, r.id]);
    return c.json({ deliveries: page.map(deliveryFromRow), next_cursor }, 200);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'recoverWebhook',
    method: 'post',
    path: '/webhooks/{webhook_id}/recover',
    tags,
    summary: 'Requeue every failed delivery since a time',
    description:
      'Each failed delivery created at or after `from` starts a new round of attempts (same webhook-id). At most 1000 per call; `has_more` says to call again. ' +
      'Deliveries of an erased contact (status `erased`) are never recovered.',
    request: {
      params: WebhookParam,
      query: z.object({ from: TimeParam }),
    },
    responses: {
      202: {
        description: 'Requeued',
        content: { 'application/json': { schema: z.object({ recovered: z.number().int(), delivery_ids: z.array(z.string()), has_more: z.boolean() }) } },
      },
      ...problemResponses(401, 404, 409, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const { webhook_id: id } = c.req.valid('param');
    const since = parseTimeParam(c.req.valid('query').from)!;
    const sub = await loadSubscription(c, id);
    if (sub.active !== 1) throw conflict(`Webhook ${id} is disabled; re-enable it (PATCH active: true) before recovering.`);
    const LIMIT = 1000;
    const ids = await failedDeliveriesSince(c.var.db, tenantId, id, since, LIMIT + 1);
    const restarted = await restartDeliveries(c.var.db, tenantId, ids.slice(0, LIMIT), Date.now());
    await enqueue(c.env, tenantId, restarted);
    return c.json({ recovered: restarted.length, delivery_ids: restarted.map((r) => r.id), has_more: ids.length > LIMIT }, 202);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'getWebhookDelivery',
    method: 'get',
    path: '/webhook-deliveries/{delivery_id}',
    tags,
    summary: 'Get a delivery with its attempts',
    description: 'A delivery of an erased contact answers 410: its payload and attempts were removed by the erase.',
    request: { params: DeliveryParam },
    responses: {
      200: { description: 'The delivery', content: { 'application/json': { schema: WebhookDeliveryDetail } } },
      ...problemResponses(401, 404, 410, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const { delivery_id: id } = c.req.valid('param');
    const row = await getDelivery(c.var.db, tenantId, id);
    if (!row) throw notFound(`Delivery ${id}`);
    if (row.status === 'erased') throw erasedDelivery(id);
    const attempts = await listAttempts(c.var.db, tenantId, id);
    return c.json({ ...deliveryFromRow(row), payload: JSON.parse(row.body) as Record<string, unknown>, attempt_log: attempts.map(attemptFromRow) }, 200);
  },
);

webhooks.openapi(
  createRoute({
    operationId: 'redeliverWebhookDelivery',
    method: 'post',
    path: '/webhook-deliveries/{delivery_id}/redeliver',
    tags,
    summary: 'Send a delivery again',
    description:
      'Starts a new round of attempts with the same body and webhook-id, whatever the delivery\'s state; a round in progress is superseded. ' +
      'A delivery of an erased contact answers 410 and is not sent.',
    request: { params: DeliveryParam },
    responses: {
      202: { description: 'Requeued', content: { 'application/json': { schema: WebhookDelivery } } },
      ...problemResponses(401, 404, 409, 410, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const { delivery_id: id } = c.req.valid('param');
    const loaded = await deliveryWithSubscription(c.var.db, tenantId, id);
    if (!loaded) throw notFound(`Delivery ${id}`);
    if (loaded.delivery.status === 'erased') throw erasedDelivery(id);
    if (!loaded.sub || loaded.sub.active !== 1) throw conflict(`The delivery's webhook is disabled; re-enable it (PATCH active: true) before redelivering.`);
    const restarted = await restartDeliveries(c.var.db, tenantId, [id], Date.now());
    // Erased between the check and the restart: restartDeliveries skipped it, nothing was queued.
    if (restarted.length === 0) throw erasedDelivery(id);
    await enqueue(c.env, tenantId, restarted);
    const row = await getDelivery(c.var.db, tenantId, id);
    return c.json(deliveryFromRow(row!), 202);
  },
);
