/**
 * Event-type filters used by the log, subscriptions and projections: an exact type (`contact.created`)
 * or a prefix pattern (`contact.*`, matching every type that starts with `contact.`).
 */
export const EVENT_PATTERN = /^(?:[a-z0-9_]+(?:\.[a-z0-9_]+)+|[a-z0-9_]+(?:\.[a-z0-9_]+)*\.\*)$/;

export interface TypeFilter {
  exact: string[];
  /** GLOB patterns (`contact.*`): event types hold only [a-z0-9_.], so `*` is the only special character. */
  globs: string[];
}

export function typeFilter(patterns: readonly string[]): TypeFilter | null {
  if (patterns.length === 0) return null;
  return { exact: patterns.filter((p) => !p.endsWith('.*')), globs: patterns.filter((p) => p.endsWith('.*')) };
}
