import { z } from '@hono/zod-openapi';
import { CATEGORIES, PRIORITIES, TIMELINE_SOURCES, TIMELINE_TYPE_PATTERN } from '../contact-event-types';
import { LIMITS } from '../limits';
import { IsoDateTime, Payload, Uuid, jsonObject } from './common';

export const NewContactEvent = z
  .strictObject({
    id: Uuid.optional(),
    event_type: z
      .string()
      .max(LIMITS.eventTypeLength, { message: `must be at most ${LIMITS.eventTypeLength} characters` })
      .regex(TIMELINE_TYPE_PATTERN, { message: 'must be lowercase [a-z0-9_] words (pipeline_stage_changed)' }),
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
export type ContactEventRecord = z.infer<typeof ContactEvent>;
