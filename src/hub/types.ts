import type { D1EraseCounts } from '../db/erase';
import type { HubKeyState } from '../db/owners';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';

/** Who a hub belongs to. A contact's hub owns the stream `contact-<id>`; other aggregates get their own. */
export interface HubOwner {
  tenantId: string;
  kind: 'contact' | 'stream';
  /** The contact id, or the stream id for other aggregates. */
  id: string;
}

export const contactStreamId = (contactId: string) => `contact-${contactId}`;

/** The stream a hub owns. */
export const ownerStreamId = (owner: HubOwner): string => (owner.kind === 'contact' ? contactStreamId(owner.id) : owner.id);

/**
 * The name a hub is addressed by (`idFromName`), `<tenant>:contact:<contact id>` or
 * `<tenant>:stream:<stream id>`: the hub reads its owner back from it (`ctx.id.name`).
 */
export const hubName = (owner: HubOwner): string => `${owner.tenantId}:${owner.kind}:${owner.id}`;

/** The owner a hub name names; null for a name no hub is given. (Tenant ids hold no colon; stream ids may.) */
export function hubOwnerOf(name: string): HubOwner | null {
  const m = /^([^:]+):(contact|stream):(.+)$/.exec(name);
  return m ? { tenantId: m[1]!, kind: m[2] as HubOwner['kind'], id: m[3]! } : null;
}



export type AppendOutcome<T> =
  /** `hub_key`: whether ids that name this hub are found from their hash (src/db/owners.ts), null until registered. */
  | { ok: true; created: boolean; records: T[]; derived: TimelineEntryRecord[]; version: number; hub_key?: HubKeyState | null }
  | { ok: false; reason: 'conflict'; detail: string; current_version: number }
  | { ok: false; reason: 'wrong_expected_version'; detail: string; current_version: number };

export type EventAppendOutcome = AppendOutcome<EventRecord>;
export type EntryAppendOutcome = AppendOutcome<TimelineEntryRecord>;

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
  events: TimelineEntryRecord[];
  total: number;
}

/** A change to the timeline, as the hub announces it to its sockets. */
export type TimelineChange =
  | { type: 'event'; entry: TimelineEntryRecord }
  | { type: 'read'; id: string; read_at: string }
  /** `marked` entries up to `up_to` (those the unread count counted) became read at `read_at`. */
  | { type: 'read_range'; up_to: number; read_at: string; marked: number }
  | { type: 'delivered'; id: string; delivered_at: string }
  | { type: 'deleted'; id: string };

/** What a hub's erase removed, per store (the archives are counted by the Worker, which rewrites them). */
export interface HubEraseCounts extends D1EraseCounts {
  hub_events: number;
  hub_entries: number;
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
