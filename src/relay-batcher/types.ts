import type { EventInsert } from '../db/events';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { AnalyticsMessage, EntryReceipt, RelayMessage } from '../domain/relay-message';

/*
 * What a hub's relay hands to a RelayBatcher, and what it answers. The rows are the hub's outbox rows
 * (src/hub/outbox.ts) as they are stored.
 */

/** An outbox row's body, by kind. */
export type OutboxItem =
  /**
   * `derived`: the timeline entry derived from the event in the same commit. It rides the event's row
   * (one outbox insert and delete for both, instead of two) and is relayed as its own upsert and message.
   */
  | { kind: 'event'; insert: EventInsert; derived?: TimelineEntryRecord }
  /** `receipt`: the change made the entry read or delivered, which the webhooks queue hears of. */
  | { kind: 'timeline'; record: TimelineEntryRecord; revision: number; announce: boolean; receipt?: EntryReceipt }
  /**
   * The entries of one batch append (two or more), committed together: one outbox row (one insert and
   * one delete) for the whole request instead of one per entry, relayed as one upsert per entry. Like an
   * event and its derived entry, they are parked together should a destination refuse the row.
   */
  | { kind: 'entries'; records: TimelineEntryRecord[] }
  /** The log events of one append of two or more, each with the entry it derives: likewise one row. */
  | { kind: 'events'; items: { insert: EventInsert; derived?: TimelineEntryRecord }[] }
  /**
   * A deleted entry, by its key in D1 (contact_id, sequence_number). Rows stored by earlier versions name
   * the id alone.
   */
  | { kind: 'timeline_delete'; id: string; contact_id?: string; sequence_number?: number };

/** A batch's row stands for the rows of its parts: an 'event' row per event, a 'timeline' row per entry (else null). */
export function batchParts(item: OutboxItem): OutboxItem[] | null {
  if (item.kind === 'entries') return item.records.map((record) => ({ kind: 'timeline', record, revision: 1, announce: true }));
  if (item.kind === 'events') return item.items.map((part): OutboxItem => ({ kind: 'event', ...part }));
  return null;
}

/** How many rows a row stands for: a batch's parts (its id is the last of a range this long), else 1. */
export function partCount(item: OutboxItem): number {
  return item.kind === 'entries' ? item.records.length : item.kind === 'events' ? item.items.length : 1;
}

/** The id of the record a row is named by (when parked, in tests): its own, or a batch's first. */
export function rowRecordId(item: OutboxItem): string {
  const first = batchParts(item)?.[0] ?? item;
  return first.kind === 'event' ? first.insert.record.id : first.kind === 'timeline' ? first.record.id : first.kind === 'timeline_delete' ? first.id : '';
}

/** Whether a row carries log events (which the tenant's projections fold once D1 has them). */
export function carriesEvents(item: OutboxItem): boolean {
  return item.kind === 'event' || item.kind === 'events';
}

/** The changes one outbox row carries: its own, the entry derived from an event, or a batch's parts'. */
export function outboxItems(item: OutboxItem): OutboxItem[] {
  const parts = batchParts(item);
  if (parts) return parts.flatMap(outboxItems);
  if (item.kind !== 'event' || !item.derived) return [item];
  return [
    { kind: 'event', insert: item.insert },
    { kind: 'timeline', record: item.derived, revision: 1, announce: true },
  ];
}

export interface OutboxRow {
  id: number;
  item: OutboxItem;
  /** Length of the stored body (UTF-16 units), when read from the outbox: a cheap bound of its size. */
  chars?: number;
  d1: boolean;
  wq: boolean;
  aq: boolean;
}

export type RelayQueue = 'webhooks' | 'analytics';

/** One hub's outbox rows bound for D1. */
export interface D1Pass {
  tenantId: string;
  rows: OutboxRow[];
}

/** One hub's relay pass, as handed to a RelayBatcher: any of the three destinations. */
export interface RelayRequest {
  d1?: D1Pass;
  webhooks?: RelayMessage[];
  analytics?: AnalyticsMessage[];
}
/**
 * Why a destination refused a pass. `isolated`: the same destination accepted other hubs' records in
 * the same batcher flush, so the failure is this pass's own (its records), not an outage.
 */
export interface RelayFailure {
  error: string;
  isolated: boolean;
}
/** Per destination: null when it got through, else why not. */
export type RelayResult = { [K in keyof RelayRequest]?: RelayFailure | null };

