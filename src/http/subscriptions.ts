import { createRoute, z } from '@hono/zod-openapi';
import { countAfter, headPosition, projectionProgress } from '../db/log';
import {
  advanceCheckpointStatement,
  deleteSubscription,
  getSubscription,
  insertSubscription,
  listSubscriptions,
  resetSubscription,
  setSubscriptionStatus,
  type EventSubscriptionRow,
} from '../db/subscriptions';
import { typeFilter } from '../domain/event-patterns';
import { CursorParam, NextCursor, PageLimit, problemResponses } from '../domain/schemas/common';
import {
  NewSubscription,
  PositionBody,
  Subscription,
  SubscriptionBatch,
  SubscriptionBatchQuery,
  SubscriptionNameParam,
} from '../domain/schemas/eventstore';
import { iso } from '../domain/time';
import { logPageBody } from '../eventstore/read';
import { router } from './context';
import { pageInMemory } from './paging';
import { conflict, notFound, validationFailed } from './problem';
import { rawJson } from './raw';

export const subscriptions = router();

const LAG_CAP = 100_000;

const typesOf = (row: EventSubscriptionRow) => JSON.parse(row.event_types) as string[];

async function view(d1: D1Database, row: EventSubscriptionRow): Promise<z.infer<typeof Subscription>> {
  const types = typesOf(row);
  // A projection's checkpoint reads as what it has folded (it skips committing one after passes that met none of its types).
  const { checkpoint, lag } =
    row.kind === 'projection'
      ? await projectionProgress(d1, row.tenant_id, row.checkpoint, typeFilter(types), LAG_CAP)
      : { checkpoint: row.checkpoint, lag: await countAfter(d1, row.tenant_id, { after: row.checkpoint, types: typeFilter(types) }, LAG_CAP) };
  return {
    name: row.name,
    kind: row.kind,
    event_types: types,
    checkpoint,
    status: row.status,
    lag,
    error_count: row.error_count,
    last_error: row.last_error,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

async function mustGet(d1: D1Database, tenantId: string, name: string): Promise<EventSubscriptionRow> {
  const row = await getSubscription(d1, tenantId, name);
  if (!row) throw notFound(`The subscription ${name}`);
  return row;
}

const one = { 200: { description: 'The subscription', content: { 'application/json': { schema: Subscription } } } };

subscriptions.openapi(
  createRoute({
    operationId: 'createSubscription',
    method: 'post',
    path: '/subscriptions',
    tags: ['Subscriptions'],
    summary: 'Create a named consumer of the global log, with a checkpoint',
    description:
      'A pull consumer: read the next batch after the checkpoint (`GET /subscriptions/{name}/events`), process it, then commit its `next_after` ' +
      '(`POST /subscriptions/{name}/checkpoint`). A crash before the commit re-reads the batch: consumers with side effects record processed event ids (at-least-once).',
    request: { body: { required: true, content: { 'application/json': { schema: NewSubscription } } } },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: Subscription } } },
      ...problemResponses(400, 401, 409, 415, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const tenantId = c.get('tenantId');
    const d1 = c.var.db;
    let checkpoint = 0;
    if (body.start === 'end') checkpoint = await headPosition(d1, tenantId);
    else if (typeof body.start === 'number') checkpoint = body.start;
    const now = Date.now();
    const inserted = await insertSubscription(d1, tenantId, { name: body.name, kind: 'external', eventTypes: body.event_types, checkpoint, now });
    if (!inserted) throw conflict(`The subscription ${body.name} already exists.`);
    return c.json(await view(d1, await mustGet(d1, tenantId, body.name)), 201);
  },
);

subscriptions.openapi(
  createRoute({
    operationId: 'listSubscriptions',
    method: 'get',
    path: '/subscriptions',
    tags: ['Subscriptions'],
    summary: 'Every consumer of the log (yours and the built-in projections), with checkpoint and lag',
    request: { query: z.object({ limit: PageLimit(), cursor: CursorParam }) },
    responses: {
      200: {
        description: 'Subscriptions, by name',
        content: { 'application/json': { schema: z.object({ subscriptions: z.array(Subscription), next_cursor: NextCursor }) } },
      },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const rows = await listSubscriptions(c.var.db, c.get('tenantId'));
    // Paged before the lag is counted: each row's lag is a query of its own.
    const { page, next_cursor } = pageInMemory(rows, { limit, cursor, list: 'subscriptions', key: (r) => [r.name], shape: ['string'] });
    return c.json({ subscriptions: await Promise.all(page.map((r) => view(c.var.db, r))), next_cursor }, 200);
  },
);

subscriptions.openapi(
  createRoute({
    operationId: 'getSubscription',
    method: 'get',
    path: '/subscriptions/{name}',
    tags: ['Subscriptions'],
    summary: 'One subscription',
    request: { params: SubscriptionNameParam },
    responses: { ...one, ...problemResponses(401, 404, 422) },
  }),
  async (c) => c.json(await view(c.var.db, await mustGet(c.var.db, c.get('tenantId'), c.req.valid('param').name)), 200),
);

subscriptions.openapi(
  createRoute({
    operationId: 'deleteSubscription',
    method: 'delete',
    path: '/subscriptions/{name}',
    tags: ['Subscriptions'],
    summary: 'Delete a subscription (not a built-in one)',
    request: { params: SubscriptionNameParam },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404, 409, 422) },
  }),
  async (c) => {
    const { name } = c.req.valid('param');
    const row = await mustGet(c.var.db, c.get('tenantId'), name);
    if (row.kind !== 'external') throw conflict(`${name} is a built-in consumer and cannot be deleted.`);
    await deleteSubscription(c.var.db, c.get('tenantId'), name);
    return c.body(null, 204);
  },
);

for (const [action, status] of [
  ['pause', 'paused'],
  ['resume', 'active'],
] as const) {
  subscriptions.openapi(
    createRoute({
      operationId: `${action}Subscription`,
      method: 'post',
      path: `/subscriptions/{name}/${action}`,
      tags: ['Subscriptions'],
      summary: action === 'pause' ? 'Pause: batches are refused (409) and built-in consumers stop' : 'Resume a paused subscription',
      request: { params: SubscriptionNameParam },
      responses: { ...one, ...problemResponses(401, 404, 422) },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const tenantId = c.get('tenantId');
      if (!(await setSubscriptionStatus(c.var.db, tenantId, name, status, Date.now()))) throw notFound(`The subscription ${name}`);
      return c.json(await view(c.var.db, await mustGet(c.var.db, tenantId, name)), 200);
    },
  );
}

subscriptions.openapi(
  createRoute({
    operationId: 'resetSubscription',
    method: 'post',
    path: '/subscriptions/{name}/reset',
    tags: ['Subscriptions'],
    summary: 'Move the checkpoint to a position (back to re-process, forward to skip)',
    description: 'Built-in projections are not reset this way: rebuild them (POST /projections/{name}/rebuild).',
    request: { params: SubscriptionNameParam, body: { required: true, content: { 'application/json': { schema: PositionBody } } } },
    responses: { ...one, ...problemResponses(400, 401, 404, 409, 415, 422) },
  }),
  async (c) => {
    const { name } = c.req.valid('param');
    const { position } = c.req.valid('json');
    const tenantId = c.get('tenantId');
    const row = await mustGet(c.var.db, tenantId, name);
    if (row.kind !== 'external') throw conflict(`${name} is a projection: rebuild it instead.`);
    await resetSubscription(c.var.db, tenantId, name, position, Date.now());
    return c.json(await view(c.var.db, await mustGet(c.var.db, tenantId, name)), 200);
  },
);

subscriptions.openapi(
  createRoute({
    operationId: 'readSubscriptionEvents',
    method: 'get',
    path: '/subscriptions/{name}/events',
    tags: ['Subscriptions'],
    summary: 'The next batch after the checkpoint (does not move it)',
    request: { params: SubscriptionNameParam, query: SubscriptionBatchQuery },
    responses: {
      200: { description: 'A batch', content: { 'application/json': { schema: SubscriptionBatch } } },
      ...problemResponses(401, 404, 409, 422),
    },
  }),
  async (c) => {
    const { name } = c.req.valid('param');
    const tenantId = c.get('tenantId');
    const row = await mustGet(c.var.db, tenantId, name);
    if (row.status === 'paused') throw conflict(`The subscription ${name} is paused.`);
    const types = typesOf(row);
    const q = c.req.valid('query');
    const { body, next } = await logPageBody(c.var.db, tenantId, { after: q.after ?? row.checkpoint, limit: q.limit, types: typeFilter(types) });
    return rawJson(`{"subscription":${JSON.stringify(name)},"checkpoint":${row.checkpoint},"events":${body},"next_after":${next}}`);
  },
);

subscriptions.openapi(
  createRoute({
    operationId: 'checkpointSubscription',
    method: 'post',
    path: '/subscriptions/{name}/checkpoint',
    tags: ['Subscriptions'],
    summary: 'Commit the checkpoint after processing a batch (forward only)',
    description: 'A commit below the current checkpoint (a late or repeated one) leaves it where it is.',
    request: { params: SubscriptionNameParam, body: { required: true, content: { 'application/json': { schema: PositionBody } } } },
    responses: { ...one, ...problemResponses(400, 401, 404, 409, 415, 422) },
  }),
  async (c) => {
    const { name } = c.req.valid('param');
    const { position } = c.req.valid('json');
    const tenantId = c.get('tenantId');
    const d1 = c.var.db;
    const row = await mustGet(d1, tenantId, name);
    if (row.kind !== 'external') throw conflict(`${name} is a built-in consumer; it commits its own checkpoint.`);
    const head = await headPosition(d1, tenantId);
    if (position > head) throw validationFailed([{ path: 'position', message: `must be at most ${head}, the last position of the log` }]);
    await advanceCheckpointStatement(d1, tenantId, name, position, Date.now()).run();
    return c.json(await view(d1, await mustGet(d1, tenantId, name)), 200);
  },
);
