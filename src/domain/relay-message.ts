import type { TimelineEntryRecord } from './schemas/contact-events';
import type { EventRecord } from './schemas/events';

/**
 * What the relay puts on the `webhooks` and `analytics` queues: the whole committed record. In domain/
 * because the rules that read it (analytics rollups, webhook filters) must not import the queues.
 */
export type RelayMessage =
  /**
   * `derived` (analytics queue only): what the rollups count of the timeline entry the event derived
   * in the same commit. It travels inside its event's message so that both are counted under the
   * event's one processed marker; only these fields, so that the message is hardly larger than the
   * event's own (the largest event the field limits allow must still fit one queue message).
   */
  | { kind: 'event'; tenant_id: string; event: EventRecord; derived?: DerivedEntryCount }
  | { kind: 'contact_event'; tenant_id: string; contact_event: TimelineEntryRecord }
  /**
   * A timeline entry that became read or delivered (once per entry and transition): the entry as it is
   * after the change. Webhooks only: analytics counts entries, not what happened to them later.
   */
  | { kind: 'contact_event_receipt'; tenant_id: string; receipt: EntryReceipt; contact_event: TimelineEntryRecord };

export type DerivedEntryCount = Pick<TimelineEntryRecord, 'id' | 'event_type' | 'source' | 'category' | 'occurred_at'>;

/** What can happen to a timeline entry after its append, once each. */
export type EntryReceipt = 'read' | 'delivered';

export const relayMessageId = (m: RelayMessage): string =>
  m.kind === 'event' ? m.event.id : m.kind === 'contact_event' ? m.contact_event.id : `${m.contact_event.id}:${m.receipt}`;

/** The ids of the records one message carries: its own, and the derived entry an event message carries. */
export const relayMessageIds = (m: RelayMessage): string[] =>
  m.kind === 'event' && m.derived ? [m.event.id, m.derived.id] : [relayMessageId(m)];
