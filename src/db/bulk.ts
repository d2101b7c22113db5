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
  const select = columns.map((c) => `j.value->>'${c}'`).join(', ');
  return d1
    .prepare(
      `INSERT INTO ${getTableName(table)} (tenant_id, ${columns.join(', ')})
       SELECT ?1, ${select} FROM json_each(?2) AS j WHERE true
       ${onConflict}`,
    )
    .bind(tenantId, JSON.stringify(rows));
}
