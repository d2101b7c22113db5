import type { TimelineEntryRecord } from './schemas/contact-events';
import type { EventRecord } from './schemas/events';

/**
 * What the relay puts on the `webhooks` queue: the whole committed record. In domain/ because the rules
 * that read it (webhook filters) must not import the queues.
 */
export type RelayMessage =
  | { kind: 'event'; tenant_id: string; event: EventRecord }
  | { kind: 'contact_event'; tenant_id: string; contact_event: TimelineEntryRecord }
  /**
   * A timeline entry that became read or delivered (once per entry and transition): the entry as it is
   * after the change. Webhooks only: analytics counts entries, not what happened to them later.
   */
  | { kind: 'contact_event_receipt'; tenant_id: string; receipt: EntryReceipt; contact_event: TimelineEntryRecord };

/** What the rollups count of a log event: its id (the processed marker), type, source and time. */
export type EventCount = Pick<EventRecord, 'id' | 'event_type' | 'source' | 'timestamp'>;
/** What the rollups count of a timeline entry. */
export type EntryCount = Pick<TimelineEntryRecord, 'id' | 'event_type' | 'source' | 'category' | 'occurred_at'>;

/**
 * What the relay puts on the `analytics` queue: only what the rollups count of each record, so that
 * its messages stay small whatever the record's payload (a few hundred bytes per record instead of
 * the whole record) and no record is ever too large for the queue. A whole RelayMessage (sent by
 * older producers) is read the same way: it has these fields.
 *
 * `derived`: the timeline entry the event derived in the same commit. It travels inside its event's
 * message so that both are counted under the event's one processed marker.
 */
export type AnalyticsMessage =
  | { kind: 'event'; tenant_id: string; event: EventCount; derived?: EntryCount }
  | { kind: 'contact_event'; tenant_id: string; contact_event: EntryCount }
  /**
   * Entries of one batch append, counted under one processed marker (`marker`, the first entry's id):
   * one marker row for up to ENTRIES_PER_MARKER entries instead of one each. They always travel together.
   */
  | { kind: 'contact_events'; tenant_id: string; marker: string; contact_events: EntryCount[] }
  /**
   * Log events of one append to a hub (two or more), each with the entry it derived, counted under one
   * processed marker (`marker`, the first event's id) like a batch's entries. They always travel together.
   */
  | { kind: 'events'; tenant_id: string; marker: string; events: { event: EventCount; derived?: EntryCount }[] };

/** Entries per analytics message of a batch (and per marker): a message stays far under the queue's limit. */
export const ENTRIES_PER_MARKER = 250;
/** Log events per analytics message of one append (and per marker): each may carry its derived entry too. */
export const EVENTS_PER_MARKER = 100;

/** A log event's analytics message (with the entry it derived, if any). */
export function eventCountMessage(tenantId: string, e: EventCount, derived?: EntryCount): AnalyticsMessage {
  const event = eventCount(e);
  return derived ? { kind: 'event', tenant_id: tenantId, event, derived: entryCount(derived) } : { kind: 'event', tenant_id: tenantId, event };
}

const eventCount = (e: EventCount): EventCount => ({ id: e.id, event_type: e.event_type, source: e.source, timestamp: e.timestamp });

/** The analytics messages of one append's log events: EVENTS_PER_MARKER at a time, each under its first event's id. */
export function eventsCountMessages(tenantId: string, events: { event: EventCount; derived?: EntryCount | undefined }[]): AnalyticsMessage[] {
  const out: AnalyticsMessage[] = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_MARKER) {
    const part = events.slice(i, i + EVENTS_PER_MARKER).map((e) => (e.derived ? { event: eventCount(e.event), derived: entryCount(e.derived) } : { event: eventCount(e.event) }));
    out.push({ kind: 'events', tenant_id: tenantId, marker: part[0]!.event.id, events: part });
  }
  return out;
}

/** A timeline entry's analytics message. */
export function entryCountMessage(tenantId: string, e: EntryCount): AnalyticsMessage {
  return { kind: 'contact_event', tenant_id: tenantId, contact_event: entryCount(e) };
}

/** The analytics messages of a batch's entries: ENTRIES_PER_MARKER at a time, each under its first entry's id. */
export function entriesCountMessages(tenantId: string, entries: EntryCount[]): AnalyticsMessage[] {
  const out: AnalyticsMessage[] = [];
  for (let i = 0; i < entries.length; i += ENTRIES_PER_MARKER) {
    const part = entries.slice(i, i + ENTRIES_PER_MARKER).map(entryCount);
    out.push({ kind: 'contact_events', tenant_id: tenantId, marker: part[0]!.id, contact_events: part });
  }
  return out;
}

const entryCount = (e: EntryCount): EntryCount => ({ id: e.id, event_type: e.event_type, source: e.source, category: e.category, occurred_at: e.occurred_at });

/** What can happen to a timeline entry after its append, once each. */
export type EntryReceipt = 'read' | 'delivered';

export const relayMessageId = (m: RelayMessage | AnalyticsMessage): string =>
  m.kind === 'event'
    ? m.event.id
    : m.kind === 'contact_event'
      ? m.contact_event.id
      : m.kind === 'contact_events' || m.kind === 'events'
        ? m.marker
        : `${m.contact_event.id}:${m.receipt}`;

/** The ids of the records one message carries: its own, the derived entry an analytics event message carries, a batch's entries. */
export const relayMessageIds = (m: RelayMessage | AnalyticsMessage): string[] =>
  m.kind === 'contact_events'
    ? m.contact_events.map((e) => e.id)
    : m.kind === 'events'
      ? m.events.flatMap((e) => (e.derived ? [e.event.id, e.derived.id] : [e.event.id]))
      : m.kind === 'event' && 'derived' in m && m.derived
        ? [m.event.id, m.derived.id]
        : [relayMessageId(m)];
