import type { ContactEventRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';

/** Who a hub belongs to. A contact's hub owns the stream `contact-<id>`; other aggregates get their own. */
export interface HubOwner {
  tenantId: string;
  kind: 'contact' | 'stream';
  /** The contact id, or the stream id for other aggregates. */
  id: string;
}

export const contactStreamId = (contactId: string) => `contact-${contactId}`;

export type { PreparedEntry, PreparedEvent } from '../domain/prepared';

/** Optimistic concurrency on append (KurrentDB's expected-version modes). */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'stream_exists';

export type AppendOutcome<T> =
  | { ok: true; created: boolean; records: T[]; derived: ContactEventRecord[]; version: number }
  | { ok: false; reason: 'conflict'; detail: string; current_version: number }
  | { ok: false; reason: 'wrong_expected_version'; detail: string; current_version: number };

export type EventAppendOutcome = AppendOutcome<EventRecord>;
export type EntryAppendOutcome = AppendOutcome<ContactEventRecord>;

export interface TimelineQuery {
  limit: number;
  offset: number;
  visibleTo?: 'client' | 'agent';
  category?: string;
  type?: string;
  sessionId?: string;
  afterSequence?: number;
  includeExpired?: boolean;
  /** Oldest first (resume, export) instead of newest first. */
  ascending?: boolean;
}

export interface TimelinePage {
  events: ContactEventRecord[];
  total: number;
}

/** A change to the timeline, as the hub announces it to its sockets. */
export type TimelineChange =
  | { type: 'event'; entry: ContactEventRecord }
  | { type: 'read'; id: string; read_at: string }
  | { type: 'delivered'; id: string; delivered_at: string }
  | { type: 'deleted'; id: string };

/** What a hub's erase removed, per store (the archives are counted by the Worker, which rewrites them). */
export interface HubEraseCounts {
  hub_events: number;
  hub_entries: number;
  events: number;
  contact_events: number;
  projections: number;
  snapshots: number;
  webhook_deliveries: number;
  delivery_attempts: number;
  /** The counter kept across the erase (the tombstone): the next entry gets this + 1. */
  sequence_number: number;
}

export const NOTHING_ERASED: HubEraseCounts = {
  hub_events: 0,
  hub_entries: 0,
  events: 0,
  contact_events: 0,
  projections: 0,
  snapshots: 0,
  webhook_deliveries: 0,
  delivery_attempts: 0,
  sequence_number: 0,
};
