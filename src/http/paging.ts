import { decodeCursor, encodeCursor, type CursorKey } from '../domain/cursor';
import { validationFailed } from './problem';

/**
 * Lists of resources page one way: `limit` and `cursor` in, `next_cursor` out (null on the last page),
 * with the one cursor codec (src/domain/cursor.ts). `list` names the list inside the cursor, so a
 * cursor from one list is refused by another.
 */
export function cursorKey(cursor: string | undefined, list: string, shape: readonly ('string' | 'number')[]): CursorKey[] | undefined {
  if (cursor === undefined) return undefined;
  const key = decodeCursor(cursor, list);
  if (!key || key.length !== shape.length || key.some((k, i) => typeof k !== shape[i])) {
    throw validationFailed([{ path: 'query.cursor', message: 'is not a next_cursor of this list' }]);
  }
  return key;
}

/** For a page read with one row more than `limit`: the page and the cursor past its last row. */
export function cutPage<T>(rows: T[], limit: number, list: string, keyOf: (row: T) => CursorKey[]): { page: T[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, next_cursor: rows.length > limit && last !== undefined ? encodeCursor(list, keyOf(last)) : null };
}

function compareKeys(a: readonly CursorKey[], b: readonly CursorKey[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * Keyset paging over a list read whole: for lists small by nature (tenants, API keys, log consumers,
 * projections), where one read is cheaper than a query per page. `items` in any order; pages follow
 * ascending key order, or descending with `descending`.
 */
export function pageInMemory<T>(
  items: T[],
  opts: { limit: number; cursor: string | undefined; list: string; key: (item: T) => CursorKey[]; shape: readonly ('string' | 'number')[]; descending?: boolean },
): { page: T[]; next_cursor: string | null } {
  const after = cursorKey(opts.cursor, opts.list, opts.shape);
  const sign = opts.descending ? -1 : 1;
  const sorted = items.map((item) => ({ item, key: opts.key(item) })).sort((a, b) => sign * compareKeys(a.key, b.key));
  const rest = after === undefined ? sorted : sorted.filter((x) => sign * compareKeys(x.key, after) > 0);
  const { page, next_cursor } = cutPage(rest, opts.limit, opts.list, (x) => x.key);
  return { page: page.map((x) => x.item), next_cursor };
}

/** A cursor that carries a position in the list (the next offset), for lists whose order has no stable key (search rank). */
export const offsetCursor = (list: string, offset: number): string => encodeCursor(list, [offset]);

export function offsetOf(cursor: string | undefined, list: string): number {
  const key = cursorKey(cursor, list, ['number']);
  return key === undefined ? 0 : (key[0] as number);
}
