import { createRoute, z } from '@hono/zod-openapi';
import { eventFromRow, getEvent } from '../db/events';
import { LIMITS } from '../domain/limits';
import { prepareEvent, type AppendContext } from '../domain/prepare';
import { Uuid, problemResponses } from '../domain/schemas/common';
import { Event, EventBatch, NewEvent } from '../domain/schemas/events';
import { appendLog } from './append';
import { router } from './context';
import { notFound, validationFailed } from './problem';

export const events = router();

const AppendHeaders = z.object({
  'idempotency-key': z.string().min(1).max(LIMITS.idempotencyKeyLength).optional().openapi({
    description: 'Replaying a request with the same key and body returns the original (200); with another body, 409.',
  }),
  'x-correlation-id': z.string().min(1).max(255).optional().openapi({ description: 'Fills metadata.correlation_id when the body has none.' }),
});

function appendContext(headers: z.infer<typeof AppendHeaders>): AppendContext {
  return { idempotencyKey: headers['idempotency-key'] ?? null, correlationId: headers['x-correlation-id'] ?? null, now: Date.now() };
}

function duplicateIds(items: { id?: string | undefined }[]): void {
  const seen = new Map<string, number>();
  const errors = items.flatMap((item, i) => {
    if (!item.id) return [];
    const first = seen.get(item.id);
    seen.set(item.id, first ?? i);
    return first === undefined ? [] : [{ path: `events.${i}.id`, message: `repeats the id of events.${first}` }];
  });
  if (errors.length) throw validationFailed(errors);
}

events.openapi(
  createRoute({
    method: 'post',
    path: '/events',
    tags: ['Events'],
    summary: 'Append an event to the log',
    description:
      'Events naming a contact are sequenced by that contact\'s hub (they get a `sequence_number`) and, when their type has a timeline mapping, also create the timeline entry.',
    request: { headers: AppendHeaders, body: { required: true, content: { 'application/json': { schema: NewEvent } } } },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: Event } } },
      200: { description: 'Replay of an earlier request: the original event', content: { 'application/json': { schema: Event } } },
      ...problemResponses(400, 401, 409, 413, 415, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const prepared = await prepareEvent(body, appendContext(c.req.valid('header')));
    const result = await appendLog(c.env, c.executionCtx, c.get('tenantId'), [prepared]);
    return c.json(result.events[0]!, result.created ? 201 : 200);
  },
);

events.openapi(
  createRoute({
    method: 'post',
    path: '/events/batch',
    tags: ['Events'],
    summary: `Append up to ${LIMITS.batchItems} events, all or nothing`,
    request: { headers: AppendHeaders, body: { required: true, content: { 'application/json': { schema: EventBatch } } } },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: z.object({ events: z.array(Event) }) } } },
      200: { description: 'Replay: the original events', content: { 'application/json': { schema: z.object({ events: z.array(Event) }) } } },
      ...problemResponses(400, 401, 409, 413, 415, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    duplicateIds(body.events);
    const ctx = appendContext(c.req.valid('header'));
    const prepared = await Promise.all(body.events.map((e, i) => prepareEvent(e, ctx, i, true)));
    const result = await appendLog(c.env, c.executionCtx, c.get('tenantId'), prepared);
    return c.json({ events: result.events }, result.created ? 201 : 200);
  },
);

events.openapi(
  createRoute({
    method: 'get',
    path: '/events/{id}',
    tags: ['Events'],
    summary: 'Get one event',
    request: { params: z.object({ id: Uuid }) },
    responses: {
      200: { description: 'The event', content: { 'application/json': { schema: Event } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const row = await getEvent(c.env.DB, c.get('tenantId'), c.req.valid('param').id);
    if (!row) throw notFound('The event');
    return c.json(eventFromRow(row), 200);
  },
);

