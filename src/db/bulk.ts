import { getTableName, type Table } from 'drizzle-orm';
import type { D1Row } from './client';

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
): D1PreparedStatement {
  // Each row travels as an array in column order, not an object: the column names would otherwise be
  // repeated in every row, a third or more of the parameter's bytes, which D1 carries and parses per row.
  const select = columns.map((_, i) => `j.value->>${i}`).join(', ');
  return d1
    .prepare(
      `INSERT INTO ${getTableName(table)} (tenant_id, ${columns.join(', ')})
       SELECT ?1, ${select} FROM json_each(?2) AS j WHERE true
       ${onConflict}`,
    )
    .bind(tenantId, JSON.stringify(rows.map((r) => columns.map((c) => r[c] ?? null))));
}
