import { z } from '@hono/zod-openapi';
import { CATEGORIES, TIMELINE_TYPE_PATTERN } from '../contact-event-types';
import { isEventPattern } from '../event-patterns';
import { DEFAULT_RETRY_COUNT, MAX_RETRY_COUNT } from '../queue-retry';
import { MAX_URL_LENGTH } from '../webhook-urls';
import { Uuid } from './common';

export const MAX_FILTERS = 100;
export const MAX_CUSTOM_HEADERS = 20;

/** Headers Eventline sets itself (or the runtime does): a subscription may not override them. */
export const RESERVED_HEADERS = ['content-type', 'content-length', 'host', 'user-agent', 'connection', 'transfer-encoding', 'te', 'upgrade', 'expect', 'keep-alive', 'proxy-authorization'];

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

const EventFilters = z
  .array(
    z.string().refine((f) => isEventPattern(f, { allowAll: true }), {
      message: 'must be "*", an event type (contact.created) or a prefix ending in ".*" (contact.*)',
    }),
  )
  .max(MAX_FILTERS, { message: `must hold at most ${MAX_FILTERS} filters` })
  .openapi({ description: 'Business event types to receive: exact types, prefixes (`contact.*`) or `*`.', example: ['contact.*', 'session.created'] });

const ContactEventTypes = z
  .array(z.string().max(100).regex(TIMELINE_TYPE_PATTERN, { message: 'must be a timeline entry type (pipeline_stage_changed)' }))
  .max(MAX_FILTERS, { message: `must hold at most ${MAX_FILTERS} types` })
  .openapi({ description: 'Timeline entry types to receive (empty: all).' });

const ContactEventCategories = z
  .array(z.enum(CATEGORIES, { message: `must be one of ${CATEGORIES.join(', ')}` }))
  .max(CATEGORIES.length)
  .openapi({ description: 'Timeline categories to receive (empty: all).' });

const CustomHeaders = z
  .record(z.string(), z.string().max(1000, { message: 'must be at most 1000 characters' }).refine((v) => !/[\r\n\0]/.test(v), { message: 'must not contain line breaks' }))
  .superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > MAX_CUSTOM_HEADERS) ctx.addIssue({ code: 'custom', message: `must hold at most ${MAX_CUSTOM_HEADERS} headers` });
    const seen = new Set<string>();
    for (const name of names) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
      else if (RESERVED_HEADERS.includes(lower) || lower.startsWith('webhook-')) ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Eventline and cannot be overridden' });
      else if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: [name], message: 'repeats a header name' });
      seen.add(lower);
    }
  })
  .openapi({ description: 'Extra request headers sent with every delivery.', example: { 'x-api-key': 'their-key' } });

const Url = z.string().min(1, { message: 'is required' }).max(MAX_URL_LENGTH, { message: `must be at most ${MAX_URL_LENGTH} characters` }).openapi({
  description: 'https only; private, loopback, link-local and metadata addresses are refused.',
  example: 'https://example.com/hooks/eventline',
});

const fields = {
  name: z.string().trim().min(1, { message: 'must not be empty' }).max(200, { message: 'must be at most 200 characters' }),
  url: Url,
  events: EventFilters,
  subscribe_contact_events: z.boolean(),
  contact_event_types: ContactEventTypes,
  contact_event_categories: ContactEventCategories,
  active: z.boolean(),
  headers: CustomHeaders,
  retry_count: z.number().int({ message: 'must be an integer' }).min(0, { message: 'must be at least 0' }).max(MAX_RETRY_COUNT, { message: `must be at most ${MAX_RETRY_COUNT}` }),
  timeout_seconds: z.number().int({ message: 'must be an integer' }).min(1, { message: 'must be at least 1' }).max(30, { message: 'must be at most 30' }),
};

export const NewWebhook = z
  .strictObject({
    name: fields.name,
    url: fields.url,
    events: fields.events.default([]),
    subscribe_contact_events: fields.subscribe_contact_events.default(false),
    contact_event_types: fields.contact_event_types.default([]),
    contact_event_categories: fields.contact_event_categories.default([]),
    active: fields.active.default(true),
    headers: fields.headers.default({}),
    retry_count: fields.retry_count.default(DEFAULT_RETRY_COUNT),
    timeout_seconds: fields.timeout_seconds.default(15),
  })
  .superRefine((w, ctx) => {
    if (w.events.length === 0 && !w.subscribe_contact_events) {
      ctx.addIssue({ code: 'custom', path: ['events'], message: 'must hold at least one filter unless subscribe_contact_events is true' });
    }
  })
  .openapi('NewWebhook', {
    example: { name: 'CRM sync', url: 'https://example.com/hooks/eventline', events: ['contact.*', 'session.created'], retry_count: 7, timeout_seconds: 15 },
  });
export type NewWebhook = z.infer<typeof NewWebhook>;

export const WebhookPatch = z
  .strictObject({
    name: fields.name.optional(),
    url: fields.url.optional(),
    events: fields.events.optional(),
    subscribe_contact_events: fields.subscribe_contact_events.optional(),
    contact_event_types: fields.contact_event_types.optional(),
    contact_event_categories: fields.contact_event_categories.optional(),
    active: fields.active.optional().openapi({ description: 'Setting true re-enables an endpoint Eventline disabled.' }),
    headers: fields.headers.optional(),
    retry_count: fields.retry_count.optional(),
    timeout_seconds: fields.timeout_seconds.optional(),
  })
  .openapi('WebhookPatch');
export type WebhookPatch = z.infer<typeof WebhookPatch>;

const Time = z.string().nullable();

export const Webhook = z
  .object({
    id: Uuid,
    name: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    subscribe_contact_events: z.boolean(),
    contact_event_types: z.array(z.string()),
    contact_event_categories: z.array(z.string()),
    active: z.boolean(),
    disabled_reason: z.enum(['gone', 'failing']).nullable().openapi({ description: 'Set when Eventline disabled the endpoint: 410 Gone, or 5 days of failures.' }),
    headers: z.record(z.string(), z.string()),
    retry_count: z.number().int(),
    timeout_seconds: z.number().int(),
    secret_rotation_ends_at: Time.openapi({ description: 'While set, the previous secret also signs.' }),
    last_triggered_at: Time,
    last_success_at: Time,
    last_failure_at: Time,
    success_count: z.number().int().openapi({ description: 'Successful attempts.' }),
    failure_count: z.number().int().openapi({ description: 'Failed attempts.' }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Webhook');
export type WebhookRecord = z.infer<typeof Webhook>;

export const WebhookWithSecret = Webhook.extend({
  secret: z.string().openapi({ description: 'Shown once. `whsec_` + base64; verify signatures with any Standard Webhooks library.' }),
}).openapi('WebhookWithSecret');

export const DeliveryStatus = z.enum(['pending', 'succeeded', 'failed', 'erased']).openapi({
  description: '`erased`: the contact the delivery carried was erased; its payload and attempts are gone and it is never sent again.',
});

export const WebhookAttempt = z
  .object({
    delivery_id: z.string(),
    event_id: z.string(),
    subscription_id: z.string(),
    attempt: z.number().int(),
    status_code: z.number().int().nullable(),
    duration_ms: z.number().int(),
    response_body: z.string().nullable().openapi({ description: 'First 4 KiB of the response body.' }),
    error: z.string().nullable(),
    next_attempt_at: Time,
    started_at: z.string(),
  })
  .openapi('WebhookAttempt');

export const WebhookDelivery = z
  .object({
    id: z.string().openapi({ description: 'Also the `webhook-id` header: the same on every attempt.' }),
    subscription_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: DeliveryStatus,
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: Time,
    dead_lettered_at: Time,
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: Time,
  })
  .openapi('WebhookDelivery');

export const WebhookDeliveryDetail = WebhookDelivery.extend({
  payload: z.record(z.string(), z.unknown()).openapi({ description: 'The body sent: {type, timestamp, data}.' }),
  attempt_log: z.array(WebhookAttempt),
}).openapi('WebhookDeliveryDetail');
