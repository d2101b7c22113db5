import { createRoute, z } from '@hono/zod-openapi';
import { contactHub, ownerStreamId, streamHub } from '../hub';
import type { ExpectedVersion } from '../domain/expected-version';
import type { PreparedEvent } from '../domain/prepared';
import { positionsOf } from '../db/log';
import { appendAtHub } from '../append/hub-append';
import { getSnapshot, putSnapshotStatement } from '../db/snapshots';
import { requestHash } from '../domain/json';
import { LIMITS } from '../domain/limits';
import { problemResponses } from '../domain/schemas/common';
import {
  Snapshot,
  SnapshotInput,
  StreamAppend,
  StreamAppendResult,
  StreamIdParam,
  StreamMetadata,
  StreamPage,
  StreamReadQuery,
  type StreamEventInput,
} from '../domain/schemas/eventstore';
import { parseStreamId, type StreamRef } from '../domain/streams';
import { iso } from '../domain/time';
import { latestSchemaVersion } from '../domain/upcasters';
import { servedEvent } from '../db/events';
import { router } from './context';
import { ApiError, conflict, notFound, validationFailed, type FieldError, duplicateIdErrors } from './problem';

export const streams = router();

const TraceHeaders = z.object({
  'idempotency-key': z.string().min(1).max(LIMITS.idempotencyKeyLength).optional().openapi({
    description: 'Event i of the request gets the key `<key>#<i>`: a retry with the same key and body returns the original result.',
  }),
  'x-correlation-id': z.string().min(1).max(255).optional().openapi({ description: 'Fills metadata.correlation_id of events that have none.' }),
  'x-causation-id': z.string().min(1).max(255).optional().openapi({ description: 'Fills metadata.causation_id of events that have none.' }),
});

function streamRef(streamId: string): StreamRef {
  const ref = parseStreamId(streamId);
  if (!ref) throw validationFailed([{ path: 'stream_id', message: 'must be contact-<uuid> for contact streams' }]);
  return ref;
}

/** The serial writer of a stream: the contact's hub for contact-<id>, a hub of its own for every other stream. */
function writerOf(env: Env, tenantId: string, ref: StreamRef) {
  return ref.contactId ? contactHub(env, tenantId, ref.contactId) : streamHub(env, tenantId, ref.streamId);
}

const wrongExpectedVersion = (detail: string, current: number, expected: ExpectedVersion) =>
  new ApiError({ code: 'wrong-expected-version', message: detail, extra: { current_version: current, expected_version: expected } });

function checkBatch(events: StreamEventInput[]): void {
  const errors: FieldError[] = duplicateIdErrors(events);
  events.forEach((e, i) => {
    const latest = latestSchemaVersion(e.event_type);
    if (e.schema_version !== undefined && e.schema_version > latest) {
      errors.push({ path: `events.${i}.schema_version`, message: `must be at most ${latest}, the latest schema version of ${e.event_type}` });
    }
  });
  if (errors.length) throw validationFailed(errors);
}

async function prepare(
  ref: StreamRef,
  e: StreamEventInput,
  i: number,
  headers: z.infer<typeof TraceHeaders>,
  now: number,
): Promise<PreparedEvent> {
  const metadata: Record<string, unknown> = { ...e.metadata };
  if (metadata.correlation_id === undefined && headers['x-correlation-id']) metadata.correlation_id = headers['x-correlation-id'];
  if (metadata.causation_id === undefined && headers['x-causation-id']) metadata.causation_id = headers['x-causation-id'];
  const key = headers['idempotency-key'];
  return {
    id: e.id ?? crypto.randomUUID(),
    idChosen: e.id !== undefined,
    idempotencyKey: key ? `${key}#${i}` : null,
    // Bound to the stream, so the same id sent to another stream is not mistaken for a replay.
    requestHash: await requestHash({ stream_id: ref.streamId, event: e }),
    event_type: e.event_type,
    source: e.source ?? 'system',
    contact_id: ref.contactId,
    session_id: null,
    message_id: null,
    payload: e.payload ?? {},
    metadata,
    timestamp: e.timestamp ? Date.parse(e.timestamp) : now,
    schema_version: e.schema_version ?? 1,
  };
}

streams.openapi(
  createRoute({
    operationId: 'appendStreamEvents',
    method: 'post',
    path: '/streams/{stream_id}/events',
    tags: ['Streams'],
    summary: 'Append events to a stream with optimistic concurrency',
    description:
      'All events commit together, with consecutive versions, or none does. `expected_version` (default `"any"`) is checked by the stream\'s single writer: ' +
      'a number (the stream must be at exactly that version), `"no_stream"` (version 0), `"stream_exists"` (version ≥ 1) or `"any"`. ' +
      'On mismatch: 409 with `current_version`. Retrying with the same event ids (or Idempotency-Key) and bodies returns the original result (200), whatever the expected version. ' +
      '`contact-<uuid>` streams belong to the contact: their events get `contact_id`, may create timeline entries, and share the contact\'s sequence numbers with timeline entries created directly, so versions can skip numbers.',
    request: {
      params: StreamIdParam,
      headers: TraceHeaders,
      query: z.object({ wait: z.enum(['position'], { message: 'must be position' }).optional().openapi({ description: '`position`: wait until the events are in the global log and return their positions.' }) }),
      body: { required: true, content: { 'application/json': { schema: StreamAppend } } },
    },
    responses: {
      201: { description: 'Appended', content: { 'application/json': { schema: StreamAppendResult } } },
      200: { description: 'Replay of an earlier append: the original result', content: { 'application/json': { schema: StreamAppendResult } } },
      ...problemResponses(400, 401, 409, 413, 415, 422),
    },
  }),
  async (c) => {
    const ref = streamRef(c.req.valid('param').stream_id);
    const body = c.req.valid('json');
    checkBatch(body.events);
    const headers = c.req.valid('header');
    const now = Date.now();
    const prepared = await Promise.all(body.events.map((e, i) => prepare(ref, e, i, headers, now)));
    const expected: ExpectedVersion = body.expected_version ?? 'any';
    const tenantId = c.get('tenantId');
    const hub = writerOf(c.env, tenantId, ref);
    const { stub } = hub;
    // GET /events/{id} finds these events from the next request on (src/append/hub-append.ts).
    const outcome = await appendAtHub(c.var.db, hub, prepared, () => stub.appendEvents(hub.owner, prepared, expected));
    if (!outcome.ok) {
      if (outcome.reason === 'wrong_expected_version') throw wrongExpectedVersion(outcome.detail, outcome.current_version, expected);
      throw conflict(outcome.detail, { current_version: outcome.current_version });
    }
    let positions = new Map<string, number>();
    if (c.req.valid('query').wait === 'position') {
      await stub.relay();
      positions = await positionsOf(c.var.db, tenantId, ownerStreamId(hub.owner), outcome.records);
    } else if (!outcome.created) {
      positions = await positionsOf(c.var.db, tenantId, ownerStreamId(hub.owner), outcome.records);
    }
    return c.json(
      {
        stream_id: ref.streamId,
        version: outcome.version,
        created: outcome.created,
        events: outcome.records.map((r) => ({ id: r.id, event_type: r.event_type, version: r.sequence_number ?? 0, position: positions.get(r.id) ?? null })),
      },
      outcome.created ? 201 : 200,
    );
  },
);

streams.openapi(
  createRoute({
    operationId: 'readStream',
    method: 'get',
    path: '/streams/{stream_id}',
    tags: ['Streams'],
    summary: "Read a stream's events by version",
    description: 'Served by the stream\'s writer (strongly consistent). `position` is null for events not yet in the global log (a few ms after the append).',
    request: { params: StreamIdParam, query: StreamReadQuery },
    responses: {
      200: { description: 'A page of events', content: { 'application/json': { schema: StreamPage } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const ref = streamRef(c.req.valid('param').stream_id);
    const q = c.req.valid('query');
    const tenantId = c.get('tenantId');
    const { stub, owner } = writerOf(c.env, tenantId, ref);
    // `after` is exclusive in the reading direction; the hub reads from an inclusive version.
    const from = q.direction === 'forward' ? (q.after ?? 0) + 1 : q.after === undefined ? Number.MAX_SAFE_INTEGER : q.after - 1;
    const page = await stub.readStream(owner, from, q.limit, q.direction);
    if (page.version === 0) throw notFound(`The stream ${ref.streamId}`);
    const positions = await positionsOf(c.var.db, tenantId, ownerStreamId(owner), page.events);
    const last = page.events[page.events.length - 1];
    let next: number | null = null;
    if (last && page.events.length === q.limit && last.sequence_number !== null) {
      next = q.direction === 'forward' ? last.sequence_number : last.sequence_number > 1 ? last.sequence_number : null;
    }
    return c.json(
      {
        stream_id: ref.streamId,
        version: page.version,
        direction: q.direction,
        events: page.events.map((e) => ({ ...servedEvent(e, positions.get(e.id) ?? null), version: e.sequence_number ?? 0 })),
        next_after: next,
      },
      200,
    );
  },
);

streams.openapi(
  createRoute({
    operationId: 'getStreamMetadata',
    method: 'get',
    path: '/streams/{stream_id}/metadata',
    tags: ['Streams'],
    summary: "A stream's version, event count and first/last event times",
    request: { params: StreamIdParam },
    responses: {
      200: { description: 'Stream metadata', content: { 'application/json': { schema: StreamMetadata } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const ref = streamRef(c.req.valid('param').stream_id);
    const { stub, owner } = writerOf(c.env, c.get('tenantId'), ref);
    const info = await stub.streamInfo(owner);
    if (info.version === 0) throw notFound(`The stream ${ref.streamId}`);
    return c.json(
      {
        stream_id: ref.streamId,
        aggregate_type: ref.aggregateType,
        aggregate_id: ref.aggregateId,
        version: info.version,
        event_count: info.count,
        first_event_at: info.first_created_at,
        last_event_at: info.last_created_at,
      },
      200,
    );
  },
);

streams.openapi(
  createRoute({
    operationId: 'putStreamSnapshot',
    method: 'put',
    path: '/streams/{stream_id}/snapshot',
    tags: ['Streams'],
    summary: "Store the aggregate's state at a stream version",
    description: 'Readers load the snapshot, then the events after its version. Built-in projections also write snapshots (source `projection:<name>`) every 100 events.',
    request: { params: StreamIdParam, body: { required: true, content: { 'application/json': { schema: SnapshotInput } } } },
    responses: {
      200: { description: 'Stored', content: { 'application/json': { schema: Snapshot } } },
      ...problemResponses(400, 401, 404, 413, 415, 422),
    },
  }),
  async (c) => {
    const ref = streamRef(c.req.valid('param').stream_id);
    const body = c.req.valid('json');
    const tenantId = c.get('tenantId');
    const { stub, owner } = writerOf(c.env, tenantId, ref);
    const version = await stub.version(owner);
    if (version === 0) throw notFound(`The stream ${ref.streamId}`);
    if (body.version > version) throw validationFailed([{ path: 'version', message: `must be at most ${version}, the stream's version` }]);
    const now = Date.now();
    await putSnapshotStatement(c.var.db, tenantId, { streamId: ref.streamId, sequenceNumber: body.version, state: JSON.stringify(body.state), source: 'client', now }, true).run();
    return c.json({ stream_id: ref.streamId, version: body.version, state: body.state, source: 'client', created_at: iso(now) }, 200);
  },
);

streams.openapi(
  createRoute({
    operationId: 'getStreamSnapshot',
    method: 'get',
    path: '/streams/{stream_id}/snapshot',
    tags: ['Streams'],
    summary: 'The latest snapshot (at or below ?version=)',
    request: {
      params: StreamIdParam,
      query: z.object({ version: z.coerce.number({ message: 'must be a number' }).int({ message: 'must be an integer' }).min(1).optional() }),
    },
    responses: {
      200: { description: 'The snapshot', content: { 'application/json': { schema: Snapshot } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const ref = streamRef(c.req.valid('param').stream_id);
    const row = await getSnapshot(c.var.db, c.get('tenantId'), ref.streamId, c.req.valid('query').version);
    if (!row) throw notFound(`A snapshot of ${ref.streamId}`);
    return c.json(
      { stream_id: row.stream_id, version: row.version, state: JSON.parse(row.state) as Record<string, unknown>, source: row.source, created_at: iso(row.created_at) },
      200,
    );
  },
);
