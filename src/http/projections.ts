import { tenantDb } from '../db/shards';
import { createRoute, z } from '@hono/zod-openapi';
import { getProjectionState, getRow, listContactRows, startRebuild, type ProjectionRow } from '../db/projections';
import { PROJECTIONS, projectionByName } from '../domain/projections';
import type { ContactState } from '../domain/projections/contacts';
import { CursorParam, NextCursor, PageLimit, Uuid, problemResponses } from '../domain/schemas/common';
import { ContactListQuery, ContactPage, ContactView, ProjectionInfo } from '../domain/schemas/eventstore';
import { projectionInfo } from '../eventstore/projection-info';
import { kickProjections } from '../projections/runner';
import { router } from './context';
import { cursorKey, cutPage, pageInMemory } from './paging';
import { conflict, notFound } from './problem';

export const projections = router();

projections.openapi(
  createRoute({
    operationId: 'listProjections',
    method: 'get',
    path: '/projections',
    tags: ['Projections'],
    summary: 'Read models maintained from the log: status, checkpoint, lag',
    request: { query: z.object({ limit: PageLimit(), cursor: CursorParam }) },
    responses: {
      200: {
        description: 'Projections, by name',
        content: { 'application/json': { schema: z.object({ projections: z.array(ProjectionInfo), next_cursor: NextCursor }) } },
      },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const { limit, cursor } = c.req.valid('query');
    const { page, next_cursor } = pageInMemory([...PROJECTIONS], { limit, cursor, list: 'projections', key: (p) => [p.name], shape: ['string'] });
    return c.json({ projections: await Promise.all(page.map((p) => projectionInfo(c.env, tenantId, p))), next_cursor }, 200);
  },
);

projections.openapi(
  createRoute({
    operationId: 'rebuildProjection',
    method: 'post',
    path: '/projections/{name}/rebuild',
    tags: ['Projections'],
    summary: 'Rebuild a projection from position 0 in the background',
    description:
      "The tenant's projection runner folds the whole log, in batches of 5,000 with a checkpoint after each, into a fresh generation while reads keep " +
      'using the current one; on reaching the head it switches reads over in one transaction and deletes the old generation.',
    request: { params: z.object({ name: z.string().min(1).max(100).openapi({ param: { name: 'name', in: 'path' }, example: 'contacts' }) }) },
    responses: {
      202: { description: 'Rebuild started', content: { 'application/json': { schema: ProjectionInfo } } },
      ...problemResponses(401, 404, 409, 422),
    },
  }),
  async (c) => {
    const { name } = c.req.valid('param');
    const p = projectionByName(name);
    if (!p) throw notFound(`The projection ${name}`);
    const tenantId = c.get('tenantId');
    await projectionInfo(c.env, tenantId, p);
    if (!(await startRebuild(c.var.db, tenantId, p.name, Date.now()))) throw conflict(`The projection ${name} is already rebuilding.`);
    await kickProjections(c.env, tenantId, 0);
    return c.json(await projectionInfo(c.env, tenantId, p), 202);
  },
);

function contactView(row: ProjectionRow): z.infer<typeof ContactView> {
  return { ...(JSON.parse(row.state) as ContactState), event_count: row.event_count, position: row.last_position };
}

async function liveGeneration(env: Env, tenantId: string): Promise<number> {
  const state = await getProjectionState(await tenantDb(env, tenantId), tenantId, 'contacts');
  return state?.generation ?? 1;
}

projections.openapi(
  createRoute({
    operationId: 'getContact',
    method: 'get',
    path: '/contacts/{contact_id}',
    tags: ['Projections'],
    summary: "A contact's current state (the contacts read model)",
    description:
      'Folded from the contact\'s contact.*, tag.* and custom_field.* events by the `contacts` projection; eventually consistent with appends ' +
      '(`position` = the last event folded in; compare with GET /projections for lag).',
    request: { params: z.object({ contact_id: Uuid }) },
    responses: {
      200: { description: 'The contact', content: { 'application/json': { schema: ContactView } } },
      ...problemResponses(401, 404, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const { contact_id: id } = c.req.valid('param');
    const row = await getRow(c.var.db, tenantId, 'contacts', await liveGeneration(c.env, tenantId), id);
    if (!row) throw notFound(`The contact ${id}`);
    return c.json(contactView(row), 200);
  },
);

projections.openapi(
  createRoute({
    operationId: 'listContacts',
    method: 'get',
    path: '/contacts',
    tags: ['Projections'],
    summary: 'Contacts from the read model, by tag and pipeline status',
    request: { query: ContactListQuery },
    responses: {
      200: {
        description: 'A page of contacts, ordered by id',
        content: { 'application/json': { schema: ContactPage } },
      },
      ...problemResponses(401, 422),
    },
  }),
  async (c) => {
    const tenantId = c.get('tenantId');
    const q = c.req.valid('query');
    const rows = await listContactRows(c.var.db, tenantId, await liveGeneration(c.env, tenantId), {
      tag: q.tag,
      status: q.status,
      includeDeleted: q.include_deleted === 'true',
      limit: q.limit + 1,
      after: cursorKey(q.cursor, 'contacts', ['string'])?.[0] as string | undefined,
    });
    const { page, next_cursor } = cutPage(rows, q.limit, 'contacts', (r) => [r.key]);
    return c.json({ contacts: page.map(contactView), next_cursor }, 200);
  },
);
