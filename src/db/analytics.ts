import { splitRange, type GroupBy, type RollupItem, type RollupKind } from '../domain/analytics';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../domain/time';
import { jsonRows } from './bulk';

/** The consumer name under which the analytics consumer records processed events. */
export const ANALYTICS_CONSUMER = 'analytics';

/**
 * An item's fields in the statements' JSON parameter: each item travels as an array in this order
 * rather than as an object, so that the field names are not repeated (and parsed) in every item.
 */
const FIELDS = ['tenant_id', 'marker', 'kind', 'hour', 'day', 'event_type', 'source', 'category'] as const;
const f = (name: (typeof FIELDS)[number]) => `v->>${FIELDS.indexOf(name)}`;

const upsertInto = (table: 'analytics_hourly' | 'analytics_daily', bucket: 'hour' | 'day') => `
  WITH ${jsonRows('?1')}
  INSERT INTO ${table} (tenant_id, kind, ${bucket}, event_type, source, category, "count")
  SELECT ${f('tenant_id')}, ${f('kind')}, ${f(bucket)}, ${f('event_type')}, ${f('source')}, ${f('category')}, count(*)
  FROM json_rows
  WHERE NOT EXISTS (
    SELECT 1 FROM processed_events p
    WHERE p.consumer = '${ANALYTICS_CONSUMER}' AND p.tenant_id = ${f('tenant_id')} AND p.event_id = ${f('marker')}
  )
  GROUP BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (tenant_id, kind, ${bucket}, event_type, source, category) DO UPDATE SET "count" = "count" + excluded."count"`;

/**
 * The statements that count a batch, for ONE `d1.batch()` (one transaction): both rollups count
 * only the items with no processed marker yet, then the markers are inserted. A redelivered or
 * duplicated item finds its marker and counts nothing; a crash leaves either all three applied or
 * none. The last statement RETURNs the markers inserted now (for the Analytics Engine, best effort).
 * A marker guards every item that names it (an event and the entry it derived: one row, not two), so
 * the items of one marker must be in the same call. Items must be unique per (tenant, event id) — see
 * uniqueItems.
 */
export function rollupStatements(d1: D1Database, items: RollupItem[], now: number): D1PreparedStatement[] {
  const json = JSON.stringify(items.map((i) => FIELDS.map((k) => i[k])));
  return [
    d1.prepare(upsertInto('analytics_hourly', 'hour')).bind(json),
    d1.prepare(upsertInto('analytics_daily', 'day')).bind(json),
    d1
      .prepare(
        `WITH ${jsonRows('?1')}
         INSERT INTO processed_events (consumer, tenant_id, event_id, processed_at)
         SELECT DISTINCT '${ANALYTICS_CONSUMER}', ${f('tenant_id')}, ${f('marker')}, ?2 FROM json_rows WHERE true
         ON CONFLICT DO NOTHING
         RETURNING tenant_id, event_id`,
      )
      .bind(json, now),
  ];
}

export interface RollupFilter {
  kind: RollupKind;
  type?: string | undefined;
  source?: string | undefined;
  category?: string | undefined;
}

export interface RollupGroup {
  key: string | number;
  count: number;
}

/**
 * Counts from the rollups over [from, to) (both hour-aligned), grouped. Whole days come from the
 * daily table, the edges (and everything, for group_by=hour) from the hourly one.
 */
export async function queryRollups(
  d1: D1Database,
  tenantId: string,
  range: { from: number; to: number },
  groupBy: GroupBy,
  filter: RollupFilter,
): Promise<RollupGroup[]> {
  const args: (string | number)[] = [tenantId, filter.kind];
  const bind = (v: string | number) => {
    args.push(v);
    return `?${args.length}`;
  };
  const filters: string[] = [];
  if (filter.type !== undefined) filters.push(`event_type = ${bind(filter.type)}`);
  if (filter.source !== undefined) filters.push(`source = ${bind(filter.source)}`);
  if (filter.category !== undefined) filters.push(`category = ${bind(filter.category)}`);
  const extra = filters.map((f) => ` AND ${f}`).join('');
  const keyOf = (bucket: 'hour' | 'day'): string => {
    switch (groupBy) {
      case 'type':
        return 'event_type';
      case 'source':
        return 'source';
      case 'category':
        return 'category';
      case 'hour':
        return bucket;
      case 'day':
        return bucket === 'day' ? 'day' : `(hour / ${DAY_MS}) * ${DAY_MS}`;
    }
  };
  const parts: string[] = [];
  const { hours, days } = groupBy === 'hour' ? { hours: [[range.from, range.to] as [number, number]], days: null } : splitRange(range.from, range.to);
  for (const [from, to] of hours) {
    parts.push(
      `SELECT ${keyOf('hour')} AS k, "count" AS n FROM analytics_hourly
       WHERE tenant_id = ?1 AND kind = ?2 AND hour >= ${bind(from)} AND hour < ${bind(to)}${extra}`,
    );
  }
  if (days) {
    parts.push(
      `SELECT ${keyOf('day')} AS k, "count" AS n FROM analytics_daily
       WHERE tenant_id = ?1 AND kind = ?2 AND day >= ${bind(days[0])} AND day < ${bind(days[1])}${extra}`,
    );
  }
  const order = groupBy === 'hour' || groupBy === 'day' ? 'k ASC' : 'count DESC, k ASC';
  const { results } = await d1
    .prepare(`SELECT k AS key, sum(n) AS count FROM (${parts.join(' UNION ALL ')}) GROUP BY k ORDER BY ${order}`)
    .bind(...args)
    .all<{ key: string | number; count: number }>();
  return results;
}

export interface RollupStats {
  total: number;
  groups: { key: string; count: number }[];
}

/**
 * For GET /api/v1/events/stats: log-event counts of [since, until) from the rollups, or null when
 * the rollups cannot answer exactly — a bound missing or not on an hour boundary (an inclusive
 * `until` ending at hh:59:59.999 is accepted as the next hour). Hour keys come back as ISO strings.
 * Rollups keep counting events that retention has archived, and the current hour trails appends by
 * the relay + queue lag.
 */
/**
 * Whether the rollups can be trusted for [since, until]: rollups trail appends by the relay and
 * queue lag, and bucket by event time, so a backdated append lands in an old hour late. The range is
 * settled when none of the tenant's recent appends (its newest 1,000 by position, a cheap tail read)
 * falls in it within the last `settleMs` — and the tail reaches back past that window. NOT INDEXED: the
 * tail is the (tenant_id, position) primary key itself (events is WITHOUT ROWID), not the time index.
 */
export async function rollupsSettled(d1: D1Database, tenantId: string, since: number, until: number, now: number, settleMs = MINUTE_MS): Promise<boolean> {
  const row = await d1
    .prepare(
      `SELECT coalesce(sum(created_at > ?2 AND timestamp >= ?3 AND timestamp <= ?4), 0) AS recent, count(*) AS n, min(created_at) AS oldest
       FROM (SELECT timestamp, created_at FROM events NOT INDEXED WHERE tenant_id = ?1 ORDER BY position DESC LIMIT 1000)`,
    )
    .bind(tenantId, now - settleMs, since, until)
    .first<{ recent: number; n: number; oldest: number | null }>();
  if (!row) return true;
  return row.recent === 0 && (row.n < 1000 || (row.oldest ?? 0) <= now - settleMs);
}

export async function statsFromRollups(
  d1: D1Database,
  tenantId: string,
  opts: { since?: number | null | undefined; until?: number | null | undefined; groupBy: 'type' | 'source' | 'hour' },
): Promise<RollupStats | null> {
  const { since } = opts;
  let { until } = opts;
  if (since == null || until == null) return null;
  if ((until + 1) % HOUR_MS === 0) until += 1;
  if (since % HOUR_MS !== 0 || until % HOUR_MS !== 0 || until < since) return null;
  const rows = await queryRollups(d1, tenantId, { from: since, to: until }, opts.groupBy, { kind: 'event' });
  return {
    total: rows.reduce((s, r) => s + r.count, 0),
    groups: rows.map((r) => ({ key: opts.groupBy === 'hour' ? new Date(Number(r.key)).toISOString() : String(r.key), count: r.count })),
  };
}
