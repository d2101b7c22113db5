import { createRoute, z } from '@hono/zod-openapi';
import { headPosition, logEventJson } from '../db/log';
import { typeFilter } from '../domain/event-patterns';
import { problemResponses } from '../domain/schemas/common';
import { LogPage, LogQuery, LogStreamQuery } from '../domain/schemas/eventstore';
import { listUpcasters } from '../domain/upcasters';
import { logPage } from '../eventstore/read';
import { router } from './context';
import { rawJson, rawResponse } from './raw';

export const log = router();

log.openapi(
  createRoute({
    method: 'get',
    path: '/log',
    tags: ['Log'],
    summary: "Read the tenant's global log forward from a position",
    description:
      'Every event in the query store has a global `position`, increasing in commit order and never reused. Read with `after` = the last position seen ' +
      '(0 for the start) and continue with `next_after`. Events are upcast to their latest schema version. `correlation_id` returns a saga\'s events in order.',
    request: { query: LogQuery },
    responses: {
      200: { description: 'A page of the log', content: { 'application/json': { schema: LogPage } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const { rows, next } = await logPage(c.env.DB, c.get('tenantId'), {
      after: q.after,
      limit: q.limit,
      types: q.types?.length ? typeFilter(q.types) : null,
      correlationId: q.correlation_id,
    });
    return rawJson(`{"events":[${rows.map(logEventJson).join(',')}],"next_after":${next}}`);
  },
);

log.openapi(
  createRoute({
    method: 'get',
    path: '/log/schemas',
    tags: ['Log'],
    summary: 'Registered upcasters (event type, from → to schema version)',
    responses: {
      200: {
        description: 'The upcaster registry',
        content: { 'application/json': { schema: z.object({ upcasters: z.array(z.object({ event_type: z.string(), from: z.number().int(), to: z.number().int() })) }) } },
      },
      ...problemResponses(401),
    },
  }),
  (c) => c.json({ upcasters: listUpcasters() }, 200),
);

const SSE_BATCH = 500;
const POLL_MS = 250;
const HEARTBEAT_MS = 15_000;
const RETRY_MS = 1_000;

log.openapi(
  createRoute({
    method: 'get',
    path: '/log/stream',
    tags: ['Log'],
    summary: 'Live tail of the log as Server-Sent Events',
    description:
      'Catch-up from `after` (or the `Last-Event-ID` header, which wins), then live: new events are polled from the query store every 250 ms. ' +
      'Each event is one SSE message with `id:` = its position and `data:` = the event JSON. With a `types` filter, a bare `id:` line moves the ' +
      "client's Last-Event-ID past events that did not match. The connection closes after `max_seconds`; the `retry:` hint makes EventSource reconnect and resume.",
    request: {
      query: LogStreamQuery,
      headers: z.object({ 'last-event-id': z.string().regex(/^\d{1,16}$/, { message: 'must be a position' }).optional() }),
    },
    responses: {
      200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const lastEventId = c.req.valid('header')['last-event-id'];
    const tenantId = c.get('tenantId');
    const d1 = c.env.DB;
    const types = q.types?.length ? typeFilter(q.types) : null;
    let cursor = lastEventId !== undefined ? Number(lastEventId) : (q.after ?? (await headPosition(d1, tenantId)));
    const deadline = Date.now() + q.max_seconds * 1000;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    const send = (text: string) => writer.write(enc.encode(text));

    const pump = async () => {
      let sent = 0;
      let lastWrite = Date.now();
      try {
        await send(`retry: ${RETRY_MS}\n: after ${cursor}\n\n`);
        while (Date.now() < deadline && sent < q.max_events) {
          const { rows, next } = await logPage(d1, tenantId, { after: cursor, limit: Math.min(SSE_BATCH, q.max_events - sent), types });
          if (rows.length > 0) {
            let chunk = '';
            for (const r of rows) chunk += `id: ${r.position}\ndata: ${logEventJson(r)}\n\n`;
            await send(chunk);
            sent += rows.length;
            lastWrite = Date.now();
          }
          if (next > cursor && (rows.length === 0 || rows[rows.length - 1]!.position < next)) {
            await send(`id: ${next}\n\n`);
            lastWrite = Date.now();
          }
          cursor = next;
          if (rows.length === SSE_BATCH) continue;
          if (Date.now() - lastWrite > HEARTBEAT_MS) {
            await send(`: ping\n\n`);
            lastWrite = Date.now();
          }
          await new Promise((r) => setTimeout(r, Math.max(0, Math.min(POLL_MS, deadline - Date.now()))));
        }
      } catch {
        // The client went away: nothing to clean up beyond closing.
      } finally {
        await writer.close().catch(() => undefined);
      }
    };
    c.executionCtx.waitUntil(pump());
    return rawResponse(readable, 200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
  },
);
