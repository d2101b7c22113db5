import type { AnalyticsMessage, EntryCount, EventCount, RelayMessage } from './relay-message';
import { DAY_MS, HOUR_MS } from './time';

export const floorHour = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;
export const ceilHour = (ms: number): number => Math.ceil(ms / HOUR_MS) * HOUR_MS;
export const floorDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
export const ceilDay = (ms: number): number => Math.ceil(ms / DAY_MS) * DAY_MS;

/** `2025-10-01` for a UTC day. */
export const dayString = (ms: number): string => new Date(floorDay(ms)).toISOString().slice(0, 10);

/** What a rollup counts: the log (`event`) or the timeline (`contact_event`). */
export const ROLLUP_KINDS = ['event', 'contact_event'] as const;
export type RollupKind = (typeof ROLLUP_KINDS)[number];

export const GROUP_BYS = ['type', 'source', 'category', 'hour', 'day'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

/**
 * One rollup row's worth of counts: a log event, a timeline entry, or a log event together with the
 * entry it derived (one row written for both). The columns of what it does not count are ''.
 */
export interface RollupItem {
  tenant_id: string;
  /** The log event's id, or the entry's when the item counts an entry alone: unique per item (uniqueItems). */
  event_id: string;
  /** The entry's id when the item counts one (Analytics Engine points name it), else null. */
  entry_id: string | null;
  /**
   * The id of the processed marker that guards this count: the item's own id, or for a derived entry
   * or a batch's entries that arrived in one message, the id that message counts under (one marker for all).
   */
  marker: string;
  hour: number;
  day: number;
  /** The log event's type and source. */
  event_type: string;
  source: string;
  /** The entry's type, source and category. */
  entry_type: string;
  entry_source: string;
  category: string;
  events: 0 | 1;
  entries: 0 | 1;
}

type EntryColumns = Pick<RollupItem, 'entry_id' | 'entry_type' | 'entry_source' | 'category' | 'entries'>;
const NO_ENTRY: EntryColumns = { entry_id: null, entry_type: '', entry_source: '', category: '', entries: 0 };
const NO_EVENT = { event_type: '', source: '', events: 0 } as const;

/**
 * A relay message → what the rollups count, bucketed by when the event happened (its `timestamp`,
 * the timeline's `occurred_at`), not when it was relayed. Null for a message this consumer does not
 * understand (it is acknowledged and logged rather than retried forever).
 */
export function rollupItems(message: AnalyticsMessage | RelayMessage): RollupItem[] | null {
  if (!message || typeof message !== 'object' || !str(message.tenant_id)) return null;
  if (message.kind === 'event') return eventItems(message.tenant_id, message.event, 'derived' in message ? message.derived : undefined, null);
  if (message.kind === 'events') {
    if (!str(message.marker) || !Array.isArray(message.events)) return null;
    const items = message.events.map((e) => eventItems(message.tenant_id, e?.event, e?.derived, message.marker));
    return items.every((i) => i !== null) ? items.flat() : null;
  }
  if (message.kind === 'contact_event') {
    const entry = entryItem(message.tenant_id, message.contact_event, null);
    return entry ? [entry] : null;
  }
  if (message.kind === 'contact_events') {
    if (!str(message.marker) || !Array.isArray(message.contact_events)) return null;
    const entries = message.contact_events.map((e) => entryItem(message.tenant_id, e, message.marker));
    return entries.every((e) => e !== null) ? entries : null;
  }
  return null;
}

/** A log event's items (with the entry it derived), under `marker` or else its own id. */
function eventItems(tenantId: string, e: EventCount | undefined, derived: EntryCount | undefined, marker: string | null): RollupItem[] | null {
  const at = Date.parse(e?.timestamp ?? '');
  if (!e || !str(e.id) || !str(e.event_type) || !str(e.source) || Number.isNaN(at)) return null;
  const item: RollupItem = { tenant_id: tenantId, event_id: e.id, marker: marker ?? e.id, hour: floorHour(at), day: floorDay(at), event_type: e.event_type, source: e.source, events: 1, ...NO_ENTRY };
  if (derived === undefined) return [item];
  const entry = entryItem(tenantId, derived, item.marker);
  if (!entry) return null;
  // Derived entries happen when their event does: one row counts both.
  if (entry.hour === item.hour) return [{ ...item, ...entryColumns(derived) }];
  return [item, entry];
}

function entryItem(tenantId: string, e: EntryCount | undefined, marker: string | null): RollupItem | null {
  const at = Date.parse(e?.occurred_at ?? '');
  if (!e || !str(e.id) || !str(e.event_type) || !str(e.source) || !str(e.category) || Number.isNaN(at)) return null;
  return { tenant_id: tenantId, event_id: e.id, marker: marker ?? e.id, hour: floorHour(at), day: floorDay(at), ...NO_EVENT, ...entryColumns(e) };
}

/** What an entry puts in its rollup row (checked by entryItem). */
function entryColumns(e: EntryCount): EntryColumns {
  return { entry_id: e.id, entry_type: e.event_type, entry_source: e.source, category: e.category, entries: 1 };
}

// Messages cross a queue as JSON: checked field by field so that one malformed message is dropped
// (and logged) instead of failing, and endlessly retrying, the whole batch it arrived in.
const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Drops repeats of one (tenant, event id) inside a batch: the queue may deliver a message twice. */
export function uniqueItems(items: RollupItem[]): RollupItem[] {
  const seen = new Set<string>();
  return items.filter((i) => {
    const k = `${i.tenant_id}\u0000${i.event_id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * A range [from, to) split so that whole UTC days are read from the daily rollup and only the
 * ragged hour edges from the hourly one. Both ends must be hour-aligned.
 */
export function splitRange(from: number, to: number): { hours: [number, number][]; days: [number, number] | null } {
  const firstDay = ceilDay(from);
  const lastDay = floorDay(to);
  if (firstDay >= lastDay) return { hours: [[from, to]], days: null };
  const hours: [number, number][] = [];
  if (from < firstDay) hours.push([from, firstDay]);
  if (lastDay < to) hours.push([lastDay, to]);
  return { hours, days: [firstDay, lastDay] };
}
