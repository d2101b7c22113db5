import type { EventRecord } from './schemas/events';

/**
 * One CSV field (RFC 4180): a field holding a comma, a double quote, CR or LF is quoted, its quotes
 * doubled; objects are written as JSON text. Text that a spreadsheet would run as a formula (= + - @
 * and tab/CR at the start) is prefixed with an apostrophe: exports hold text typed by contacts, agents
 * and API callers, and a CSV is opened in a spreadsheet more often than parsed. Every export (the log's
 * and the timeline's) writes its cells through this one function.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvLine = (fields: unknown[]) => `${fields.map(csvField).join(',')}\r\n`;

/** Export columns: the event's fields, payload and metadata as JSON text. */
export const EVENT_CSV_COLUMNS = [
  'id', 'event_type', 'source', 'contact_id', 'session_id', 'message_id', 'correlation_id', 'causation_id', 'stream_id',
  'sequence_number', 'schema_version', 'position', 'timestamp', 'created_at', 'payload', 'metadata',
] as const;

const str = (v: unknown) => (typeof v === 'string' ? v : null);

export function eventCsvLine(e: EventRecord): string {
  return csvLine([
    e.id, e.event_type, e.source, e.contact_id, e.session_id, e.message_id, str(e.metadata.correlation_id), str(e.metadata.causation_id),
    e.stream_id, e.sequence_number, e.schema_version, e.position ?? null, e.timestamp, e.created_at, JSON.stringify(e.payload), JSON.stringify(e.metadata),
  ]);
}
