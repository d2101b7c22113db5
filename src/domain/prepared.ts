import type { Category, Priority, TimelineSource } from './contact-event-types';
import type { EventSource } from './event-types';

/*
 * What the Worker hands a hub to commit: items validated, defaulted and hashed (src/domain/prepare.ts).
 * Here, in domain/, so that the rules that build them import nothing from the layers that use them.
 */

/** A log event validated and hashed by the Worker; the hub only sequences and commits it. */
export interface PreparedEvent {
  /** The client's id, or one the server chose: a random UUID, which a hub's append readdresses (idChosen false). */
  id: string;
  idChosen: boolean;
  idempotencyKey: string | null;
  /** SHA-256 of the canonical body; '' when the item cannot be a replay (see `fresh`). */
  requestHash: string;
  /** A server-chosen id and no idempotency key: no earlier commit can hold it, nothing to look up. */
  fresh?: boolean;
  event_type: string;
  source: EventSource;
  contact_id: string | null;
  session_id: string | null;
  message_id: string | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  timestamp: number;
  schema_version: number;
  /**
   * The id of the timeline entry this event derives, chosen by the Worker with the event's (an id that
   * names the contact's hub, src/append/hub-append.ts); the hub draws one when absent.
   */
  derivedEntryId?: string;
}

/** A timeline entry validated (defaults applied) and hashed by the Worker. */
export interface PreparedEntry {
  /** As PreparedEvent's. */
  id: string;
  idChosen: boolean;
  idempotencyKey: string | null;
  /** SHA-256 of the canonical body; '' when the item cannot be a replay (see `fresh`). */
  requestHash: string;
  /** A server-chosen id and no idempotency key: no earlier commit can hold it, nothing to look up. */
  fresh?: boolean;
  event_type: string;
  category: Category;
  priority: Priority;
  source: TimelineSource;
  session_id: string | null;
  title: string | null;
  description: string | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  triggered_by: string | null;
  integration_source: string | null;
  is_realtime: boolean;
  visible_to_client: boolean;
  visible_to_agent: boolean;
  expires_at: number | null;
  occurred_at: number;
}
