/** A subscription's `events` entry: `*`, an exact type (`contact.created`) or a prefix (`contact.*`, `channel.history_import.*`). */
export const EVENT_FILTER_PATTERN = /^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*\.\*|[a-z0-9_]+(\.[a-z0-9_]+)+)$/;

export function isValidEventFilter(filter: string): boolean {
  return filter.length <= 100 && EVENT_FILTER_PATTERN.test(filter);
}

/** Does a business type match one filter? `contact.*` matches `contact.created` and `contact.tag.added`, not `contact`. */
export function filterMatches(filter: string, type: string): boolean {
  if (filter === '*') return true;
  if (filter.endsWith('.*')) return type.startsWith(filter.slice(0, -1));
  return filter === type;
}

export interface SubscriptionFilter {
  events: readonly string[];
  subscribeContactEvents: boolean;
  contactEventTypes: readonly string[];
  contactEventCategories: readonly string[];
}

/** A log event (already mapped to its business type) against a subscription's `events` filters. */
export function matchesLogEvent(sub: SubscriptionFilter, businessType: string): boolean {
  return sub.events.some((f) => filterMatches(f, businessType));
}

/** A timeline entry: only when the subscription opted in; empty type/category lists mean "all". */
export function matchesContactEvent(sub: SubscriptionFilter, entry: { event_type: string; category: string }): boolean {
  if (!sub.subscribeContactEvents) return false;
  if (sub.contactEventTypes.length > 0 && !sub.contactEventTypes.includes(entry.event_type)) return false;
  if (sub.contactEventCategories.length > 0 && !sub.contactEventCategories.includes(entry.category)) return false;
  return true;
}
