/**
 * The one grammar of event-type patterns, used by the log queries, the log consumers, the projections
 * and the webhook subscriptions: an exact type (`contact.created`: two segments or more) or a prefix
 * (`contact.*`, `channel.history_import.*`: every type that starts with `contact.`). A webhook's
 * `events` list also takes `*`, every type.
 */
const EXACT = '[a-z0-9_]+(?:\\.[a-z0-9_]+)+';
const PREFIX = '[a-z0-9_]+(?:\\.[a-z0-9_]+)*\\.\\*';

/** An exact type or a prefix pattern. */
export const EVENT_PATTERN = new RegExp(`^(?:${EXACT}|${PREFIX})$`);
/** An exact type, a prefix pattern or `*`. */
export const EVENT_FILTER_PATTERN = new RegExp(`^(?:\\*|${EXACT}|${PREFIX})$`);

export const MAX_PATTERN_LENGTH = 100;

export const isEventPattern = (pattern: string, opts: { allowAll?: boolean } = {}): boolean =>
  pattern.length <= MAX_PATTERN_LENGTH && (opts.allowAll ? EVENT_FILTER_PATTERN : EVENT_PATTERN).test(pattern);

/** Does an event type match one pattern? `contact.*` matches `contact.created` and `contact.tag.added`, not `contact` or `contact_list.x`. */
export function matchesPattern(pattern: string, eventType: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}

/**
 * Patterns split for SQL (src/db/log.ts): exact types go to `IN`, prefixes to `GLOB`. Types hold only
 * [a-z0-9_.], so in a prefix `*` is the only GLOB special character and `contact.*` GLOB matches
 * exactly what matchesPattern does.
 */
export interface TypeFilter {
  exact: string[];
  globs: string[];
}

export function typeFilter(patterns: readonly string[]): TypeFilter | null {
  if (patterns.length === 0) return null;
  return { exact: patterns.filter((p) => !p.endsWith('.*')), globs: patterns.filter((p) => p.endsWith('.*')) };
}
