import { z } from '@hono/zod-openapi';
import { EVENT_SOURCES } from '../event-types';
import { parseTimeParam } from '../time';
import { CursorParam, NextCursor, PageLimit, Uuid } from './common';
import { Event, EventType } from './events';

const TIME_HELP = 'a date (2025-10-01), an ISO 8601 date-time (2025-10-01T12:00:00Z) or epoch milliseconds';

/** A time bound in a query string; a bare date as an upper bound means the end of that day. */
export const TimeParam = z
  .string()
  .refine((v) => parseTimeParam(v) !== null, { message: `must be ${TIME_HELP}` })
  .openapi({ description: `Inclusive; ${TIME_HELP}.`, example: '2025-10-01' });

/** The filters shared by the list and the export. */
const filters = {
  type: EventType.optional().openapi({ description: 'Exact event type.' }),
  source: z.enum(EVENT_SOURCES, { message: `must be one of ${EVENT_SOURCES.join(', ')}` }).optional(),
  contact_id: Uuid.optional(),
  session_id: Uuid.optional(),
  message_id: Uuid.optional(),
  correlation_id: z.string().min(1).max(255).optional(),
  from: TimeParam.optional(),
  to: TimeParam.optional().openapi({ description: `Inclusive; ${TIME_HELP}. A bare date means its last millisecond.` }),
};

export const ListEventsQuery = z.object({
  ...filters,
  limit: PageLimit(),
  cursor: CursorParam,
  order: z.enum(['desc', 'asc'], { message: 'must be desc or asc' }).default('desc').openapi({ description: 'By event timestamp: newest first (desc, default) or oldest first (asc).' }),
});

export const ExportEventsQuery = z.object({
  ...filters,
  format: z.enum(['ndjson', 'csv'], { message: 'must be ndjson or csv' }).default('ndjson'),
});

export const CountEventsQuery = z.object({ contact_id: Uuid.optional(), session_id: Uuid.optional() });

export const STATS_GROUPS = ['type', 'source', 'hour'] as const;
export const StatsQuery = z.object({
  from: TimeParam.optional().openapi({ description: `Inclusive; ${TIME_HELP}. Default: 24 hours before to.` }),
  to: TimeParam.optional().openapi({ description: `Inclusive; ${TIME_HELP}. Default: now.` }),
  group_by: z.enum(STATS_GROUPS, { message: `must be one of ${STATS_GROUPS.join(', ')}` }).default('type'),
});

const TimeRange = z.object({ from: z.string().nullable(), to: z.string().nullable() }).openapi('TimeRange');

export const EventPage = z
  .object({
    events: z.array(Event),
    total: z.number().int().openapi({ description: 'Events matching the filters (all pages).' }),
    next_cursor: NextCursor,
    time_range: TimeRange.optional().openapi({ description: 'The resolved from/to, when either was given.' }),
  })
  .openapi('EventPage');

export const EventCount = z
  .object({ count: z.number().int(), contact_id: z.string().optional(), session_id: z.string().optional() })
  .openapi('EventCount');

export const EventStatsResponse = z
  .object({
    from: z.string(),
    to: z.string(),
    group_by: z.enum(STATS_GROUPS),
    total: z.number().int(),
    groups: z.array(z.object({ key: z.string(), count: z.number().int() })),
    computed_from: z.enum(['rollups', 'log']).openapi({
      description:
        'rollups: the analytics rollups, used when both bounds fall on whole hours and no event in the range was appended in the last minute (fast for long ranges; they keep counting archived events); log: a COUNT over the stored events.',
    }),
  })
  .openapi('EventStats');

const PayloadSchemaDoc = z.record(z.string(), z.unknown()).openapi({
  description: 'A JSON Schema (draft 2020-12) of what the payload of this type carries. Descriptive, not enforced: every field is optional and others are allowed.',
});

export const EventTypeList = z
  .object({
    pattern: z.string(),
    max_length: z.number().int(),
    sources: z.array(z.enum(EVENT_SOURCES)),
    event_types: z.array(
      z.object({
        type: z.string(),
        aggregate: z.string(),
        description: z.string(),
        webhook_type: z.string().nullable().openapi({ description: 'The type webhook deliveries carry it under; null: not delivered (internal).' }),
        payload_schema: PayloadSchemaDoc,
      }),
    ),
    timeline_pattern: z.string().openapi({ description: 'The rule every timeline entry type follows.' }),
    timeline_types: z
      .array(z.object({ type: z.string(), category: z.string(), description: z.string(), webhook_type: z.string(), payload_schema: PayloadSchemaDoc }))
      .openapi({ description: 'The predefined timeline entry types.' }),
  })
  .openapi('EventTypeList');
