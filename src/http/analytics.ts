import { createRoute } from '@hono/zod-openapi';
import { queryRollups } from '../db/analytics';
import { ceilHour, floorHour, type RollupKind } from '../domain/analytics';
import { DAY_MS } from '../domain/time';
import { AnalyticsQuery, AnalyticsResult } from '../domain/schemas/analytics';
import { problemResponses } from '../domain/schemas/common';
import { iso, parseTimeParam } from '../domain/time';
import { router } from './context';
import { validationFailed, type FieldError } from './problem';

export const analytics = router();

const MAX_DAYS = { hour: 400, other: 3700 };

analytics.openapi(
  createRoute({
    operationId: 'getEventAnalytics',
    method: 'get',
    path: '/analytics/events',
    tags: ['Analytics'],
    summary: 'Event counts from the hourly/daily rollups',
    description:
      'Counts of log events (`kind=event`) or timeline entries (`kind=contact_event`) per type, source, category, hour or day, over hour-aligned ranges (`from` is rounded down and `to` up to the hour; the response echoes the range used). Answered from the rollups that the `analytics` queue consumer keeps, so it stays fast over a year and keeps counting events that retention has archived; the current hour trails appends by the relay and queue lag.',
    request: { query: AnalyticsQuery },
    responses: {
      200: { description: 'Counts', content: { 'application/json': { schema: AnalyticsResult } } },
      ...problemResponses(401, 422, 429),
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    const errors: FieldError[] = [];
    const now = Date.now();
    // A bare date as `to` includes that whole day (parseTimeParam gives its last millisecond).
    const toRaw = q.to === undefined ? now : parseTimeParam(q.to, true);
    if (toRaw === null) errors.push({ path: 'query.to', message: 'must be a date, an ISO 8601 date-time or epoch milliseconds' });
    const bareDate = q.to !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(q.to);
    const to = ceilHour(toRaw === null ? now : bareDate ? toRaw + 1 : toRaw);
    const fromRaw = q.from === undefined ? to - 7 * DAY_MS : parseTimeParam(q.from);
    if (fromRaw === null) errors.push({ path: 'query.from', message: 'must be a date, an ISO 8601 date-time or epoch milliseconds' });
    const from = floorHour(fromRaw ?? 0);
    const kind: RollupKind = q.kind ?? (q.group_by === 'category' || q.category !== undefined ? 'contact_event' : 'event');
    if (kind === 'event' && q.group_by === 'category') errors.push({ path: 'query.group_by', message: 'category applies to kind=contact_event only' });
    if (kind === 'event' && q.category !== undefined) errors.push({ path: 'query.category', message: 'applies to kind=contact_event only' });
    if (errors.length === 0 && from >= to) errors.push({ path: 'query.from', message: 'must be before to' });
    const maxDays = q.group_by === 'hour' ? MAX_DAYS.hour : MAX_DAYS.other;
    if (errors.length === 0 && to - from > maxDays * DAY_MS) errors.push({ path: 'query.from', message: `the range must be at most ${maxDays} days for group_by=${q.group_by}` });
    if (errors.length) throw validationFailed(errors);
    const rows = await queryRollups(c.var.db, c.get('tenantId'), { from, to }, q.group_by, { kind, type: q.type, source: q.source, category: q.category });
    const timeKey = q.group_by === 'hour' || q.group_by === 'day';
    return c.json(
      {
        from: iso(from),
        to: iso(to),
        kind,
        group_by: q.group_by,
        total: rows.reduce((s, r) => s + r.count, 0),
        groups: rows.map((r) => ({ key: timeKey ? iso(Number(r.key)) : String(r.key), count: r.count })),
      },
      200,
    );
  },
);
