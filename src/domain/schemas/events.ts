import { z } from '@hono/zod-openapi';
import { EVENT_SOURCES, isValidEventType } from '../event-types';
import { LIMITS } from '../limits';
import { IsoDateTime, Payload, Uuid, jsonObject } from './common';

export const EventType = z
  .string({ message: 'must be a string' })
  .refine(isValidEventType, {
    message: `must be lowercase [a-z0-9_] segments joined by dots (aggregate.action), at least two, at most ${LIMITS.eventTypeLength} characters`,
  })
  .openapi({ example: 'message.sent' });

export const EventMetadata = z
  .strictObject({
    correlation_id: z.string().min(1).max(255).optional(),
    causation_id: z.string().min(1).max(255).optional(),
    user_id: z.string().min(1).max(255).optional(),
    ip_address: z.union([z.ipv4().openapi({ format: 'ipv4' }), z.ipv6().openapi({ format: 'ipv6' })], { message: 'must be an IPv4 or IPv6 address' }).optional(),
    user_agent: z.string().max(1024).optional(),
    custom: jsonObject(LIMITS.metadataBytes, 'metadata.custom').optional(),
  })
  .openapi('EventMetadata', { description: 'Tracing and audit context: who or what caused the event, and from where.' });
export type EventMetadata = z.infer<typeof EventMetadata>;

export const NewEvent = z
  .strictObject({
    id: Uuid.optional().openapi({ description: 'Client-chosen id; a retry with the same id and body returns the original.' }),
    event_type: EventType,
    source: z.enum(EVENT_SOURCES, { message: `must be one of ${EVENT_SOURCES.join(', ')}` }),
    contact_id: Uuid.optional(),
    session_id: Uuid.optional(),
    message_id: Uuid.optional(),
    payload: Payload.optional(),
    timestamp: IsoDateTime.optional().openapi({ description: 'When it happened; defaults to now.' }),
    metadata: EventMetadata.optional(),
  })
  .openapi('NewEvent', {
    example: {
      event_type: 'webhook.external_crm.contact_updated',
      source: 'webhook',
      contact_id: '0b6f8a4e-3a52-4c1e-9d35-1f0c2b7f9a10',
      payload: { webhook_id: 'wh_123', source_system: 'external_crm', fields_updated: ['name', 'company'] },
    },
  });
export type NewEvent = z.infer<typeof NewEvent>;

export const EventBatch = z
  .strictObject({
    events: z
      .array(NewEvent)
      .min(1, { message: 'must hold at least one event' })
      .max(LIMITS.batchItems, { message: `must hold at most ${LIMITS.batchItems} events` }),
  })
  .openapi('EventBatch');

/** An event as stored, relayed and queued (the stored schema version; `position` once D1 assigned it). */
const EventFields = z
  .object({
    id: Uuid,
    event_type: z.string(),
    source: z.enum(EVENT_SOURCES),
    contact_id: z.string().nullable(),
    session_id: z.string().nullable(),
    message_id: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
    stream_id: z.string().nullable(),
    sequence_number: z.number().int().nullable().openapi({ description: "The contact's (or stream's) sequence number: the stream version." }),
    schema_version: z.number().int(),
    position: z.number().int().optional(),
    timestamp: z.string(),
    created_at: z.string(),
  });
export type EventRecord = z.infer<typeof EventFields>;

/**
 * An event as every answer shows it (docs/api.md "Positions", "Schema versions"): upcast to the latest
 * schema version of its type, and always with `position` — null while the event is not yet in the
 * tenant's log, which happens only in the answer to its own append (and reads of it a few
 * milliseconds later) when a hub commits it.
 */
export const Event = EventFields.extend({
  schema_version: z.number().int().openapi({ description: 'The latest schema version of the type: the payload is upcast to it.' }),
  stored_schema_version: z.number().int().openapi({ description: 'The schema version the event was written with (storage is never rewritten).' }),
  position: z
    .number()
    .int()
    .nullable()
    .openapi({ description: "The event's place in the tenant's log, assigned when it reaches the log; null until then (events of a hub, in the answer to their append)." }),
}).openapi('Event');
