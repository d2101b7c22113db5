import { splitRange, type GroupBy, type RollupItem, type RollupKind } from '../domain/analytics';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../domain/time';
import { jsonRows } from './bulk';

/** The consumer name under which the analytics consumer records processed events. */
export const ANALYTICS_CONSUMER = 'analytics';

/**
 * An item's fields in the statements' JSON parameter: each item travels as an array in this order
 * rather than as an object, so that the field names are not repeated (and parsed) in every item.
 */
const FIELDS = ['tenant_id', 'marker', 'hour', 'day', 'event_type', 'source', 'entry_type', 'entry_source', 'category', 'events', 'entries'] as const;
const f = (name: (typeof FIELDS)[number]) => `v->>${FIELDS.indexOf(name)}`;
/** FIELDS up to here name a row's marker, bucket and key; the two after it are its counts. */
const COUNTS = FIELDS.indexOf('events');

/**
 * The items as FIELDS rows, with the items that share a marker, a bucket and a key summed into one
 * row: a batch's entries mostly do (one marker, one hour, one type), and each statement then reads one
 * row of JSON instead of one per entry. The sums are the same: the statements group and sum the rows
 * by key, and count all of a marker's rows or none.
 */
function rollupRows(items: RollupItem[]): (string | number)[][] {
  const rows = new Map<string, (string | number)[]>();
  for (const i of items) {
    const row = FIELDS.map((k) => i[k]);
    const key = JSON.stringify(row.slice(0, COUNTS));
    const same = rows.get(key);
    if (same) {
      same[COUNTS] = Number(same[COUNTS]) + i.events;
      same[COUNTS + 1] = Number(same[COUNTS + 1]) + i.entries;
    } else rows.set(key, row);
  }
  return [...rows.values()];
}

/**
 * The tenant's compaction watermark inside a statement: analytics_daily is complete for every day
 * before it (0 for a tenant never compacted). See compactionStatements.
 */
const watermark = (tenant: string) => `coalesce((SELECT c.through_day FROM analytics_compacted c WHERE c.tenant_id = ${tenant}), 0)`;

/** What a rollup row is keyed by after tenant_id and its bucket (hour or day). */
const KEY = 'event_type, source, entry_type, entry_source, category';

const upsertInto = (table: 'analytics_hourly' | 'analytics_daily', bucket: 'hour' | 'day') => `
  WITH ${jsonRows('?1')}
  INSERT INTO ${table} (tenant_id, ${bucket}, ${KEY}, events, entries)
  SELECT ${f('tenant_id')}, ${f(bucket)}, ${f('event_type')}, ${f('source')}, ${f('entry_type')}, ${f('entry_source')}, ${f('category')},
    sum(${f('events')}), sum(${f('entries')})
  FROM json_rows
  WHERE NOT EXISTS (
    SELECT 1 FROM processed_events p
    WHERE p.consumer = '${ANALYTICS_CONSUMER}' AND p.tenant_id = ${f('tenant_id')} AND p.event_id = ${f('marker')}
  )${
    // A day the daily table is not complete for yet is read from the hourly one until its compaction
    // sums it there; an item of an already compacted day (a backdated event) must land in both. Decided
    // here, in the transaction that counts it, so that no compaction can run in between.
    bucket === 'day' ? ` AND ${f('day')} < ${watermark(f('tenant_id'))}` : ''
  }
  GROUP BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (tenant_id, ${bucket}, ${KEY}) DO UPDATE SET events = events + excluded.events, entries = entries + excluded.entries`;

/**
 * The statements that count a batch, for ONE `d1.batch()` (one transaction): the hourly rollup counts
 * the items with no processed marker yet, the daily one those of them whose day is already compacted
 * (before the tenant's watermark), then the markers are inserted. A redelivered or
 * duplicated item finds its marker and counts nothing; a crash leaves either all three applied or
 * none. The last statement RETURNs the markers inserted now (for the Analytics Engine, best effort),
 * unless told not to: without a dataset to write to, its `meta.changes` is all the consumer needs
 * (D1 counts each returned row as a row read).
 * A marker guards every item that names it (a batch's entries, an append's events, an event and its
 * entry: one row, not one each), so the items of one marker must be in the same call. Items must be
 * unique per (tenant, event id) — see uniqueItems.
 */
export function rollupStatements(d1: D1Database, items: RollupItem[], now: number, opts: { returning: boolean } = { returning: true }): D1PreparedStatement[] {
  const json = JSON.stringify(rollupRows(items));
  return [
    d1.prepare(upsertInto('analytics_hourly', 'hour')).bind(json),
    d1.prepare(upsertInto('analytics_daily', 'day')).bind(json),
    d1
      .prepare(
        `WITH ${jsonRows('?1')}
         INSERT INTO processed_events (consumer, tenant_id, event_id, processed_at)
         SELECT DISTINCT '${ANALYTICS_CONSUMER}', ${f('tenant_id')}, ${f('marker')}, ?2 FROM json_rows WHERE true
         ON CONFLICT DO NOTHING
         ${opts.returning ? 'RETURNING tenant_id, event_id' : ''}`,
      )
      .bind(json, now),
  ];
}

/**
 * Where the tenant's next compaction starts: its watermark, and the first hour in [watermark, before)
 * that has hourly counts (null: none): one seek of the hourly primary key (tenant_id, hour, …), so a
 * long stretch of empty days costs nothing to skip.
 */
export async function nextCompaction(d1: D1Database, tenantId: string, before: number): Promise<{ through: number; next: number | null }> {
  const w = watermark('?1');
  const row = await d1
    .prepare(`SELECT ${w} AS through, (SELECT min(hour) FROM analytics_hourly WHERE tenant_id = ?1 AND hour >= ${w} AND hour < ?2) AS next`)
    .bind(tenantId, before)
    .first<{ through: number; next: number | null }>();
  return { through: row?.through ?? 0, next: row?.next ?? null };
}

/**
 * A compaction step, for ONE `d1.batch()`: the tenant's daily rows of the days in [from, to) are
 * replaced by the sums of its hourly rows of those days, and its watermark moves to `to`. Replaced,
 * not added to: the result depends only on the hourly table (complete since the first event), so a
 * step that runs twice, or over days that already had daily rows, still leaves exact counts. In one
 * transaction with the watermark, so that the consumer (which writes daily rows only before the
 * watermark) sees either the old state or the new one. The watermark never moves back (max), should
 * two runs overlap.
 */
export function compactionStatements(d1: D1Database, tenantId: string, from: number, to: number): D1PreparedStatement[] {
  return [
    d1.prepare(`DELETE FROM analytics_daily WHERE tenant_id = ?1 AND day >= ?2 AND day < ?3`).bind(tenantId, from, to),
    d1
      .prepare(
        `INSERT INTO analytics_daily (tenant_id, day, ${KEY}, events, entries)
         SELECT tenant_id, (hour / ${DAY_MS}) * ${DAY_MS}, ${KEY}, sum(events), sum(entries) FROM analytics_hourly
         WHERE tenant_id = ?1 AND hour >= ?2 AND hour < ?3
         GROUP BY 1, 2, 3, 4, 5, 6, 7`,
      )
      .bind(tenantId, from, to),
    d1
      .prepare(
        `INSERT INTO analytics_compacted (tenant_id, through_day) VALUES (?1, ?2)
         ON CONFLICT (tenant_id) DO UPDATE SET through_day = max(through_day, excluded.through_day)`,
      )
      .bind(tenantId, to),
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
 * Counts from the rollups over [from, to) (both hour-aligned), grouped. Whole days before the tenant's
 * watermark come from the daily table; whole days from it on (not compacted yet), the edges, and
 * everything for group_by=hour, from the hourly one. One statement: it reads the watermark and both
 * tables in one snapshot, so a compaction committing meanwhile cannot make a day count twice or never.
 */
export async function queryRollups(
  d1: D1Database,
  tenantId: string,
  range: { from: number; to: number },
  groupBy: GroupBy,
  filter: RollupFilter,
): Promise<RollupGroup[]> {
  // A kind's columns: log events have no category ('' for all of them).
  const c = filter.kind === 'event' ? { type: 'event_type', source: 'source', category: "''", n: 'events' } : { type: 'entry_type', source: 'entry_source', category: 'category', n: 'entries' };
  const args: (string | number)[] = [tenantId];
  const bind = (v: string | number) => {
    args.push(v);
    return `?${args.length}`;
  };
  const filters = [`${c.n} > 0`];
  if (filter.type !== undefined) filters.push(`${c.type} = ${bind(filter.type)}`);
  if (filter.source !== undefined) filters.push(`${c.source} = ${bind(filter.source)}`);
  if (filter.category !== undefined) filters.push(`${c.category} = ${bind(filter.category)}`);
  const extra = filters.map((f) => ` AND ${f}`).join('');
  const keyOf = (bucket: 'hour' | 'day'): string => {
    switch (groupBy) {
      case 'type':
        return c.type;
      case 'source':
        return c.source;
      case 'category':
        return c.category;
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
      `SELECT ${keyOf('hour')} AS k, ${c.n} AS n FROM analytics_hourly
       WHERE tenant_id = ?1 AND hour >= ${bind(from)} AND hour < ${bind(to)}${extra}`,
    );
  }
  if (days) {
    const [from, to] = [bind(days[0]), bind(days[1])];
    const w = watermark('?1');
    parts.push(
      `SELECT ${keyOf('day')} AS k, ${c.n} AS n FROM analytics_daily
       WHERE tenant_id = ?1 AND day >= ${from} AND day < ${to} AND day < ${w}${extra}`,
      `SELECT ${keyOf('hour')} AS k, ${c.n} AS n FROM analytics_hourly
       WHERE tenant_id = ?1 AND hour >= ${from} AND hour < ${to} AND hour >= ${w}${extra}`,
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
