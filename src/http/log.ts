import { createRoute, z } from '@hono/zod-openapi';
import { eventFromRow } from '../db/events';
import { countAfter, headPosition, readLog } from '../db/log';
import { startRebuild } from '../db/projections';
import { getSubscription, resetSubscription } from '../db/subscriptions';
import { projectionByName } from '../domain/projections';
import { typeFilter } from '../domain/event-patterns';
import { problemResponses } from '../domain/schemas/common';
import { LogPage, LogQuery, LogStreamQuery, ReplayRequest, ReplayResult } from '../domain/schemas/eventstore';
import { listUpcasters } from '../domain/upcasters';
import { projectionInfo } from '../eventstore/projection-info';
import { logPage, logPageBody } from '../eventstore/read';
import { kickProjections } from '../projections/runner';
import type { RelayMessage } from '../domain/relay-message';
import { sendAll } from '../queues/messages';
import { router } from './context';
import { parseTimeParam } from '../domain/time';
import { conflict, notFound, validationFailed } from './problem';
import { rawJson, rawResponse } from './raw';

export const log = router();

log.openapi(
  createRoute({
    operationId: 'readLog',
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
    const { body, next } = await logPageBody(c.var.db, c.get('tenantId'), {
      after: q.after,
      limit: q.limit,
      types: q.types?.length ? typeFilter(q.types) : null,
      correlationId: q.correlation_id,
    });
    return rawJson(`{"events":${body},"next_after":${next}}`);
  },
);

log.openapi(
  createRoute({
    operationId: 'listEventSchemas',
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
    operationId: 'streamLog',
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
    const d1 = c.var.db;
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
            for (const r of rows) chunk += `id: ${r.position}\ndata: ${r.json}\n\n`;
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

// ---------------------------------------------------------------- replay

const REPLAY_MAX = 10_000;
const REPLAY_PAGE = 1000;

log.openapi(
  createRoute({
    operationId: 'replayEvents',
    method: 'post',
    path: '/events/replay',
    tags: ['Log'],
    summary: 'Replay past events (by type and time range) to a subscription, the webhooks queue or a projection',
    description:
      'Time bounds apply to the event `timestamp`: `from`/`to` (inclusive). Targets: ' +
      '`{type:"subscription",name}` moves that consumer\'s checkpoint back to just before the first matching event, so it re-reads from there; ' +
      '`{type:"webhooks"}` sends the matching events to the webhooks queue again (at most 10,000 per call; receivers see the same webhook-id, so they can deduplicate); ' +
      '`{type:"projection",name}` rebuilds the projection (a projection is a function of the whole log, so a replay into it is a rebuild).',
    request: { body: { required: true, content: { 'application/json': { schema: ReplayRequest } } } },
    responses: {
      202: { description: 'Replay done or started', content: { 'application/json': { schema: ReplayResult } } },
      ...problemResponses(400, 401, 404, 409, 415, 422),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const from = body.from === undefined ? undefined : parseTimeParam(body.from)!;
    const to = body.to === undefined ? undefined : parseTimeParam(body.to, true)!;
    if (from !== undefined && to !== undefined && to < from) throw validationFailed([{ path: 'to', message: 'must not be before from' }]);

    const tenantId = c.get('tenantId');
    const d1 = c.var.db;
    const filter = { types: body.type ? typeFilter([body.type]) : null, from, to };
    const matched = await countAfter(d1, tenantId, { after: 0, ...filter }, REPLAY_MAX + 1);
    const firstRow = (await readLog(d1, tenantId, { after: 0, limit: 1, ...filter }))[0];
    const first = firstRow?.position ?? null;
    const target = body.target;

    if (target.type === 'subscription') {
      const sub = await getSubscription(d1, tenantId, target.name);
      if (!sub) throw notFound(`The subscription ${target.name}`);
      if (sub.kind !== 'external') throw conflict(`${target.name} is a projection: replay into {type: "projection"} instead.`);
      if (first !== null) await resetSubscription(d1, tenantId, target.name, first - 1, Date.now());
      return c.json(
        {
          target: `subscription:${target.name}`,
          matched: Math.min(matched, REPLAY_MAX),
          replayed: 0,
          first_position: first,
          last_position: null,
          has_more: matched > REPLAY_MAX,
          detail: first === null ? 'No event matched; the checkpoint is unchanged.' : `The checkpoint is now ${first - 1}: the subscription re-reads from position ${first}.`,
        },
        202,
      );
    }

    if (target.type === 'projection') {
      const p = projectionByName(target.name);
      if (!p) throw notFound(`The projection ${target.name}`);
      await projectionInfo(c.env, tenantId, p);
      const started = await startRebuild(d1, tenantId, p.name, Date.now());
      await kickProjections(c.env, tenantId, 0);
      return c.json(
        {
          target: `projection:${p.name}`,
          matched: Math.min(matched, REPLAY_MAX),
          replayed: 0,
          first_position: first,
          last_position: null,
          has_more: matched > REPLAY_MAX,
          detail: started ? 'Rebuilding the projection from position 0 (see GET /projections).' : 'The projection is already rebuilding.',
        },
        202,
      );
    }

    let after = first === null ? 0 : first - 1;
    let replayed = 0;
    let last: number | null = null;
    while (first !== null && replayed < REPLAY_MAX) {
      const rows = await readLog(d1, tenantId, { after, limit: Math.min(REPLAY_PAGE, REPLAY_MAX - replayed), ...filter });
      if (rows.length === 0) break;
      const messages: RelayMessage[] = rows.map((r) => ({ kind: 'event', tenant_id: tenantId, event: eventFromRow(r) }));
      await sendAll(c.env.WEBHOOKS_QUEUE, messages);
      replayed += rows.length;
      last = rows[rows.length - 1]!.position;
      after = last;
      if (rows.length < REPLAY_PAGE) break;
    }
    return c.json(
      {
        target: 'webhooks',
        matched: Math.min(matched, REPLAY_MAX),
        replayed,
        first_position: first,
        last_position: last,
        has_more: matched > REPLAY_MAX,
        detail: `Sent ${replayed} events to the webhooks queue.`,
      },
      202,
    );
  },
);
