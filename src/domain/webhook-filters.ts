import { matchesPattern } from './event-patterns';
import type { RelayMessage } from './relay-message';
import { businessTypeFor, contactEventWebhookType, receiptWebhookType } from './webhook-mapping';

/** A subscription's filters; its `events` entries follow the one pattern grammar (src/domain/event-patterns.ts). */
export interface SubscriptionFilter {
  events: readonly string[];
  subscribeContactEvents: boolean;
  contactEventTypes: readonly string[];
  contactEventCategories: readonly string[];
}

/** A subscription's filter columns as stored (JSON arrays, a 0/1 flag). */
export interface StoredFilter {
  events: string;
  subscribe_contact_events: number;
  contact_event_types: string;
  contact_event_categories: string;
}

export const filterOf = (s: StoredFilter): SubscriptionFilter => ({
  events: JSON.parse(s.events) as string[],
  subscribeContactEvents: s.subscribe_contact_events === 1,
  contactEventTypes: JSON.parse(s.contact_event_types) as string[],
  contactEventCategories: JSON.parse(s.contact_event_categories) as string[],
});

/** What subscriptions match a relayed record by: its webhook type, and for an entry (or its receipt) the entry's type and category. */
export interface WebhookSubject {
  type: string;
  contactEvent?: { event_type: string; category: string };
}

/** A relayed record's subject, or null for a log event that is internal only (never sent to webhooks). */
export function subjectOf(m: RelayMessage): WebhookSubject | null {
  if (m.kind === 'event') {
    const type = businessTypeFor(m.event.event_type);
    return type === null ? null : { type };
  }
  const e = m.contact_event;
  const type = m.kind === 'contact_event_receipt' ? receiptWebhookType(m.receipt) : contactEventWebhookType(e.event_type);
  return { type, contactEvent: { event_type: e.event_type, category: e.category } };
}

/** The one matching rule of the fan-out, the erase's tombstones and the relay's filter. */
export const matchesSubject = (sub: SubscriptionFilter, s: WebhookSubject): boolean =>
  s.contactEvent ? matchesContactEvent(sub, s.contactEvent) : matchesLogEvent(sub, s.type);

/** A log event (already mapped to its business type) against a subscription's `events` filters. */
export function matchesLogEvent(sub: SubscriptionFilter, businessType: string): boolean {
  return sub.events.some((f) => matchesPattern(f, businessType));
}

/** A timeline entry: only when the subscription opted in; empty type/category lists mean "all". */
export function matchesContactEvent(sub: SubscriptionFilter, entry: { event_type: string; category: string }): boolean {
  if (!sub.subscribeContactEvents) return false;
  if (sub.contactEventTypes.length > 0 && !sub.contactEventTypes.includes(entry.event_type)) return false;
  if (sub.contactEventCategories.length > 0 && !sub.contactEventCategories.includes(entry.category)) return false;
  return true;
}
