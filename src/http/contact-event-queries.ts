import { createRoute } from '@hono/zod-openapi';
import { contactHub } from '../hub';
import { timelineEntryFromRow, queryTimelineEntries, searchTimelineEntries } from '../db/contact-events';
import { problemResponses } from '../domain/schemas/common';
import {
  ContactEventPage,
  SearchQuery,
  SessionListQuery,
  SessionParam,
  TenantListQuery,
  boolParam,
  type TimelineEntryRecord,
} from '../domain/schemas/contact-events';
import { parseTimeParam } from '../domain/time';
import { ftsQuery } from '../domain/timeline';
import { router } from './context';
import { offsetCursor, offsetOf } from './paging';
import { validationFailed } from './problem';

/**
 * Timeline entries across contacts: tenant-wide listing, a session's entries and full-text search,
 * read from D1 (eventually consistent: the hubs relay to D1 within milliseconds). Mounted before the
 * per-entry routes of contact-events.ts, so that `/contact-events/search` is not taken for an entry id.
 */
export const contactEventQueries = router();

const tags = ['Contact timeline'];

// ---------------------------------------------------------------- cross-contact reads (D1)

const rows = (list: Parameters<typeof timelineEntryFromRow>[0][]): TimelineEntryRecord[] => list.map(timelineEntryFromRow);

contactEventQueries.openapi(
  createRoute({
    operationId: 'searchTimelineEntries',
    method: 'get',
    path: '/contact-events/search',
    tags,
    summary: 'Full-text search over titles and descriptions (tenant-wide, from D1)',
    description: 'Every word of `q` must match, as a prefix ("pay" finds "payment"); best matches first. Expired entries are left out unless asked for.',
    request: { query: SearchQuery },
    responses: { 200: { description: 'Matches', content: { 'application/json': { schema: ContactEventPage } } }, ...problemResponses(401, 422) },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const match = ftsQuery(q.q);
    if (!match) throw validationFailed([{ path: 'query.q', message: 'must contain at least one letter or digit' }]);
    // Best match first has no stable key to continue from: the cursor holds the next offset.
    const offset = offsetOf(q.cursor, 'contact-events-search');
    const found = await searchTimelineEntries(c.var.db, c.get('tenantId'), match, {
      contactId: q.contact_id,
      category: q.category,
      includeExpired: boolParam(q.include_expired),
      limit: q.limit + 1,
      offset,
    });
    return c.json({ events: rows(found.slice(0, q.limit)), next_cursor: found.length > q.limit ? offsetCursor('contact-events-search', offset + q.limit) : null }, 200);
  },
);

contactEventQueries.openapi(
  createRoute({
    operationId: 'listTenantContactEvents',
    method: 'get',
    path: '/contact-events',
    tags,
    summary: 'Timeline entries across contacts, newest first (from D1)',
    description: 'Eventually consistent with appends (the relay lag, milliseconds). Expired entries are left out unless asked for.',
    request: { query: TenantListQuery },
    responses: { 200: { description: 'A page', content: { 'application/json': { schema: ContactEventPage } } }, ...problemResponses(401, 422) },
  }),
  async (c) => {
    const q = c.req.valid('query');
    // occurred_at orders entries of many contacts with no unique key among them: the cursor holds the next offset.
    const offset = offsetOf(q.cursor, 'contact-events');
    const { rows: found } = await queryTimelineEntries(c.var.db, c.get('tenantId'), {
      type: q.type,
      category: q.category,
      since: q.from === undefined ? undefined : parseTimeParam(q.from)!,
      contactId: q.contact_id,
      visibleTo: q.visible_to,
      includeExpired: boolParam(q.include_expired),
      limit: q.limit + 1,
      offset,
    });
    return c.json({ events: rows(found.slice(0, q.limit)), next_cursor: found.length > q.limit ? offsetCursor('contact-events', offset + q.limit) : null }, 200);
  },
);

contactEventQueries.openapi(
  createRoute({
    operationId: 'listSessionEvents',
    method: 'get',
    path: '/sessions/{session_id}/events',
    tags,
    summary: 'A session\'s timeline entries, oldest first',
    description: 'From D1 (eventually consistent), or from the contact\'s hub when `contact_id` is given (strongly consistent).',
    request: { params: SessionParam, query: SessionListQuery },
    responses: { 200: { description: 'A page', content: { 'application/json': { schema: ContactEventPage } } }, ...problemResponses(401, 422) },
  }),
  async (c) => {
    const { session_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const tenantId = c.get('tenantId');
    const includeExpired = boolParam(q.include_expired);
    // One cursor for both sources (the next offset), so a caller may add or drop contact_id between pages.
    const offset = offsetOf(q.cursor, 'session-events');
    const nextCursor = (more: boolean) => (more ? offsetCursor('session-events', offset + q.limit) : null);
    if (q.contact_id) {
      const { stub, owner } = contactHub(c.env, tenantId, q.contact_id);
      const page = await stub.listTimeline(owner, {
        limit: q.limit,
        offset,
        sessionId: session_id,
        visibleTo: q.visible_to,
        includeExpired,
        ascending: true,
      });
      return c.json({ events: page.events, next_cursor: nextCursor(offset + page.events.length < page.total) }, 200);
    }
    const { rows: found } = await queryTimelineEntries(c.var.db, tenantId, {
      sessionId: session_id,
      visibleTo: q.visible_to,
      includeExpired,
      limit: q.limit + 1,
      offset,
      ascending: true,
    });
    return c.json({ events: rows(found.slice(0, q.limit)), next_cursor: nextCursor(found.length > q.limit) }, 200);
  },
);
