import { createRoute, z } from '@hono/zod-openapi';
import { getArchive, listArchives } from '../db/archives';
import { ARCHIVE_ID_PATTERN } from '../domain/archive';
import { Archive } from '../domain/schemas/analytics';
import { CursorParam, NextCursor, PageLimit, problemResponses } from '../domain/schemas/common';
import { iso, parseTimeParam } from '../domain/time';
import { floorDay } from '../domain/analytics';
import type { ArchiveRow } from '../db/archives';
import { router } from './context';
import { cursorKey, cutPage } from './paging';
import { notFound, validationFailed } from './problem';

export const archives = router();

const DateParam = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date (YYYY-MM-DD)' });

const toApi = (a: ArchiveRow) => ({
  key: a.id,
  day: iso(a.day).slice(0, 10),
  count: a.count,
  bytes: a.bytes,
  sha256: a.sha256,
  first_position: a.first_position,
  last_position: a.last_position,
  created_at: iso(a.created_at),
});

archives.openapi(
  createRoute({
    operationId: 'listArchives',
    method: 'get',
    path: '/archives',
    tags: ['Retention'],
    summary: 'Archived log events: one gzip NDJSON object per day (more for very large days)',
    request: {
      query: z.object({
        from: DateParam.optional(),
        to: DateParam.optional().openapi({ description: 'Inclusive.' }),
        limit: PageLimit(1000, 100),
        cursor: CursorParam,
      }),
    },
    responses: {
      200: {
        description: 'Archives, oldest first',
        content: { 'application/json': { schema: z.object({ archives: z.array(Archive), next_cursor: NextCursor }) } },
      },
      ...problemResponses(401, 422, 429),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const fromDay = q.from === undefined ? undefined : parseTimeParam(q.from);
    const toDay = q.to === undefined ? undefined : parseTimeParam(q.to);
    if (fromDay != null && toDay != null && fromDay > toDay) throw validationFailed([{ path: 'query.from', message: 'must not be after to' }]);
    const rows = await listArchives(c.var.db, c.get('tenantId'), {
      fromDay: fromDay ?? undefined,
      toDay: toDay == null ? undefined : floorDay(toDay),
      limit: q.limit + 1,
      after: cursorKey(q.cursor, 'archives', ['string'])?.[0] as string | undefined,
    });
    const { page, next_cursor } = cutPage(rows, q.limit, 'archives', (a) => [a.id]);
    return c.json({ archives: page.map(toApi), next_cursor }, 200);
  },
);

archives.openapi(
  createRoute({
    operationId: 'getArchive',
    method: 'get',
    path: '/archives/{key}',
    tags: ['Retention'],
    summary: 'Stream one archive (application/gzip; gunzip for NDJSON, one event per line)',
    request: { params: z.object({ key: z.string().regex(ARCHIVE_ID_PATTERN, { message: 'must be an archive key as listed by GET /archives' }) }) },
    responses: {
      200: { description: 'The gzip object', content: { 'application/gzip': { schema: z.string().openapi({ format: 'binary' }) } } },
      ...problemResponses(401, 404, 422, 429),
    },
  }),
  async (c) => {
    const { key } = c.req.valid('param');
    // The manifest lookup is the tenant check: another tenant's key is simply not found.
    const a = await getArchive(c.var.db, c.get('tenantId'), key);
    if (!a) throw notFound('The archive');
    const object = await c.env.ARCHIVE.get(a.key);
    if (!object) throw notFound('The archive object');
    return new Response(object.body, {
      status: 200,
      headers: {
        'content-type': 'application/gzip',
        'content-length': String(object.size),
        'content-disposition': `attachment; filename="${a.id}.ndjson.gz"`,
        'x-archive-count': String(a.count),
        'x-archive-sha256': a.sha256,
      },
    });
  },
);
