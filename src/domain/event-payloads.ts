/**
 * What the payload of each predefined type carries: log events (EVENT_CATALOG) and timeline entries
 * (TIMELINE_CATALOG), from the CRM's event catalog. One zod schema per type is the single source of
 * GET /event-types (as JSON Schema) and of docs/event-types.md (eventTypesMarkdown, checked by a test).
 *
 * The schemas describe; they are not enforced. Every field is optional and other fields are allowed,
 * because producers send what they know and the types predate the schemas: an append whose payload
 * differs is still accepted, and a custom type has no schema at all.
 */
import { z } from 'zod';
import { CATEGORIES, TIMELINE_CATALOG, type Category } from './contact-event-types';
import { EVENT_CATALOG, type CatalogEventType } from './event-types';
import { businessTypeFor, contactEventWebhookType } from './webhook-mapping';

const str = (description: string) => z.string().describe(description).optional();
const time = (description: string) => z.string().describe(`${description} (ISO 8601 date-time)`).optional();
const num = (description: string) => z.number().describe(description).optional();
const strings = (description: string) => z.array(z.string()).describe(description).optional();

/** A payload: an object of the named (optional) fields, open to others. */
const payload = (fields: Record<string, z.ZodType>) => z.looseObject(fields);

const agentAssignment = {
  agent_id: str('The assigned agent'),
  agent_name: str('The assigned agent\'s display name'),
  previous_agent_id: str('The agent assigned before, on a reassignment'),
  assigned_by_agent_id: str('Who assigned (absent: automatic)'),
  source: str('How: manual, automatic, reassignment'),
  assignment_strategy: str('The automatic strategy used (round_robin, least_busy, …)'),
  reassignment_reason: str('Why the conversation was reassigned'),
};
const transfer = { from_agent_id: str('The agent handing over'), to_agent_id: str('The agent taking over'), reason: str('Why') };
const tag = { tag: str('The tag') };
const note = { note_id: str('The note'), content: str('The note\'s text') };
const customField = { key: str('The custom field\'s name'), value: z.unknown().describe('Its new value (any JSON)').optional() };
const message = { channel: str('The channel: whatsapp, instagram, email, …'), direction: z.enum(['inbound', 'outbound']).describe('inbound or outbound').optional(), content_type: str('text, image, audio, video, document, …') };

export const LOG_PAYLOADS: Record<CatalogEventType, z.ZodType> = {
  'contact.created': payload({ name: str('The contact\'s name'), phone: str('Phone number (E.164)'), email: str('Email address'), project_id: str('The CRM project') }),
  'contact.updated': payload({ fields_updated: strings('The fields that changed; their new values ride next to it, by name') }),
  'contact.deleted': payload({ deleted_at: time('When the contact was deleted') }),
  'session.started': payload({ channel_id: str('The channel the conversation is on'), channel_type_id: str('The kind of channel'), started_at: time('When') }),
  'session.ended': payload({
    channel_id: str('The channel'),
    pipeline_id: str('The pipeline the contact was in'),
    started_at: time('When it started'),
    ended_at: time('When it ended'),
    reason: str('Why it ended: resolved, timeout, abandoned, …'),
    duration_seconds: num('How long it lasted'),
    message_ids: strings('The messages of the session'),
    metrics: z.record(z.string(), z.unknown()).describe('Session metrics (response times, counts)').optional(),
  }),
  'session.summarized': payload({ summary: str('The generated summary'), sentiment: str('positive, neutral or negative'), sentiment_score: num('-1..1'), generated_at: time('When') }),
  'message.received': payload(message),
  'message.sent': payload(message),
  'message.read': payload({ read_at: time('When the message was read') }),
  'message.failed': payload({ failure_reason: str('Why it failed'), failed_at: time('When') }),
  'agent.assigned': payload(agentAssignment),
  'agent.transfer': payload(transfer),
  'agent.typing': payload({ agent_id: str('The agent typing') }),
  'custom_field.updated': payload(customField),
  'tag.added': payload(tag),
  'tag.removed': payload(tag),
  'note.added': payload(note),
};

export type TimelineCatalogType = keyof typeof TIMELINE_CATALOG;

export const TIMELINE_PAYLOADS: Record<TimelineCatalogType, { description: string; payload: z.ZodType }> = {
  status_changed: { description: 'The contact\'s status changed', payload: payload({ old_status: str('The status before'), new_status: str('The status after'), old_status_id: str('Its id'), new_status_id: str('Its id') }) },
  entered_pipeline: { description: 'The contact entered a pipeline', payload: payload({ pipeline_id: str('The pipeline'), status_id: str('The stage it entered at') }) },
  exited_pipeline: { description: 'The contact left a pipeline', payload: payload({ pipeline_id: str('The pipeline'), reason: str('Why') }) },
  pipeline_stage_changed: { description: 'The contact moved to another stage of a pipeline', payload: payload({ pipeline_id: str('The pipeline'), old_status: str('The stage before'), new_status: str('The stage after') }) },
  agent_assigned: { description: 'An agent was assigned to the contact', payload: payload(agentAssignment) },
  agent_transferred: { description: 'The contact was transferred to another agent', payload: payload(transfer) },
  agent_unassigned: { description: 'The contact\'s agent was unassigned', payload: payload({ agent_id: str('The agent'), reason: str('Why') }) },
  tag_added: { description: 'A tag was added to the contact', payload: payload(tag) },
  tag_removed: { description: 'A tag was removed from the contact', payload: payload(tag) },
  note_added: { description: 'A note was added', payload: payload(note) },
  note_updated: { description: 'A note was changed', payload: payload(note) },
  note_deleted: { description: 'A note was deleted', payload: payload({ note_id: str('The note') }) },
  session_started: { description: 'A conversation session started', payload: payload({ channel_id: str('The channel'), channel_type_id: str('The kind of channel') }) },
  session_ended: { description: 'A conversation session ended', payload: payload({ reason: str('Why it ended'), duration_seconds: num('How long it lasted') }) },
  custom_field_set: { description: 'A custom field was set', payload: payload(customField) },
  custom_field_cleared: { description: 'A custom field was cleared', payload: payload({ key: str('The custom field\'s name') }) },
  webhook_received: { description: 'An external system called in', payload: payload({ webhook_id: str('The inbound webhook'), source_system: str('Who called'), fields_updated: strings('What it changed') }) },
  notification_sent: { description: 'A notification was sent to the contact', payload: payload({ channel: str('How it was sent'), notification_id: str('The notification') }) },
  contact_created: { description: 'The contact was created', payload: payload({ name: str('The contact\'s name') }) },
  contact_updated: { description: 'The contact was updated', payload: payload({ fields_updated: strings('The fields that changed') }) },
  contact_merged: { description: 'Other contacts were merged into this one', payload: payload({ primary_contact_id: str('The contact kept'), merged_contact_ids: strings('The contacts merged into it'), merge_strategy: str('How conflicts were resolved') }) },
  contact_enriched: { description: 'The contact\'s data was enriched from an external source', payload: payload({ enrichment_source: str('The source (clearbit, …)'), fields_updated: strings('The fields it filled') }) },
};

export type JsonSchema = Record<string, unknown>;

/** JSON Schema (draft 2020-12) of a payload, without `$schema` so that it can sit inside an OpenAPI 3.1 answer. */
export function payloadJsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _omitted, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

export interface LogTypeInfo {
  type: CatalogEventType;
  aggregate: string;
  description: string;
  /** The type webhook deliveries carry it under (the business name), or null when it is not delivered. */
  webhook_type: string | null;
  payload_schema: JsonSchema;
}

export interface TimelineTypeInfo {
  type: TimelineCatalogType;
  category: Category;
  description: string;
  webhook_type: string;
  payload_schema: JsonSchema;
}

// Computed once per isolate: the catalog is fixed.
let logTypes: LogTypeInfo[] | undefined;
let timelineTypes: TimelineTypeInfo[] | undefined;

export function logTypeInfos(): LogTypeInfo[] {
  logTypes ??= (Object.keys(EVENT_CATALOG) as CatalogEventType[]).map((type) => ({
    type,
    aggregate: type.split('.')[0]!,
    description: EVENT_CATALOG[type],
    webhook_type: businessTypeFor(type),
    payload_schema: payloadJsonSchema(LOG_PAYLOADS[type]),
  }));
  return logTypes;
}

export function timelineTypeInfos(): TimelineTypeInfo[] {
  timelineTypes ??= (Object.keys(TIMELINE_CATALOG) as TimelineCatalogType[]).map((type) => ({
    type,
    category: TIMELINE_CATALOG[type],
    description: TIMELINE_PAYLOADS[type].description,
    webhook_type: contactEventWebhookType(type),
    payload_schema: payloadJsonSchema(TIMELINE_PAYLOADS[type].payload),
  }));
  return timelineTypes;
}

function fieldRows(schema: JsonSchema): string[] {
  const props = (schema.properties ?? {}) as Record<string, { type?: string; items?: { type?: string }; enum?: string[]; description?: string }>;
  return Object.entries(props).map(([name, p]) => {
    const type = p.enum ? p.enum.map((v) => `\`${v}\``).join(' \\| ') : p.type === 'array' ? `array of ${p.items?.type ?? 'any'}` : (p.type ?? 'any JSON');
    return `| \`${name}\` | ${type} | ${p.description ?? ''} |`;
  });
}

function section(heading: string, description: string, webhookType: string | null, schema: JsonSchema): string[] {
  const delivered = webhookType === null ? 'Not delivered to webhooks (internal).' : `Webhook deliveries: \`${webhookType}\`.`;
  return [`### \`${heading}\``, '', `${description}. ${delivered}`, '', '| field | type | meaning |', '|---|---|---|', ...fieldRows(schema), ''];
}

/** The text of docs/event-types.md. */
export function eventTypesMarkdown(): string {
  const lines = [
    '# Event types',
    '',
    '<!-- Generated from src/domain/event-payloads.ts by `npm run docs:event-types`; test/http/event-types.test.ts checks it. -->',
    '',
    'What the `payload` of each predefined type carries, for log events (`POST /api/v1/events`) and',
    'timeline entries (`POST /api/v1/contacts/{contact_id}/events`), and therefore what webhook',
    'deliveries carry in `payload`, next to the envelope fields (id, type, contact, session, times).',
    'A webhook delivery names the type by its business name (`session.started` is delivered as',
    '`session.created`; a timeline entry type `t` as `contact_event.t`); internal types are not',
    'delivered. `GET /api/v1/event-types` answers the same (`webhook_type`), each payload as a JSON',
    'Schema (`payload_schema`).',
    '',
    'The schemas describe, they are not enforced: every field is optional and other fields are',
    'allowed, so an append whose payload differs is still accepted. Any other well-formed type',
    '(a custom type: `aggregate.action` for log events, `snake_case` for timeline entries) is accepted',
    'with any JSON object as its payload, and has no schema.',
    '',
    '## Log events',
    '',
  ];
  for (const t of logTypeInfos()) lines.push(...section(t.type, t.description, t.webhook_type, t.payload_schema));
  lines.push('## Timeline entries', '', `Categories: ${CATEGORIES.map((c) => `\`${c}\``).join(', ')}.`, '');
  for (const t of timelineTypeInfos()) lines.push(...section(t.type, `${t.description} (category \`${t.category}\`)`, t.webhook_type, t.payload_schema));
  return lines.join('\n');
}
