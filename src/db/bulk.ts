import { getTableName, type Table } from 'drizzle-orm';
import type { D1Row } from './client';

/**
 * A JSON array parameter's items as the rows of a CTE `json_rows` (`k`: the item's index; `v`: the item
 * as JSONB), for `WITH ${jsonRows('?2')} INSERT … SELECT … FROM json_rows`. Each item is converted to
 * binary JSON once and `v->>i` reads a value out of it, where `j.value->>i` on json_each's text would
 * parse the item again for every column read (measured locally, 100 rows of 26 columns in one
 * statement: 1.6–2.9 ms that way, 1.0–1.2 ms this way, against 0.6–1.1 ms for `SELECT 1`).
 */
export const jsonRows = (param: string): string =>
  `json_rows AS MATERIALIZED (SELECT j.key AS k, jsonb(j.value) AS v FROM json_each(${param}) AS j)`;

/**
 * One INSERT for many rows: the rows travel as a single JSON parameter read back with json_each,
 * which sidesteps D1's 100-bound-parameter limit per statement. Values must already be column-ready
 * (numbers, strings — JSON columns pre-serialized — booleans or null). Rows insert in array order.
 */
export function bulkInsert<T extends Table>(
  d1: D1Database,
  table: T,
  tenantId: string,
  columns: readonly (keyof D1Row<T> & string)[],
  rows: readonly Partial<Record<keyof D1Row<T>, unknown>>[],
  onConflict: string,
  /** A condition on each row (`v->>i` is the value of columns[i]): rows that fail it are not inserted. */
  filter = 'true',
): D1PreparedStatement {
  // Each row travels as an array in column order, not an object: the column names would otherwise be
  // repeated in every row, a third or more of the parameter's bytes, which D1 carries and parses per row.
  const select = columns.map((_, i) => `v->>${i}`).join(', ');
  return d1
    .prepare(
      `WITH ${jsonRows('?2')}
       INSERT INTO ${getTableName(table)} (tenant_id, ${columns.join(', ')})
       SELECT ?1, ${select} FROM json_rows WHERE ${filter} ORDER BY k
       ${onConflict}`,
    )
    .bind(tenantId, JSON.stringify(rows.map((r) => columns.map((c) => r[c] ?? null))));
}
