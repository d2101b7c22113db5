import type { TimelineEntryRecord } from './schemas/contact-events';
import { csvField } from './csv';
import { DAY_MS } from './time';

/** Rules of the contact timeline that need no bindings: expiry grace, search syntax, export format. */


/** Entries whose expires_at is before this (ms) are deleted by the expiry job. */
export function expiryCutoff(now: number, graceDays: number): number {
  return now - graceDays * DAY_MS;
}

/**
 * A user's search text → an FTS5 MATCH expression. Every word becomes a quoted prefix term, so that
 * FTS5 operators and punctuation in the text are searched for literally instead of failing the query
 * with a syntax error; the terms are ANDed. Null when the text holds no word at all.
 */
export function ftsQuery(text: string): string | null {
  const words = text.match(/[\p{L}\p{N}_]+/gu);
  if (!words || words.length === 0) return null;
  return words
    .slice(0, 16)
    .map((w) => `"${w.replaceAll('"', '""')}"*`)
    .join(' ');
}

const CSV_COLUMNS = [
  'sequence_number', 'id', 'occurred_at', 'created_at', 'event_type', 'category', 'priority', 'source', 'title', 'description',
  'session_id', 'triggered_by', 'integration_source', 'is_realtime', 'delivered', 'delivered_at', 'read', 'read_at',
  'visible_to_client', 'visible_to_agent', 'expires_at', 'origin_event_id', 'payload', 'metadata',
] as const satisfies readonly (keyof TimelineEntryRecord)[];

export { csvField };

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

export function csvRows(entries: TimelineEntryRecord[]): string {
  return entries.map((e) => `${CSV_COLUMNS.map((c) => csvField(e[c])).join(',')}\r\n`).join('');
}

/** The 1-based `page` an offset-based listing answers. */
export const pageOf = (offset: number, limit: number): number => Math.floor(offset / limit) + 1;
