import { headPosition } from '../db/log';
import { createRoute, z } from '@hono/zod-openapi';
import {
  countEvents,
  eventFromRow,
  eventPage,
  eventStatsFromLog,
  getEvent,
  getStreamEventById,
  listEvents,
  servedEvent,
  type EventFilters,
  type Keyset,
} from '../db/events';
import { rollupsSettled, statsFromRollups } from '../db/analytics';
import { decodeEventCursor, encodeEventCursor } from '../domain/cursor';
import { EVENT_CSV_COLUMNS, csvLine, eventCsvLine } from '../domain/csv';
import { sha256Hex, requestHash } from '../domain/json';
import { LIMITS } from '../domain/limits';
import { prepareEvent, type AppendContext } from '../domain/prepare';
import { Uuid, problemResponses } from '../domain/schemas/common';
import { CountEventsQuery, EventCount, EventPage, EventStatsResponse, ExportEventsQuery, ListEventsQuery, StatsQuery } from '../domain/schemas/event-queries';
import { Event, EventBatch, NewEvent } from '../domain/schemas/events';
import { DAY_MS, HOUR_MS, iso, parseTimeParam } from '../domain/time';
import { contactHub, ownerStreamId, streamHub } from '../hub';
import { eventOwners } from '../db/owners';
import { upcastEvent } from '../domain/upcasters';
import { appendLog } from '../append/log';
import { router } from './context';
import { conflict, notFound, validationFailed, rejectDuplicateIds } from './problem';

export const events = router();

const AppendHeaders = z.object({
  'idempotency-key': z.string().min(1).max(LIMITS.idempotencyKeyLength).optional().openapi({
    description:
      'Replaying a request with the same key and body returns the original (200); with another body, 409. On a batch the key covers the whole batch.',
  }),
  'x-correlation-id': z.string().min(1).max(255).optional().openapi({ description: 'Fills metadata.correlation_id when the body has none.' }),
});

function appendContext(headers: z.infer<typeof AppendHeaders>): AppendContext {
  return { idempotencyKey: headers['idempotency-key'] ?? null, correlationId: headers['x-correlation-id'] ?? null, now: Date.now() };
}

events.openapi(
  createRoute({
    operationId: 'appendEvent',
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
    const headers = c.req.valid('header');
    const prepared = await prepareEvent(body, appendContext(headers));
    const clientChosen = body.id !== undefined || headers['idempotency-key'] !== undefined;
    const result = await appendLog(c.env, c.executionCtx, c.get('tenantId'), [prepared], { clientChosen });
    if (!result.ok) throw conflict(result.detail);
    return c.json(servedEvent(result.events[0]!), result.created ? 201 : 200);
  },
);

events.openapi(
  createRoute({
    operationId: 'appendEventBatch',
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
    rejectDuplicateIds(body.events);
    const ctx = appendContext(c.req.valid('header'));
    const prepared = await Promise.all(body.events.map((e, i) => prepareEvent(e, ctx, i, true)));
    if (ctx.idempotencyKey !== null) {
      // Under one Idempotency-Key the batch is the unit: each item's hash covers the whole body, so a
      // replay with any change (an item edited, added or dropped) is a 409, not a partial replay.
      const whole = await requestHash(body);
      await Promise.all(prepared.map(async (p, i) => (p.requestHash = await sha256Hex(`${whole}#${i}`))));
    }
    const clientChosen = ctx.idempotencyKey !== null || body.events.some((e) => e.id !== undefined);
    const result = await appendLog(c.env, c.executionCtx, c.get('tenantId'), prepared, { clientChosen });
    if (!result.ok) throw conflict(result.detail);
    return c.json({ events: result.events.map((e) => servedEvent(e)) }, result.created ? 201 : 200);
  },
);

/** from/to → inclusive epoch-ms bounds; a bare date as the upper bound means its end. */
function resolveRange(fromParam: string | undefined, toParam: string | undefined) {
  const from = fromParam === undefined ? undefined : parseTimeParam(fromParam)!;
  const to = toParam === undefined ? undefined : parseTimeParam(toParam, true)!;
  checkOrder(from, to);
  return { from, to };
}

function checkOrder(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && from > to) {
    throw validationFailed(
      [
        { path: 'query.from', message: 'must not be after to' },
        { path: 'query.to', message: 'must not be before from' },
      ],
      `from (${iso(from)}) is after to (${iso(to)}).`,
    );
  }
}

function filtersOf(q: z.infer<typeof ListEventsQuery> | z.infer<typeof ExportEventsQuery>): EventFilters {
  const { from, to } = resolveRange(q.from, q.to);
  return {
    type: q.type,
    source: q.source,
    contact_id: q.contact_id,
    session_id: q.session_id,
    message_id: q.message_id,
    correlation_id: q.correlation_id,
    start: from,
    end: to,
  };
}

const timeRangeOf = (f: EventFilters) =>
  f.start === undefined && f.end === undefined ? {} : { time_range: { from: f.start === undefined ? null : iso(f.start), to: f.end === undefined ? null : iso(f.end) } };

events.openapi(
  createRoute({
    operationId: 'listEvents',
    method: 'get',
    path: '/events',
    tags: ['Events'],
    summary: 'List events, newest first, with filters and a keyset cursor',
    description:
      'The D1 query store: events naming a contact appear once their hub has relayed them (milliseconds). ' +
      '`next_cursor` continues the listing; pages stay consistent while events are appended.',
    request: { query: ListEventsQuery },
    responses: {
      200: { description: 'A page of events', content: { 'application/json': { schema: EventPage } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const f = filtersOf(q);
    let after: Keyset | undefined;
    if (q.cursor !== undefined) {
      const cursor = decodeEventCursor(q.cursor);
      if (!cursor) throw validationFailed([{ path: 'query.cursor', message: 'is not a cursor issued by this API' }]);
      if (cursor.order !== q.order) throw validationFailed([{ path: 'query.cursor', message: `belongs to order=${cursor.order}` }]);
      after = { timestamp: cursor.timestamp, position: cursor.position };
    }
    // One row more than asked tells whether another page exists without a second query.
    const { rows, total } = await listEvents(c.var.db, c.get('tenantId'), f, { order: q.order, limit: q.limit + 1, after });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const next_cursor = rows.length > q.limit && last ? encodeEventCursor({ timestamp: last.timestamp, position: last.position, order: q.order }) : null;
    return c.json({ events: page.map((r) => servedEvent(eventFromRow(r))), total, next_cursor, ...timeRangeOf(f) }, 200);
  },
);

events.openapi(
  createRoute({
    operationId: 'countEvents',
    method: 'get',
    path: '/events/count',
    tags: ['Events'],
    summary: 'Count the events of a contact and/or a session',
    request: { query: CountEventsQuery },
    responses: {
      200: { description: 'The count', content: { 'application/json': { schema: EventCount } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    if (q.contact_id === undefined && q.session_id === undefined) {
      throw validationFailed([{ path: 'query.contact_id', message: 'contact_id or session_id is required' }]);
    }
    const count = await countEvents(c.var.db, c.get('tenantId'), { contact_id: q.contact_id, session_id: q.session_id });
    return c.json({ count, ...(q.contact_id ? { contact_id: q.contact_id } : {}), ...(q.session_id ? { session_id: q.session_id } : {}) }, 200);
  },
);

events.openapi(
  createRoute({
    operationId: 'getEventStats',
    method: 'get',
    path: '/events/stats',
    tags: ['Events'],
    summary: 'Event counts in a time window, grouped by type, source or hour',
    request: { query: StatsQuery },
    responses: {
      200: { description: 'Counts', content: { 'application/json': { schema: EventStatsResponse } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const range = resolveRange(q.from, q.to);
    const until = range.to ?? Date.now();
    const since = range.from ?? until - DAY_MS;
    checkOrder(since, until);
    const tenantId = c.get('tenantId');
    // Whole-hour ranges are answered from the analytics rollups (constant work per hour, whatever the
    // volume) once they are settled; a range with appends in the last minute, or not on hour
    // boundaries, is counted over the log itself.
    const aligned = since % HOUR_MS === 0 && ((until + 1) % HOUR_MS === 0 || until % HOUR_MS === 0);
    const rollups =
      aligned && (await rollupsSettled(c.var.db, tenantId, since, until, Date.now()))
        ? await statsFromRollups(c.var.db, tenantId, { since, until, groupBy: q.group_by })
        : null;
    const stats = rollups ?? (await eventStatsFromLog(c.var.db, tenantId, { since, until }, q.group_by));
    return c.json({ from: iso(since), to: iso(until), group_by: q.group_by, ...stats, computed_from: rollups ? ('rollups' as const) : ('log' as const) }, 200);
  },
);

/** Rows per D1 read while exporting: bounds memory at one page, whatever the export's size. */
export const EXPORT_PAGE_SIZE = 500;

events.openapi(
  createRoute({
    operationId: 'exportEvents',
    method: 'get',
    path: '/events/export',
    tags: ['Events'],
    summary: 'Export events, oldest first, as streamed NDJSON or CSV',
    description:
      'Streams the events that exist when the export starts, page by page (never the whole result in memory). ' +
      'CSV follows RFC 4180 with a header row; payload and metadata are JSON text.',
    request: { query: ExportEventsQuery },
    responses: {
      200: {
        description: 'The events, one per line',
        content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
      },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const f = filtersOf(q);
    const db = c.var.db;
    const tenantId = c.get('tenantId');
    const requestId = c.get('requestId');
    // Rows appended during the export are left out: it is a snapshot, and it ends.
    const maxPosition = await headPosition(db, tenantId);
    const encoder = new TextEncoder();
    let after: Keyset | undefined;
    let started = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          let out = '';
          if (!started && q.format === 'csv') out += csvLine([...EVENT_CSV_COLUMNS]);
          started = true;
          const rows = await eventPage(db, tenantId, f, 'asc', EXPORT_PAGE_SIZE, after, maxPosition);
          for (const row of rows) {
            // Upcast like servedEvent; the CSV line takes the record type (rows read here always have a position).
            const event = upcastEvent(eventFromRow(row));
            out += q.format === 'csv' ? eventCsvLine(event) : `${JSON.stringify(event)}\n`;
          }
          if (out) controller.enqueue(encoder.encode(out));
          const last = rows[rows.length - 1];
          if (!last || rows.length < EXPORT_PAGE_SIZE) controller.close();
          else after = { timestamp: last.timestamp, position: last.position };
        } catch (error) {
          // Headers are gone already: the client sees a cut stream; the log says why.
          console.error(JSON.stringify({ msg: 'export failed', request_id: requestId, tenant_id: tenantId, error: String(error) }));
          controller.error(error);
        }
      },
    });
    const ext = q.format === 'csv' ? 'csv' : 'ndjson';
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="events-${new Date().toISOString().slice(0, 10)}.${ext}"`,
        'cache-control': 'no-store',
      },
    });
  },
);

events.openapi(
  createRoute({
    operationId: 'getEvent',
    method: 'get',
    path: '/events/{event_id}',
    tags: ['Events'],
    summary: 'Get one event',
    description:
      'Works from the answer to the event\'s append on: an event a hub committed that the relay has not brought to the log yet is read from that hub (with `position: null`).',
    request: { params: z.object({ event_id: Uuid }) },
    responses: {
      200: { description: 'The event', content: { 'application/json': { schema: Event } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const { event_id: id } = c.req.valid('param');
    const row = await getEvent(c.var.db, tenantId, id);
    if (row) return c.json(servedEvent(eventFromRow(row)), 200);
    // Not in the query store yet, or under an id of the hubs' form that carries no number of its stream:
    // the id (or the owner index) names the hub that committed it, which answers while the event is on
    // its way to D1 (docs/api.md "Read your writes"); else D1 may hold it elsewhere in the stream.
    const owner = (await eventOwners(c.var.db, tenantId, [id])).get(id);
    if (!owner) throw notFound('The event');
    const event = await (owner.kind === 'contact' ? contactHub(c.env, tenantId, owner.id) : streamHub(c.env, tenantId, owner.id)).stub.getUnrelayedEvent(owner, id);
    if (event) return c.json(servedEvent(event), 200);
    const walked = await getStreamEventById(c.var.db, tenantId, ownerStreamId(owner), id);
    if (!walked) throw notFound('The event');
    return c.json(servedEvent(eventFromRow(walked)), 200);
  },
);

