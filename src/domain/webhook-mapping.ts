import { deterministicUuid } from './ids';
import type { EntryReceipt } from './relay-message';

/**
 * Domain → business event types for webhooks: what a receiver sees instead of the internal type.
 *
 * Customers subscribe to business types, not to our internal vocabulary: some domain types are
 * renamed for the outside world, some are internal plumbing and never leave, and every type not
 * listed here is delivered under its own name. Keys ending in `.*` cover a whole prefix; an exact
 * key wins over a prefix, and a longer prefix over a shorter one.
 */
export const DOMAIN_TO_BUSINESS: Readonly<Record<string, string | null>> = {
  // Renamed: the business perspective.
  'session.started': 'session.created',
  'session.ended': 'session.closed',
  'message.created': 'message.received',
  'contact.pipeline_status_changed': 'contact.pipeline_stage_changed',
  'session.agent_assigned': 'agent.assigned',
  'channel.activation.failed': 'channel.activation_failed',
  'channel.history_import.completed': 'channel.history_imported',
  'channel.history_import.failed': 'channel.history_import_failed',

  // Internal only: bookkeeping, requests to our own workers, ephemeral signals.
  'session.message_recorded': null,
  'message.ai.*': null,
  'message_group.*': null,
  'channel.activation.requested': null,
  'channel.history_import.enabled': null,
  'channel.history_import.requested': null,
  'channel.history_import.started': null,
  'credential.*': null,
  'agent.typing': null,
  'agent.logged_in': null,
  'cron.*': null,
  'tracking.enriched': null,
  'contact_list.recalculated': null,
};

/** The type a webhook receives for a log event of `eventType`, or null when it is internal only. */
export function businessTypeFor(eventType: string): string | null {
  if (Object.hasOwn(DOMAIN_TO_BUSINESS, eventType)) return DOMAIN_TO_BUSINESS[eventType]!;
  // Walk the prefixes from the longest: a.b.c.d → a.b.c.* → a.b.* → a.*
  const parts = eventType.split('.');
  for (let n = parts.length - 1; n >= 1; n--) {
    const key = `${parts.slice(0, n).join('.')}.*`;
    if (Object.hasOwn(DOMAIN_TO_BUSINESS, key)) return DOMAIN_TO_BUSINESS[key]!;
  }
  return eventType;
}

/** Webhook type of a timeline entry: `contact_event.<entry type>` (e.g. contact_event.pipeline_stage_changed). */
export const contactEventWebhookType = (entryType: string): string => `contact_event.${entryType}`;

/**
 * Webhook type of an entry that became read or delivered: `contact_event.read`, `contact_event.delivered`.
 * Appends refuse the entry types `read` and `delivered` (src/domain/schemas/contact-events.ts), so
 * these never collide with an entry's own webhook type.
 */
export const receiptWebhookType = (receipt: EntryReceipt): string => `contact_event.${receipt}`;

/** The event id of a receipt's deliveries (their `event_id`): derived from the entry and the transition. */
export const receiptEventId = (entryId: string, receipt: EntryReceipt): Promise<string> => deterministicUuid(`receipt:${receipt}:${entryId}`);

/** Operational events Eventline itself appends about webhooks. */
export const WEBHOOK_EVENT_TYPES = {
  test: 'webhook.test',
  retryExhausted: 'webhook.retry_exhausted',
  endpointDisabled: 'webhook.endpoint_disabled',
} as const;

export const isWebhookOperationalType = (type: string): boolean => type.startsWith('webhook.');
