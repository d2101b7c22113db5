import { z } from '@hono/zod-openapi';
import { CATEGORIES, PRIORITIES, TIMELINE_SOURCES, TIMELINE_TYPE_PATTERN } from '../contact-event-types';
import { LIMITS, RECORD_BYTES, entryRecordBytes } from '../limits';
import { CursorParam, IsoDateTime, NextCursor, PageLimit, Payload, Uuid, intParam, jsonObject } from './common';
import { TimeParam } from './event-queries';
import type { EntryReceipt } from '../relay-message';

/** Entry types taken by the receipt webhooks (src/domain/webhook-mapping.ts receiptWebhookType). */
const RECEIPT_TYPES = ['read', 'delivered'] as const satisfies readonly EntryReceipt[];

export const NewContactEvent = z
  .strictObject({
    id: Uuid.optional(),
    event_type: z
      .string()
      .max(LIMITS.eventTypeLength, { message: `must be at most ${LIMITS.eventTypeLength} characters` })
      .regex(TIMELINE_TYPE_PATTERN, { message: 'must be lowercase [a-z0-9_] words (pipeline_stage_changed)' })
      // Their webhook types, contact_event.read and contact_event.delivered, are the receipts'.
      .refine((t) => !(RECEIPT_TYPES as readonly string[]).includes(t), { message: `is reserved (${RECEIPT_TYPES.join(', ')} name the receipt webhooks)` }),
    category: z.enum(CATEGORIES, { message: `must be one of ${CATEGORIES.join(', ')}` }),
    priority: z.enum(PRIORITIES, { message: `must be one of ${PRIORITIES.join(', ')}` }).default('normal'),
    source: z.enum(TIMELINE_SOURCES, { message: `must be one of ${TIMELINE_SOURCES.join(', ')}` }),
    session_id: Uuid.optional(),
    title: z.string().max(LIMITS.titleLength).optional(),
    description: z.string().max(LIMITS.descriptionLength).optional(),
    payload: Payload.optional(),
    metadata: jsonObject(LIMITS.metadataBytes, 'metadata').optional(),
    triggered_by: Uuid.optional(),
    integration_source: z.string().min(1).max(100).optional(),
    is_realtime: z.boolean().default(false),
    visible_to_client: z.boolean().default(false),
    visible_to_agent: z.boolean().default(true),
    expires_at: IsoDateTime.optional(),
    occurred_at: IsoDateTime.optional(),
  })
  .superRefine(
    (e, ctx) => {
      // Each field within its limit can still make a record too large to relay (see RECORD_BYTES).
      const bytes = entryRecordBytes(e);
      if (bytes > RECORD_BYTES) {
        ctx.addIssue({
          code: 'custom',
          message: `would be stored as ${bytes} bytes of JSON: a timeline entry (title, description, payload, metadata and every other field together) is at most ${RECORD_BYTES} bytes`,
        });
      }
    },
    // Only once every field is valid: a field over its own limit is named on its own, and a payload
    // nested too deep is never serialized.
    { when: (payload) => payload.issues.length === 0 },
  )
  .openapi('NewContactEvent', {
    example: {
      event_type: 'pipeline_stage_changed',
      category: 'pipeline',
      priority: 'normal',
      source: 'agent',
      title: 'Pipeline Stage Changed',
      description: 'Contact moved from Lead to Qualified',
      payload: { old_status: 'Lead', new_status: 'Qualified' },
      visible_to_client: false,
      visible_to_agent: true,
    },
  });
export type NewContactEvent = z.input<typeof NewContactEvent>;

export const ContactEventBatch = z
  .strictObject({
    events: z
      .array(NewContactEvent)
      .min(1, { message: 'must hold at least one event' })
      .max(LIMITS.batchItems, { message: `must hold at most ${LIMITS.batchItems} events` }),
  })
  .openapi('ContactEventBatch');

export const ContactEvent = z
  .object({
    id: Uuid,
    contact_id: Uuid,
    sequence_number: z.number().int(),
    session_id: z.string().nullable(),
    event_type: z.string(),
    category: z.enum(CATEGORIES),
    priority: z.enum(PRIORITIES),
    title: z.string().nullable(),
    description: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
    source: z.enum(TIMELINE_SOURCES),
    triggered_by: z.string().nullable(),
    integration_source: z.string().nullable(),
    is_realtime: z.boolean(),
    delivered: z.boolean(),
    delivered_at: z.string().nullable(),
    read: z.boolean(),
    read_at: z.string().nullable(),
    visible_to_client: z.boolean(),
    visible_to_agent: z.boolean(),
    expires_at: z.string().nullable(),
    occurred_at: z.string(),
    created_at: z.string(),
    origin_event_id: z.string().nullable().openapi({ description: 'The log event this entry was derived from, if any.' }),
  })
  .openapi('ContactEvent');
export type TimelineEntryRecord = z.infer<typeof ContactEvent>;

// ---------------------------------------------------------------- request and response shapes of the timeline API

export const TimelineAppendHeaders = z.object({
  'idempotency-key': z.string().min(1).max(LIMITS.idempotencyKeyLength).optional().openapi({
    description:
      'Replaying a request with the same key and body returns the original (200); with another body, 409. Keys are scoped to the contact; in a batch item i uses `<key>#<i>`.',
  }),
});

const BoolParam = z.enum(['true', 'false'], { message: 'must be true or false' });
export const boolParam = (v: 'true' | 'false' | undefined): boolean => v === 'true';

const Limit = PageLimit();
const Offset = intParam(0, 1_000_000, 0);
const TypeParam = z
  .string()
  .max(LIMITS.eventTypeLength, { message: `must be at most ${LIMITS.eventTypeLength} characters` })
  .regex(TIMELINE_TYPE_PATTERN, { message: 'must be lowercase [a-z0-9_] words' });
const VisibleTo = z.enum(['client', 'agent'], { message: 'must be client or agent' });
const CategoryParam = z.enum(CATEGORIES, { message: `must be one of ${CATEGORIES.join(', ')}` });

export const ContactParam = z.object({ contact_id: Uuid });
export const SessionParam = z.object({ session_id: Uuid });
export const EntryParam = z.object({ entry_id: Uuid });
export const EntryQuery = z.object({
  contact_id: Uuid.optional().openapi({
    description:
      'The owning contact, when the caller knows it: the request goes straight to that contact\'s hub (strongly consistent) instead of looking the owner up in D1, which lags appends by the relay (milliseconds).',
  }),
});

export const TimelineListQuery = z.object({
  limit: Limit,
  offset: Offset.openapi({ type: 'integer', description: 'Entries to skip; or pass `cursor` instead (not both).' }),
  cursor: CursorParam,
  visible_to: VisibleTo.optional(),
  category: CategoryParam.optional(),
  type: TypeParam.optional(),
  after_sequence: z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be an integer' })
    .min(0, { message: 'must be at least 0' })
    .optional(),
  include_expired: BoolParam.optional(),
});

export const SessionListQuery = z.object({
  limit: Limit,
  cursor: CursorParam,
  visible_to: VisibleTo.optional(),
  include_expired: BoolParam.optional(),
  contact_id: Uuid.optional().openapi({ description: 'Read from that contact\'s hub (strongly consistent) instead of D1.' }),
});

export const TenantListQuery = z.object({
  type: TypeParam.optional(),
  category: CategoryParam.optional(),
  from: TimeParam.optional().openapi({ description: 'occurred_at ≥ from: a date, an ISO 8601 date-time or epoch ms.' }),
  contact_id: Uuid.optional(),
  visible_to: VisibleTo.optional(),
  include_expired: BoolParam.optional(),
  limit: Limit,
  cursor: CursorParam,
});

export const SearchQuery = z.object({
  q: z.string().min(1, { message: 'is required' }).max(500, { message: 'must be at most 500 characters' }),
  contact_id: Uuid.optional(),
  category: CategoryParam.optional(),
  include_expired: BoolParam.optional(),
  limit: PageLimit(200, 50),
  cursor: CursorParam,
});

export const UndeliveredQuery = z.object({ contact_id: Uuid, limit: Limit, cursor: CursorParam });
export const ExportQuery = z.object({ format: z.enum(['csv'], { message: 'must be csv' }).default('csv'), include_expired: BoolParam.optional() });
export const CountQuery = z.object({ include_expired: BoolParam.optional() });

export const TimelinePageResponse = z
  .object({
    events: z.array(ContactEvent),
    total: z.number().int(),
    page: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    next_cursor: NextCursor,
  })
  .openapi('ContactTimelinePage');
export const ContactEventPage = z.object({ events: z.array(ContactEvent), next_cursor: NextCursor }).openapi('ContactEventPage');
export const ContactEventList = z.object({ events: z.array(ContactEvent) }).openapi('ContactEventList');
export const MarkReadResponse = z.object({ success: z.boolean(), id: Uuid, read_at: z.string() }).openapi('MarkReadResult');
export const MarkDeliveredResponse = z.object({ success: z.boolean(), id: Uuid, delivered_at: z.string() }).openapi('MarkDeliveredResult');
export const CountResponse = z.object({
  contact_id: Uuid,
  count: z.number().int(),
  unread: z.number().int().openapi({ description: 'Entries visible to agents that are not read and not expired (expired ones are never counted, whatever `include_expired`).' }),
});

export const MarkReadUpToBody = z
  .strictObject({
    up_to: z
      .number({ message: 'must be a sequence number (a non-negative integer)' })
      .int({ message: 'must be a sequence number (a non-negative integer)' })
      .nonnegative({ message: 'must be a sequence number (a non-negative integer)' })
      .optional()
      .openapi({ description: 'Marks the entries with `sequence_number` up to this one (inclusive); left out: all of them.' }),
  })
  .openapi('MarkReadUpTo');
export const MarkReadUpToResponse = z
  .object({
    contact_id: Uuid,
    marked: z.number().int().openapi({ description: 'Entries that became read now (0 on a replay: already-read entries keep their first read time).' }),
    read_at: z.string().nullable().openapi({ description: 'The read time of the entries marked now; null when none was.' }),
    up_to: z.number().int().openapi({ description: 'The last sequence number the call covered: `up_to` as given, else the contact\'s last sequence number.' }),
  })
  .openapi('MarkReadUpToResult');
export const EraseResponse = z
  .object({
    contact_id: Uuid,
    removed: z
      .object({
        hub_events: z.number().int().openapi({ description: 'Log events in the contact\'s hub.' }),
        hub_entries: z.number().int().openapi({ description: 'Timeline entries in the contact\'s hub.' }),
        events: z.number().int().openapi({ description: 'Log events in D1 (by contact_id or the contact-<id> stream).' }),
        contact_events: z.number().int().openapi({ description: 'Timeline rows in D1, with their full-text index entries.' }),
        projections: z.number().int().openapi({ description: 'Read-model rows of the contact (the contacts projection, every generation).' }),
        snapshots: z.number().int().openapi({ description: 'Snapshots of the contact-<id> stream.' }),
        webhook_deliveries: z.number().int().openapi({ description: 'Webhook deliveries redacted: payload removed, status erased, never sent again.' }),
        delivery_attempts: z.number().int().openapi({ description: 'Attempt records of those deliveries, deleted.' }),
        archived_events: z.number().int().openapi({ description: 'Events removed from R2 archives (the objects are rewritten and verified).' }),
      })
      .openapi({ description: 'What the erase removed, per store. Analytics rollups (counts only) stay.' }),
    sequence_number: z.number().int().openapi({
      description: "The contact's last sequence number, kept across the erase: its next entry gets this + 1, never a number used before.",
    }),
  })
  .openapi('ContactErased');
