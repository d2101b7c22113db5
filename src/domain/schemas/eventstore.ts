import { z } from '@hono/zod-openapi';
import { EVENT_PATTERN } from '../event-patterns';
import { EVENT_SOURCES } from '../event-types';
import { LIMITS } from '../limits';
import { STREAM_ID_PATTERN } from '../streams';
import { AfterParam, CursorParam, NextCursor, PageLimit, Payload, Uuid, intParam, jsonObject, IsoDateTime } from './common';
import { TimeParam } from './event-queries';
import { Event, EventMetadata, EventType } from './events';

export const StreamIdParam = z.object({
  stream_id: z
    .string()
    .regex(STREAM_ID_PATTERN, { message: 'must be <aggregate_type>-<aggregate_id>: a lowercase type, a dash, then [A-Za-z0-9_.:-] (a UUID for contact-)' })
    .openapi({ param: { name: 'stream_id', in: 'path' }, example: 'campaign-2024-spring' }),
});

export const ExpectedVersion = z
  .union([z.number().int().min(0), z.enum(['any', 'no_stream', 'stream_exists'])], {
    message: 'must be a version number (≥ 0), "any", "no_stream" or "stream_exists"',
  })
  .openapi({ description: 'Optimistic concurrency: the stream version the append expects (KurrentDB modes).', example: 3 });

export const StreamEventInput = z.strictObject({
  id: Uuid.optional().openapi({ description: 'Client-chosen id: retrying with the same ids returns the original result.' }),
  event_type: EventType,
  payload: Payload.optional().openapi({ description: 'The event body.' }),
  metadata: EventMetadata.optional(),
  schema_version: z.number().int().min(1).max(1000).optional().openapi({ description: 'The schema version of `payload` (default 1).' }),
  source: z.enum(EVENT_SOURCES, { message: `must be one of ${EVENT_SOURCES.join(', ')}` }).optional(),
  timestamp: IsoDateTime.optional(),
});
export type StreamEventInput = z.infer<typeof StreamEventInput>;

export const StreamAppend = z
  .strictObject({
    expected_version: ExpectedVersion.optional(),
    events: z
      .array(StreamEventInput)
      .min(1, { message: 'must hold at least one event' })
      .max(LIMITS.batchItems, { message: `must hold at most ${LIMITS.batchItems} events` }),
  })
  .openapi('StreamAppend', {
    example: { expected_version: 0, events: [{ event_type: 'campaign.created', payload: { name: 'Spring' } }] },
  });

export const AppendedEvent = z.object({
  id: Uuid,
  event_type: z.string(),
  version: z.number().int(),
  position: z.number().int().nullable().openapi({ description: 'Global log position; null until the event reaches the query store (use ?wait=position).' }),
});

export const StreamAppendResult = z
  .object({
    stream_id: z.string(),
    version: z.number().int().openapi({ description: 'The stream version after the append: the next expected_version.' }),
    created: z.boolean().openapi({ description: 'False when this was a replay of an earlier append (nothing written).' }),
    events: z.array(AppendedEvent),
  })
  .openapi('StreamAppendResult');

/** An event as the event store serves it: upcast to the latest schema version, with its global position. */
export const StoredEvent = z.object({
  // Spread, not Event.extend(): that is documented as allOf[Event, …], where Event's integer
  // `position` would still forbid the null this one allows.
  ...Event.shape,
  position: z.number().int().nullable().openapi({ description: 'Global log position; null until the event reaches the query store.' }),
  stored_schema_version: z.number().int().openapi({ description: 'The schema version the event was written with (never rewritten).' }),
}).openapi('StoredEvent');

/** An event of a stream read: its stream `version` too (on contact streams the same number as `sequence_number`). */
export const StreamEvent = StoredEvent.extend({
  version: z.number().int().openapi({ description: 'The version of the stream this event made.' }),
}).openapi('StreamEvent');

export const StreamPage = z
  .object({
    stream_id: z.string(),
    version: z.number().int(),
    direction: z.enum(['forward', 'backward']),
    events: z.array(StreamEvent),
    next_after: z.number().int().nullable().openapi({ description: 'Pass as `after` for the next page; null at the end of the stream.' }),
  })
  .openapi('StreamPage');

export const StreamReadQuery = z.object({
  after: AfterParam.optional().openapi({
    type: 'integer',
    description: 'Exclusive, in the reading direction: forward reads versions above it (default 0), backward below it (default: from the last version).',
  }),
  limit: PageLimit(),
  direction: z.enum(['forward', 'backward'], { message: 'must be forward or backward' }).default('forward'),
});

export const StreamMetadata = z
  .object({
    stream_id: z.string(),
    aggregate_type: z.string(),
    aggregate_id: z.string(),
    version: z.number().int(),
    event_count: z.number().int().openapi({ description: 'Log events in the stream. For contact streams this can be below `version`: timeline entries created directly take sequence numbers too.' }),
    first_event_at: z.string().nullable(),
    last_event_at: z.string().nullable(),
  })
  .openapi('StreamMetadata');

export const SnapshotInput = z.strictObject({
  version: z.number().int().min(1),
  state: jsonObject(LIMITS.payloadBytes * 4, 'state'),
});

export const Snapshot = z
  .object({ stream_id: z.string(), version: z.number().int(), state: z.record(z.string(), z.unknown()), source: z.string(), created_at: z.string() })
  .openapi('Snapshot');

// ---------------------------------------------------------------- the global log

export const EventPatternList = z
  .string()
  .max(2000)
  .transform((s, ctx) => {
    const list = s.split(',').map((t) => t.trim()).filter((t) => t !== '');
    const bad = list.filter((t) => !EVENT_PATTERN.test(t));
    if (bad.length) ctx.addIssue({ code: 'custom', message: `has invalid event types: ${bad.join(', ')} (use a.b or a.*)` });
    if (list.length > 50) ctx.addIssue({ code: 'custom', message: 'must list at most 50 types' });
    return list;
  })
  .openapi({ type: 'string', description: 'Comma-separated event types; `contact.*` matches a prefix.', example: 'contact.*,tag.added' });

export const LOG_PAGE_MAX = 10_000;

export const LogQuery = z.object({
  after: z.coerce.number({ message: 'must be a number' }).int({ message: 'must be an integer' }).min(0, { message: 'must be at least 0' }).default(0),
  limit: intParam(1, LOG_PAGE_MAX, 1000),
  types: EventPatternList.optional(),
  correlation_id: z.string().min(1).max(255).optional(),
});

export const LogPage = z
  .object({
    events: z.array(StoredEvent),
    next_after: z.number().int().openapi({ description: 'The position to pass as `after` for the next page (the page\'s last position, or further past events a filter skipped; `after` when nothing is new).' }),
  })
  .openapi('LogPage');

export const LogStreamQuery = z.object({
  after: z.coerce.number({ message: 'must be a number' }).int({ message: 'must be an integer' }).min(0, { message: 'must be at least 0' }).optional(),
  types: EventPatternList.optional(),
  max_seconds: intParam(1, 300, 60).openapi({ description: 'The connection closes after this long; the client reconnects with Last-Event-ID.' }),
  max_events: intParam(1, 1_000_000, 1_000_000).openapi({ description: 'Close after sending this many events (tests, bounded consumers).' }),
});

// ---------------------------------------------------------------- subscriptions

const SubscriptionName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, { message: 'must be 1-100 of [a-z0-9_.-], starting with a letter or digit' });

export const SubscriptionNameParam = z.object({
  name: z.string().min(1).max(120).openapi({ param: { name: 'name', in: 'path' }, example: 'billing-sync' }),
});

export const NewSubscription = z.strictObject({
  name: SubscriptionName,
  event_types: z
    .array(z.string().regex(EVENT_PATTERN, { message: 'must be an event type (a.b) or a prefix pattern (a.*)' }))
    .max(50)
    .default([]),
  start: z
    .union([z.enum(['beginning', 'end']), z.number().int().min(0)], { message: 'must be "beginning", "end" or a position' })
    .default('beginning')
    .openapi({ description: 'Where the consumer starts: the first event, after the current last one, or after a position.' }),
});

export const Subscription = z
  .object({
    name: z.string(),
    kind: z.enum(['external', 'projection']),
    event_types: z.array(z.string()),
    checkpoint: z.number().int().openapi({ description: 'The last position processed.' }),
    status: z.enum(['active', 'paused']),
    lag: z.number().int().openapi({ description: 'Matching events after the checkpoint (counted up to 100,000).' }),
    error_count: z.number().int(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Subscription');

export const PositionBody = z.strictObject({ position: z.number().int().min(0, { message: 'must be at least 0' }) });

export const SubscriptionBatchQuery = z.object({
  after: AfterParam.optional().openapi({ type: 'integer', description: 'Exclusive position to read after (default: the checkpoint), to read ahead before committing.' }),
  limit: intParam(1, LOG_PAGE_MAX, 100),
});

export const SubscriptionBatch = z
  .object({
    subscription: z.string(),
    checkpoint: z.number().int(),
    events: z.array(StoredEvent),
    next_after: z.number().int().openapi({ description: 'Commit this (POST …/checkpoint) once the batch is processed; pass it as `after` to read ahead.' }),
  })
  .openapi('SubscriptionBatch');

// ---------------------------------------------------------------- projections, contacts, replay

export const ProjectionInfo = z
  .object({
    name: z.string(),
    description: z.string(),
    event_types: z.array(z.string()),
    status: z.enum(['live', 'rebuilding', 'paused']),
    generation: z.number().int(),
    checkpoint: z.number().int().openapi({ description: 'Every event up to this position is folded (the head, when no event of the projection’s types waits).' }),
    lag: z.number().int().openapi({ description: 'Events of the projection’s types after the checkpoint (counted up to 100,000).' }),
    rebuild: z
      .object({ generation: z.number().int(), checkpoint: z.number().int(), started_at: z.string() })
      .nullable(),
    rebuilt_at: z.string().nullable(),
  })
  .openapi('Projection');

export const ContactView = z
  .object({
    contact_id: z.string(),
    name: z.string().nullable(),
    first_name: z.string().nullable(),
    last_name: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    tags: z.array(z.string()),
    custom_fields: z.record(z.string(), z.unknown()),
    pipeline_status: z.string().nullable(),
    status: z.string().nullable(),
    language: z.string().nullable(),
    timezone: z.string().nullable(),
    external_id: z.string().nullable(),
    source_channel: z.string().nullable(),
    last_interaction_at: z.string().nullable(),
    deleted: z.boolean(),
    version: z.number().int().nullable(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
    event_count: z.number().int(),
    position: z.number().int().openapi({ description: 'The global position of the last event folded in.' }),
  })
  .openapi('ContactView');

export const ContactListQuery = z.object({
  tag: z.string().min(1).max(200).optional(),
  status: z.string().min(1).max(200).optional(),
  include_deleted: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false'),
  limit: PageLimit(),
  cursor: CursorParam,
});

export const ContactPage = z.object({ contacts: z.array(ContactView), next_cursor: NextCursor }).openapi('ContactPage');

export const ReplayTarget = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('subscription'), name: z.string().min(1).max(120) }),
    z.strictObject({ type: z.literal('webhooks') }),
    z.strictObject({ type: z.literal('projection'), name: z.string().min(1).max(100) }),
  ],
  { message: 'must be {type: "subscription", name}, {type: "webhooks"} or {type: "projection", name}' },
);

export const ReplayRequest = z
  .strictObject({
    type: EventType.optional().openapi({ description: 'Only events of this type (all types when omitted).' }),
    from: TimeParam.optional().openapi({ description: 'Inclusive; a date, an ISO 8601 date-time or epoch milliseconds (as a string).' }),
    to: TimeParam.optional().openapi({ description: 'Inclusive; a bare date means its last millisecond.' }),
    target: ReplayTarget,
  })
  .openapi('ReplayRequest', { example: { type: 'contact.created', from: '2025-10-01T00:00:00Z', target: { type: 'webhooks' } } });

export const ReplayResult = z
  .object({
    target: z.string(),
    matched: z.number().int(),
    replayed: z.number().int(),
    first_position: z.number().int().nullable(),
    last_position: z.number().int().nullable(),
    has_more: z.boolean().openapi({ description: 'True when more events matched than one replay sends (10,000); replay again from last_position.' }),
    detail: z.string(),
  })
  .openapi('ReplayResult');

