import { jsonBytes } from './json';

/** Documented limits (docs/api.md "Limits"). Each is enforced with a 4xx problem response. */
export const LIMITS = {
  bodyBytes: 1024 * 1024,
  payloadBytes: 64 * 1024,
  metadataBytes: 16 * 1024,
  batchItems: 1000,
  pageSize: 1000,
  defaultPageSize: 100,
  eventTypeLength: 100,
  idempotencyKeyLength: 255,
  titleLength: 500,
  descriptionLength: 10_000,
  /**
   * Nesting of a JSON field (payload, metadata, state): the field's own object is level 1. Far below
   * SQLite's JSON depth limit (1,000), which D1 and the hubs' json_extract reads would otherwise hit
   * on a stored record (its payload sits a level or two deeper than the caller sent it).
   */
  jsonDepth: 64,
} as const;

/**
 * The largest record (an event or a timeline entry as committed: its JSON, UTF-8) the platform takes.
 * A relayed record travels whole in one queue message, and Queues refuse a message over 128,000
 * bytes; field limits alone do not bound it (a description of 10,000 control characters is 60,000
 * bytes of JSON). The margin covers the message envelope.
 */
export const RECORD_BYTES = 100_000;

/** The fields of a timeline entry its caller chooses; the rest of the record is the platform's. */
export interface EntryFields {
  event_type: string;
  category: string;
  priority?: string | undefined;
  source: string;
  title?: string | null | undefined;
  description?: string | null | undefined;
  payload?: Record<string, unknown> | undefined;
  metadata?: Record<string, unknown> | undefined;
  integration_source?: string | null | undefined;
}

const UUID = '00000000-0000-0000-0000-000000000000';
// The longest ISO time Date can print (an expanded year): no stored time is longer.
const TIME = '+275760-09-13T00:00:00.000Z';

/**
 * The byte size the committed record of a timeline entry with these fields will have at most: the
 * fields the hub fills (ids, sequence number, times, receipts) are counted at their longest.
 */
export function entryRecordBytes(e: EntryFields): number {
  return jsonBytes({
    id: UUID,
    contact_id: UUID,
    sequence_number: Number.MAX_SAFE_INTEGER,
    session_id: UUID,
    event_type: e.event_type,
    category: e.category,
    priority: e.priority ?? 'normal',
    title: e.title ?? null,
    description: e.description ?? null,
    payload: e.payload ?? {},
    metadata: e.metadata ?? {},
    source: e.source,
    triggered_by: UUID,
    integration_source: e.integration_source ?? null,
    is_realtime: false,
    delivered: false,
    delivered_at: TIME,
    read: false,
    read_at: TIME,
    visible_to_client: false,
    visible_to_agent: false,
    expires_at: TIME,
    occurred_at: TIME,
    created_at: TIME,
    origin_event_id: UUID,
  });
}

/** The longest prefix of `s` of at most `chars` UTF-16 units that does not end inside a surrogate pair. */
function prefix(s: string, chars: number): string {
  if (s.length <= chars) return s;
  const code = s.charCodeAt(chars - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? chars - 1 : chars);
}

/**
 * A timeline entry derived from a log event copies its title and description from the event's
 * payload, which keeps the full text: the copies are cut to the timeline's field limits, and the
 * description further until the record is within RECORD_BYTES. (Without the description the record is
 * at most the payload's 64 KiB plus a title, so it always fits.)
 */
export function fitDerivedText<T extends EntryFields>(entry: T): T {
  const title = typeof entry.title === 'string' ? prefix(entry.title, LIMITS.titleLength) : entry.title;
  let description = typeof entry.description === 'string' ? prefix(entry.description, LIMITS.descriptionLength) : entry.description;
  const over = entryRecordBytes({ ...entry, title, description }) - RECORD_BYTES;
  if (over > 0 && typeof description === 'string') {
    // Binary search on the length: JSON escapes make bytes per character vary (1 to 6).
    const target = jsonBytes(description) - over;
    let lo = 0;
    let hi = description.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (jsonBytes(prefix(description, mid)) <= target) lo = mid;
      else hi = mid - 1;
    }
    description = prefix(description, lo);
  }
  return { ...entry, title, description };
}
