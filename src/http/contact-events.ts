import { tenantDb } from '../db/shards';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { contactHub } from '../hub';
import type { PreparedEntry } from '../domain/prepared';
import { entryOwners } from '../db/owners';
import { appendAtHub } from '../append/hub-append';
import { prepareEntry, type AppendContext } from '../domain/prepare';
import { eraseFromArchives } from '../jobs/retention';
import { problemResponses } from '../domain/schemas/common';
import {
  ContactEvent,
  ContactEventBatch,
  ContactEventList,
  ContactEventPage,
  ContactParam,
  CountQuery,
  CountResponse,
  EntryParam,
  EntryQuery,
  EraseResponse,
  ExportQuery,
  MarkDeliveredResponse,
  MarkReadResponse,
  MarkReadUpToBody,
  MarkReadUpToResponse,
  NewContactEvent,
  TimelineAppendHeaders,
  TimelineListQuery,
  TimelinePageResponse,
  UndeliveredQuery,
  boolParam,
} from '../domain/schemas/contact-events';
import { csvHeader, csvRows, pageOf } from '../domain/timeline';
import { router, type AppEnv } from './context';
import { offsetCursor, offsetOf, pageInMemory } from './paging';
import { conflict, notFound, validationFailed, rejectDuplicateIds } from './problem';

/**
 * The contact timeline. Per-contact reads and every write go to the contact's hub (strongly
 * consistent, sequenced there); tenant-wide listing, sessions and search are in contact-event-queries.ts.
 * Routes that name only an entry id find its contact from the id (src/db/owners.ts), unless the caller
 * passes `contact_id`.
 */
export const contactEvents = router();

const tags = ['Contact timeline'];
const EXPORT_PAGE = 1000;

function appendContext(headers: z.infer<typeof TimelineAppendHeaders>): AppendContext {
  return { idempotencyKey: headers['idempotency-key'] ?? null, correlationId: null, now: Date.now() };
}

/**
 * A client-chosen id that another contact of the tenant already holds is refused: routes by entry id
 * find the owner by id, so an id must name one entry per tenant. The owner index knows an id from its
 * append's answer on; two concurrent requests racing with the same id for two contacts are not caught
 * here: the index and D1 then keep the first and never let the second overwrite it.
 */
async function refuseForeignIds(env: Env, tenantId: string, contactId: string, bodies: { id?: string | undefined }[]): Promise<void> {
  const ids = bodies.flatMap((b) => (b.id ? [b.id] : []));
  const owners = await entryOwners(await tenantDb(env, tenantId), tenantId, ids);
  for (const [id, owner] of owners) {
    if (owner !== contactId) throw conflict(`Contact event ${id} already exists for another contact.`);
  }
}

async function append(c: Context<AppEnv>, contactId: string, bodies: NewContactEvent[], headers: z.infer<typeof TimelineAppendHeaders>, batch: boolean) {
  const tenantId = c.get('tenantId');
  const ctx = appendContext(headers);
  const prepared: PreparedEntry[] = await Promise.all(bodies.map((b, i) => prepareEntry(b, ctx, i, batch)));
  await refuseForeignIds(c.env, tenantId, contactId, bodies);
  const hub = contactHub(c.env, tenantId, contactId);
  // The routes that take only an entry id find it from the next request on (docs/api.md "Read your writes").
  const outcome = await appendAtHub(c.var.db, hub, prepared, () => hub.stub.appendEntries(hub.owner, prepared));
  if (!outcome.ok) throw conflict(outcome.detail, { current_version: outcome.current_version });
  return outcome;
}

/**
 * The hub of the contact that owns entry `id`: the caller's hint, else the owner index (written by the
 * append before its answer) or the query store. An id neither knows does not exist.
 */
async function owningHub(c: Context<AppEnv>, id: string, hint: string | undefined) {
  const tenantId = c.get('tenantId');
  const contactId = hint ?? (await entryOwners(c.var.db, tenantId, [id])).get(id);
  if (!contactId) throw notFound('The contact event');
  return contactHub(c.env, tenantId, contactId);
}

// ---------------------------------------------------------------- appends

contactEvents.openapi(
  createRoute({
    operationId: 'appendContactEvent',
    method: 'post',
    path: '/contacts/{contact_id}/events',
    tags,
    summary: 'Add an entry to a contact\'s timeline',
    description: 'The contact\'s hub assigns the next `sequence_number` (shared with the contact\'s log events) and commits the entry with its outbox row.',
    request: {
      params: ContactParam,
      headers: TimelineAppendHeaders,
      body: { required: true, content: { 'application/json': { schema: NewContactEvent } } },
    },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: ContactEvent } } },
      200: { description: 'Replay of an earlier request: the original entry', content: { 'application/json': { schema: ContactEvent } } },
      ...problemResponses(400, 401, 409, 413, 415, 422),
    },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const outcome = await append(c, contact_id, [c.req.valid('json')], c.req.valid('header'), false);
    return c.json(outcome.records[0]!, outcome.created ? 201 : 200);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'appendContactEventBatch',
    method: 'post',
    path: '/contacts/{contact_id}/events/batch',
    tags,
    summary: 'Add up to 1,000 entries, all or nothing, with consecutive sequence numbers',
    request: {
      params: ContactParam,
      headers: TimelineAppendHeaders,
      body: { required: true, content: { 'application/json': { schema: ContactEventBatch } } },
    },
    responses: {
      201: { description: 'Created', content: { 'application/json': { schema: ContactEventList } } },
      200: { description: 'Replay: the original entries', content: { 'application/json': { schema: ContactEventList } } },
      ...problemResponses(400, 401, 409, 413, 415, 422),
    },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const body = c.req.valid('json');
    rejectDuplicateIds(body.events);
    const outcome = await append(c, contact_id, body.events, c.req.valid('header'), true);
    return c.json({ events: outcome.records }, outcome.created ? 201 : 200);
  },
);

// ---------------------------------------------------------------- per-contact reads (the hub)

contactEvents.openapi(
  createRoute({
    operationId: 'listContactEvents',
    method: 'get',
    path: '/contacts/{contact_id}/events',
    tags,
    summary: 'A contact\'s timeline, newest first',
    description: 'Served by the contact\'s hub: strongly consistent. Expired entries are left out unless `include_expired=true`.',
    request: { params: ContactParam, query: TimelineListQuery },
    responses: {
      200: { description: 'A page of the timeline', content: { 'application/json': { schema: TimelinePageResponse } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const q = c.req.valid('query');
    if (q.cursor !== undefined && q.offset !== 0) {
      throw validationFailed([{ path: 'query.offset', message: 'cannot be combined with cursor (the cursor holds the position)' }]);
    }
    const offset = q.cursor === undefined ? q.offset : offsetOf(q.cursor, 'contact-timeline');
    const { stub, owner } = contactHub(c.env, c.get('tenantId'), contact_id);
    const page = await stub.listTimeline(owner, {
      limit: q.limit,
      offset,
      visibleTo: q.visible_to,
      category: q.category,
      type: q.type,
      afterSequence: q.after_sequence,
      includeExpired: boolParam(q.include_expired),
    });
    const next = offset + page.events.length;
    const next_cursor = next < page.total ? offsetCursor('contact-timeline', next) : null;
    return c.json({ events: page.events, total: page.total, page: pageOf(offset, q.limit), limit: q.limit, offset, next_cursor }, 200);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'countContactEvents',
    method: 'get',
    path: '/contacts/{contact_id}/events/count',
    tags,
    summary: 'How many entries a contact\'s timeline holds, and how many of them are unread',
    description: 'Served by the contact\'s hub: an append or a mark-read shows in the next answer.',
    request: { params: ContactParam, query: CountQuery },
    responses: { 200: { description: 'The count', content: { 'application/json': { schema: CountResponse } } }, ...problemResponses(401, 422) },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const { stub, owner } = contactHub(c.env, c.get('tenantId'), contact_id);
    const [count, unread] = await Promise.all([stub.countTimeline(owner, boolParam(c.req.valid('query').include_expired)), stub.unreadCount(owner)]);
    return c.json({ contact_id, count, unread }, 200);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'exportContactEvents',
    method: 'get',
    path: '/contacts/{contact_id}/events/export',
    tags,
    summary: 'Export a contact\'s timeline as CSV, oldest first',
    description: 'Streams every entry from the hub in sequence order. Text cells that a spreadsheet would evaluate as a formula are prefixed with an apostrophe.',
    request: { params: ContactParam, query: ExportQuery },
    responses: {
      200: { description: 'CSV (RFC 4180), one header row', content: { 'text/csv': { schema: z.string() } } },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const includeExpired = boolParam(c.req.valid('query').include_expired);
    const { stub, owner } = contactHub(c.env, c.get('tenantId'), contact_id);
    const encoder = new TextEncoder();
    // Paged by sequence number, not offset, so that entries appended or deleted meanwhile neither
    // repeat nor shift others out of the export.
    let after = 0;
    let started = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!started) {
          started = true;
          controller.enqueue(encoder.encode(csvHeader()));
        }
        const page = await stub.listTimeline(owner, { limit: EXPORT_PAGE, offset: 0, afterSequence: after, includeExpired, ascending: true });
        if (page.events.length > 0) {
          controller.enqueue(encoder.encode(csvRows(page.events)));
          after = page.events[page.events.length - 1]!.sequence_number;
        }
        if (page.events.length < EXPORT_PAGE) controller.close();
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="contact-${contact_id}-timeline.csv"`,
      },
    });
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'listUndeliveredContactEvents',
    method: 'get',
    path: '/contact-events/undelivered',
    tags,
    summary: 'A contact\'s realtime entries not yet delivered (expired ones excluded), oldest first',
    request: { query: UndeliveredQuery },
    responses: { 200: { description: 'Entries', content: { 'application/json': { schema: ContactEventPage } } }, ...problemResponses(401, 422) },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const { stub, owner } = contactHub(c.env, c.get('tenantId'), q.contact_id);
    const { page, next_cursor } = pageInMemory(await stub.undelivered(owner), {
      limit: q.limit,
      cursor: q.cursor,
      list: 'undelivered',
      key: (e) => [e.sequence_number],
      shape: ['number'],
    });
    return c.json({ events: page, next_cursor }, 200);
  },
);

// ---------------------------------------------------------------- one entry (owner found by id)

contactEvents.openapi(
  createRoute({
    operationId: 'getContactEvent',
    method: 'get',
    path: '/contact-events/{entry_id}',
    tags,
    summary: 'Get one timeline entry',
    description: 'Works from the answer to the entry\'s append on (the owner is recorded with the append); `contact_id` skips the owner lookup.',
    request: { params: EntryParam, query: EntryQuery },
    responses: { 200: { description: 'The entry', content: { 'application/json': { schema: ContactEvent } } }, ...problemResponses(401, 404, 422) },
  }),
  async (c) => {
    const { entry_id: id } = c.req.valid('param');
    const { stub, owner } = await owningHub(c, id, c.req.valid('query').contact_id);
    const entry = await stub.getEntry(owner, id);
    if (!entry) throw notFound('The contact event');
    return c.json(entry, 200);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'deleteContactEvent',
    method: 'delete',
    path: '/contact-events/{entry_id}',
    tags,
    summary: 'Delete one timeline entry (its sequence number is not reused)',
    request: { params: EntryParam, query: EntryQuery },
    responses: { 204: { description: 'Deleted' }, ...problemResponses(401, 404, 422) },
  }),
  async (c) => {
    const { entry_id: id } = c.req.valid('param');
    const { stub, owner } = await owningHub(c, id, c.req.valid('query').contact_id);
    if (!(await stub.deleteEntry(owner, id))) throw notFound('The contact event');
    return c.body(null, 204);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'markContactEventRead',
    method: 'post',
    path: '/contact-events/{entry_id}/mark-read',
    tags,
    summary: 'Mark an entry read (the first read time is kept)',
    request: { params: EntryParam, query: EntryQuery },
    responses: { 200: { description: 'Read', content: { 'application/json': { schema: MarkReadResponse } } }, ...problemResponses(401, 404, 422) },
  }),
  async (c) => {
    const { entry_id: id } = c.req.valid('param');
    const { stub, owner } = await owningHub(c, id, c.req.valid('query').contact_id);
    const entry = await stub.markRead(owner, id);
    if (!entry) throw notFound('The contact event');
    return c.json({ success: true, id, read_at: entry.read_at! }, 200);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'markContactEventDelivered',
    method: 'post',
    path: '/contact-events/{entry_id}/mark-delivered',
    tags,
    summary: 'Mark an entry delivered (the first delivery time is kept)',
    request: { params: EntryParam, query: EntryQuery },
    responses: {
      200: { description: 'Delivered', content: { 'application/json': { schema: MarkDeliveredResponse } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const { entry_id: id } = c.req.valid('param');
    const { stub, owner } = await owningHub(c, id, c.req.valid('query').contact_id);
    const entry = await stub.markDelivered(owner, id);
    if (!entry) throw notFound('The contact event');
    return c.json({ success: true, id, delivered_at: entry.delivered_at! }, 200);
  },
);

contactEvents.openapi(
  createRoute({
    operationId: 'markContactEventsRead',
    method: 'post',
    path: '/contacts/{contact_id}/events/mark-read',
    tags,
    summary: 'Mark a contact\'s unread entries read, up to a sequence number or all',
    description:
      'In one step in the contact\'s hub: every entry visible to agents, not read and not expired, with `sequence_number` ≤ `up_to` ' +
      '(an empty body: all) becomes read at one `read_at`. Entries already read keep their first read time, so a repeated call marks 0. ' +
      'Agent sockets on the contact hear one `read_range` frame; each entry marked sends a `contact_event.read` webhook.',
    request: { params: ContactParam, body: { required: false, content: { 'application/json': { schema: MarkReadUpToBody } } } },
    responses: {
      200: { description: 'Marked', content: { 'application/json': { schema: MarkReadUpToResponse } } },
      ...problemResponses(400, 401, 413, 415, 422),
    },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const upTo = c.req.valid('json')?.up_to ?? null;
    const { stub, owner } = contactHub(c.env, c.get('tenantId'), contact_id);
    const outcome = await stub.markReadUpTo(owner, upTo);
    if (!outcome.ok) {
      throw validationFailed([{ path: 'up_to', message: `must be at most the contact's last sequence number, ${outcome.last_sequence_number}` }]);
    }
    return c.json({ contact_id, marked: outcome.marked, read_at: outcome.read_at, up_to: outcome.up_to }, 200);
  },
);

// ---------------------------------------------------------------- GDPR erase

contactEvents.openapi(
  createRoute({
    operationId: 'eraseContact',
    method: 'delete',
    path: '/contacts/{contact_id}',
    tags,
    summary: 'Erase a contact (GDPR): every store\'s data of it',
    description:
      'Removes the contact\'s personal data from the hub, from D1 (log, timeline and its full-text index, projections, snapshots; webhook deliveries are ' +
      'redacted and their attempts deleted) and from the R2 archives (rewritten without it). Open sockets of the contact are closed (4410); its ' +
      'deliveries are never sent again (redeliver answers 410). The sequence counter stays: the next entry gets `sequence_number` + 1. ' +
      'Analytics rollups (counts only) stay. Idempotent: erasing again answers zero counts.',
    request: { params: ContactParam },
    responses: { 200: { description: 'Erased, with counts', content: { 'application/json': { schema: EraseResponse } } }, ...problemResponses(401, 422) },
  }),
  async (c) => {
    const { contact_id } = c.req.valid('param');
    const { stub, owner } = contactHub(c.env, c.get('tenantId'), contact_id);
    const hub = await stub.erase(owner);
    // After the hub: its D1 delete has already removed the contact from every pending archive's rows,
    // so only complete archives can still hold it. A failure here leaves the request retryable.
    const archived_events = await eraseFromArchives(c.env, owner.tenantId, contact_id);
    const removed = {
      hub_events: hub.hub_events,
      hub_entries: hub.hub_entries,
      events: hub.events,
      contact_events: hub.contact_events,
      projections: hub.projections,
      snapshots: hub.snapshots,
      webhook_deliveries: hub.webhook_deliveries,
      delivery_attempts: hub.delivery_attempts,
      archived_events,
    };
    return c.json({ contact_id, removed, sequence_number: hub.sequence_number }, 200);
  },
);
