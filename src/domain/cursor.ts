/**
 * The opaque `cursor` of GET /events: the (timestamp, position) of the last row served and the sort
 * order it belongs to. A keyset, not an offset, so pages stay stable while events are appended: no row
 * is served twice and none that existed is skipped.
 */
export interface EventCursor {
  timestamp: number;
  position: number;
  order: 'asc' | 'desc';
}

const toBase64Url = (text: string) => btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');

export function encodeCursor(c: EventCursor): string {
  return toBase64Url(JSON.stringify([1, c.timestamp, c.position, c.order]));
}

/** The cursor, or null when it was not made by encodeCursor (tampered, truncated or from another version). */
export function decodeCursor(value: string): EventCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) return null;
  try {
    const text = atob(value.replaceAll('-', '+').replaceAll('_', '/'));
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed) || parsed.length !== 4 || parsed[0] !== 1) return null;
    const [, timestamp, position, order] = parsed as unknown[];
    if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(position) || (position as number) < 0) return null;
    if (order !== 'asc' && order !== 'desc') return null;
    return { timestamp: timestamp as number, position: position as number, order };
  } catch {
    return null;
  }
}
