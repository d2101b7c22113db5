import { matchesPattern } from './event-patterns';

/** A subscription's filters; its `events` entries follow the one pattern grammar (src/domain/event-patterns.ts). */
export interface SubscriptionFilter {
  events: readonly string[];
  subscribeContactEvents: boolean;
  contactEventTypes: readonly string[];
  contactEventCategories: readonly string[];
}

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
