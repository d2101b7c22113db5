/**
 * The realtime protocol's wire types and the problem-object builder, shared by the server (the hub's
 * sockets, the stream route, the HTTP error bodies) and the client library. It imports nothing, so
 * that the browser bundle of the client never pulls server code in; the server checks at compile
 * time that what it sends matches these shapes (src/hub/protocol.ts).
 */

export type Role = 'agent' | 'client';

/** A timeline entry as the API and the socket send it. */
export interface TimelineEntry {
  id: string;
  contact_id: string;
  sequence_number: number;
  session_id: string | null;
  event_type: string;
  category: string;
  priority: 'low' | 'normal' | 'high' | 'urgent';
  title: string | null;
  description: string | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  source: string;
  triggered_by: string | null;
  integration_source: string | null;
  is_realtime: boolean;
  delivered: boolean;
  delivered_at: string | null;
  read: boolean;
  read_at: string | null;
  visible_to_client: boolean;
  visible_to_agent: boolean;
  expires_at: string | null;
  occurred_at: string;
  created_at: string;
  origin_event_id: string | null;
}

export interface PresenceAgent {
  agent_id: string;
  name: string | null;
}

export interface FieldError {
  path: string;
  message: string;
}

/** The RFC 9457 members every Eventline problem has (HTTP bodies add `instance`, `request_id`, …). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
}

/** Every problem type is a URL under this base followed by its slug (`…/problems/validation`). */
export const PROBLEM_BASE = 'https://eventline.dev/problems/';

/** The one builder of problem objects: socket error frames and HTTP problem bodies both start here. */
export function problem(slug: string, title: string, status: number, detail: string, errors?: FieldError[]): Problem {
  return { type: PROBLEM_BASE + slug, title, status, detail, ...(errors ? { errors } : {}) };
}

/**
 * Server → client frames. `Entry` is the timeline entry type: the server instantiates it with its
 * own record type (which must be assignable to TimelineEntry), clients use TimelineEntry.
 */
export type ServerFrame<Entry = TimelineEntry> =
  | { type: 'ready'; role: Role; agent_id: string | null; last_sequence_number: number; after: number; reset?: true }
  | { type: 'event'; sequence_number: number; entry: Entry; redelivery?: true }
  | { type: 'caught_up'; last_sequence_number: number }
  | { type: 'read'; id: string; read_at: string }
  /**
   * Every entry with `sequence_number` ≤ `up_to` that was unread and not expired at `read_at` is now
   * read at `read_at` (`marked` of them); entries read before keep their first read time.
   */
  | { type: 'read_range'; up_to: number; read_at: string; marked: number }
  | { type: 'deleted'; id: string }
  | { type: 'presence'; agents: PresenceAgent[] }
  | { type: 'typing'; agent_id: string | null; name: string | null; role: Role }
  | { type: 'pong' }
  | { type: 'error'; problem: Problem; close_code?: number };

export type ReadRange = Omit<Extract<ServerFrame, { type: 'read_range' }>, 'type'>;

/**
 * Whether a `read_range` frame made this entry read, by the hub's own rule (the unread count's): an
 * agent-visible entry up to `up_to` that was unread and had not expired at `read_at`. What an
 * application holds then matches the hub without a reload.
 */
export function readByRange(entry: TimelineEntry, range: ReadRange): boolean {
  if (entry.read || !entry.visible_to_agent || entry.sequence_number > range.up_to) return false;
  return entry.expires_at === null || Date.parse(entry.expires_at) > Date.parse(range.read_at);
}

/** Client → server frames. */
export type ClientFrame =
  | { type: 'ack'; sequence_number: number }
  | { type: 'read'; id: string }
  | { type: 'typing' }
  | { type: 'ping' };

/**
 * The inbox stream (`GET /api/v1/inbox/stream`): one socket per agent, many contacts. Per contact the
 * frames are the contact stream's, each with `contact_id`; docs/realtime.md "Inbox" has the contract.
 */
export const MAX_INBOX_CONTACTS = 500;

/** Server → client frames of the inbox stream. */
export type InboxServerFrame<Entry = TimelineEntry> =
  | { type: 'ready'; role: 'agent'; agent_id: string; max_contacts: number }
  | { type: 'subscribed'; contact_id: string; last_sequence_number: number; after: number; unread: number; reset?: true }
  | { type: 'unsubscribed'; contact_id: string }
  | { type: 'event'; contact_id: string; sequence_number: number; entry: Entry; redelivery?: true }
  | { type: 'caught_up'; contact_id: string; last_sequence_number: number }
  | { type: 'read'; contact_id: string; id: string; read_at: string }
  | { type: 'deleted'; contact_id: string; id: string }
  | { type: 'presence'; contact_id: string; agents: PresenceAgent[] }
  | { type: 'typing'; contact_id: string; agent_id: string | null; name: string | null; role: Role }
  | { type: 'unread'; contact_id: string; unread: number }
  | { type: 'pong' }
  | { type: 'error'; problem: Problem; contact_id?: string; close_code?: number };

/** Client → server frames of the inbox stream. */
export type InboxClientFrame =
  | { type: 'subscribe'; contact_id: string; after?: number }
  | { type: 'unsubscribe'; contact_id: string }
  | { type: 'ack'; contact_id: string; sequence_number: number }
  | { type: 'read'; contact_id: string; id: string }
  | { type: 'typing'; contact_id: string }
  | { type: 'ping' };

/** Close codes the server uses besides refusals (4000 + the refusal's HTTP status). */
export const CLOSE = {
  /** A frame over the size limit. */
  frameTooLarge: 4413,
  /** The contact was erased. */
  erased: 4410,
  /** The realtime token the socket connected with expired, or its API key was revoked. */
  tokenExpired: 4401,
  /** The hub could not serve the socket (catch-up failed). */
  internal: 4500,
} as const;

/** The close code of a refused connection: 4000 + the problem's HTTP status (4xx), else 4500. */
export const refusalCloseCode = (status: number): number => (status >= 400 && status < 500 ? 4000 + status : CLOSE.internal);
