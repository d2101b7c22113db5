/**
 * The one codec of every `cursor` the API hands out (`next_cursor`): an opaque, URL-safe token that
 * holds the key of the last item served and the list it belongs to. Most lists use it as a keyset
 * (pages stay stable while items are added: none is served twice, none that existed is skipped).
 * The list's name is inside, so a cursor of one list is refused by another.
 */
import { fromBase64Url, toBase64Url } from './base64url';

export type CursorKey = string | number;

const VERSION = 1;
const MAX_LENGTH = 400;

export function encodeCursor(list: string, key: readonly CursorKey[]): string {
  // UTF-8: keys (names) may hold any character.
  return toBase64Url(new TextEncoder().encode(JSON.stringify([VERSION, list, ...key])));
}

/** The key, or null when the value was not made by encodeCursor for this list (tampered, truncated, another list). */
export function decodeCursor(value: string, list: string): CursorKey[] | null {
  if (value.length === 0 || value.length > MAX_LENGTH) return null;
  const bytes = fromBase64Url(value);
  if (!bytes) return null;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed) || parsed[0] !== VERSION || parsed[1] !== list) return null;
    const key = parsed.slice(2) as unknown[];
    if (!key.every((k) => typeof k === 'string' || (typeof k === 'number' && Number.isSafeInteger(k)))) return null;
    return key as CursorKey[];
  } catch {
    return null;
  }
}

/** GET /events: the (timestamp, position) of the last row served and the sort order it belongs to. */
export interface EventCursor {
  timestamp: number;
  position: number;
  order: 'asc' | 'desc';
}

export const encodeEventCursor = (c: EventCursor): string => encodeCursor('events', [c.timestamp, c.position, c.order]);

export function decodeEventCursor(value: string): EventCursor | null {
  const key = decodeCursor(value, 'events');
  if (!key || key.length !== 3) return null;
  const [timestamp, position, order] = key;
  if (typeof timestamp !== 'number' || typeof position !== 'number' || position < 0) return null;
  if (order !== 'asc' && order !== 'desc') return null;
  return { timestamp, position, order };
}
