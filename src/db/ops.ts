import { floorHour } from '../domain/analytics';
import { HOUR_MS } from '../domain/time';
import type { D1Row } from './client';
import { typeMatchSql } from './log';
import type { hubRelayBacklog, relayParked } from './schema/analytics';

export interface EventCounts {
  total: number;
  last_hour: number;
}

export async function eventCounts(d1: D1Database, tenantId: string, now: number): Promise<EventCounts> {
  const row = await d1
    .prepare(`SELECT count(*) AS total, (SELECT count(*) FROM events WHERE tenant_id = ?1 AND created_at >= ?2) AS last_hour FROM events WHERE tenant_id = ?1`)
    .bind(tenantId, now - HOUR_MS)
    .first<EventCounts>();
  return row ?? { total: 0, last_hour: 0 };
}

/**
 * The database's size in bytes: D1 reports it with every result (`meta.size_after`); where a
 * runtime does not, the page count times the page size.
 */
export async function databaseBytes(d1: D1Database): Promise<number> {
  const res = await d1.prepare('SELECT 1').run();
  const size = (res.meta as { size_after?: number }).size_after;
  if (typeof size === 'number' && size > 0) return size;
  const row = await d1.prepare('SELECT page_count * page_size AS b FROM pragma_page_count(), pragma_page_size()').first<{ b: number }>();
  return row?.b ?? 0;
}

/** The tenant's log and timeline row contents (column bytes, without index and page overhead). */
export async function tenantContentBytes(d1: D1Database, tenantId: string): Promise<number> {
  const row = await d1
    .prepare(
      `SELECT (SELECT coalesce(sum(length(id) + length(event_type) + length(payload) + length(metadata) + coalesce(length(contact_id), 0)
                 + coalesce(length(session_id), 0) + coalesce(length(message_id), 0) + coalesce(length(correlation_id), 0)
                 + coalesce(length(causation_id), 0) + coalesce(length(stream_id), 0) + coalesce(length(idempotency_key), 0) + 48), 0)
              FROM events WHERE tenant_id = ?1)
            + (SELECT coalesce(sum(length(id) + length(contact_id) + length(payload) + length(metadata) + coalesce(length(title), 0)
                 + coalesce(length(description), 0) + length(event_type) + 64), 0)
              FROM contact_events WHERE tenant_id = ?1) AS b`,
    )
    .bind(tenantId)
    .first<{ b: number }>();
  return row?.b ?? 0;
}

export async function workerOutbox(d1: D1Database, tenantId: string, now: number): Promise<{ pending: number; oldest_age_ms: number | null }> {
  const row = await d1
    .prepare(`SELECT count(*) AS n, min(created_at) AS oldest FROM relay_outbox WHERE tenant_id = ?1`)
    .bind(tenantId)
    .first<{ n: number; oldest: number | null }>();
  return { pending: row?.n ?? 0, oldest_age_ms: row?.oldest == null ? null : Math.max(0, now - row.oldest) };
}

export type HubBacklogRow = Omit<D1Row<typeof hubRelayBacklog>, 'tenant_id'>;

export async function hubBacklogs(d1: D1Database, tenantId: string): Promise<HubBacklogRow[]> {
  const { results } = await d1
    .prepare(`SELECT hub, pending, oldest_at, failures, last_error, updated_at FROM hub_relay_backlog WHERE tenant_id = ?1 ORDER BY oldest_at LIMIT 100`)
    .bind(tenantId)
    .all<HubBacklogRow>();
  return results;
}

/** A hub reports its outbox after a failed relay pass (see Outbox.reportBacklog in src/hub/outbox.ts). */
export async function upsertHubBacklog(
  d1: D1Database,
  tenantId: string,
  hub: string,
  b: { pending: number; oldestAt: number | null; failures: number; lastError: string | null; now: number },
): Promise<void> {
  await d1
    .prepare(
      `INSERT INTO hub_relay_backlog (tenant_id, hub, pending, oldest_at, failures, last_error, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
       ON CONFLICT (tenant_id, hub) DO UPDATE SET pending = excluded.pending, oldest_at = excluded.oldest_at,
         failures = excluded.failures, last_error = excluded.last_error, updated_at = excluded.updated_at`,
    )
    .bind(tenantId, hub, b.pending, b.oldestAt, b.failures, b.lastError === null ? null : b.lastError.slice(0, 500), b.now)
    .run();
}

export async function clearHubBacklog(d1: D1Database, tenantId: string, hub: string): Promise<void> {
  await d1.prepare(`DELETE FROM hub_relay_backlog WHERE tenant_id = ?1 AND hub = ?2`).bind(tenantId, hub).run();
}

/** A parked relay record as its hub reports it (the row of `relay_parked` without its keys). */
export type ParkedRecord = Omit<D1Row<typeof relayParked>, 'tenant_id' | 'hub'>;

/** A hub reports the records it parked (see Outbox.park in src/hub/outbox.ts); a repeated report changes nothing. */
export async function insertParked(d1: D1Database, tenantId: string, hub: string, rows: ParkedRecord[]): Promise<void> {
  if (rows.length === 0) return;
  const statement = d1.prepare(
    `INSERT OR IGNORE INTO relay_parked (tenant_id, hub, outbox_id, destination, kind, record_id, bytes, reason, error, parked_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
  );
  await d1.batch(
    rows.map((r) => statement.bind(tenantId, hub, r.outbox_id, r.destination, r.kind, r.record_id, r.bytes, r.reason, r.error.slice(0, 500), r.parked_at)),
  );
}

export async function clearParked(d1: D1Database, tenantId: string, hub: string): Promise<void> {
  await d1.prepare(`DELETE FROM relay_parked WHERE tenant_id = ?1 AND hub = ?2`).bind(tenantId, hub).run();
}

export interface ParkedStats {
  count: number;
  by_reason: Record<string, number>;
  /** The newest 100. */
  details: (ParkedRecord & { hub: string })[];
}

export async function parkedStats(d1: D1Database, tenantId: string): Promise<ParkedStats> {
  const [counts, details] = await d1.batch([
    d1.prepare(`SELECT reason, count(*) AS n FROM relay_parked WHERE tenant_id = ?1 GROUP BY reason`).bind(tenantId),
    d1
      .prepare(
        `SELECT hub, outbox_id, destination, kind, record_id, bytes, reason, error, parked_at FROM relay_parked WHERE tenant_id = ?1
         ORDER BY parked_at DESC LIMIT 100`,
      )
      .bind(tenantId),
  ]);
  const byReason = Object.fromEntries(((counts?.results ?? []) as { reason: string; n: number }[]).map((r) => [r.reason, r.n]));
  return {
    count: Object.values(byReason).reduce((a, b) => a + b, 0),
    by_reason: byReason,
    details: (details?.results ?? []) as (ParkedRecord & { hub: string })[],
  };
}

/**
 * Every section is read from tables the migrations create, so each is always there; `available: true`
 * stays in the answer for the clients that test it.
 */
export interface DeliveryStats {
  available: true;
  by_status: Record<string, number>;
  pending: number;
  failed: number;
  dead_lettered: number;
}

/** Webhook delivery counts by status; dead-lettered = `dead_lettered_at` set. */
export async function deliveryStats(d1: D1Database, tenantId: string): Promise<DeliveryStats> {
  const [byStatus, deadLettered] = await d1.batch([
    d1.prepare(`SELECT status, count(*) AS n FROM webhook_deliveries WHERE tenant_id = ?1 GROUP BY status`).bind(tenantId),
    d1.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE tenant_id = ?1 AND dead_lettered_at IS NOT NULL`).bind(tenantId),
  ]);
  const by = Object.fromEntries(((byStatus?.results ?? []) as { status: string; n: number }[]).map((r) => [r.status, r.n]));
  const dead = ((deadLettered?.results ?? []) as { n: number }[])[0]?.n ?? 0;
  return { available: true, by_status: by, pending: by.pending ?? 0, failed: by.failed ?? 0, dead_lettered: dead };
}

export interface LagStats {
  available: true;
  items: { name: string; lag: number }[];
  max_lag: number;
}

// Counting the events behind a checkpoint is bounded, so that a consumer far behind costs little to report.
const LAG_CAP = 100_000;

/**
 * Consumers of the global log with checkpoints (`event_subscriptions`): lag = the events of the
 * consumer's types among the tenant's first 100,000 past its checkpoint (a projection commits its
 * checkpoint only every so often while it meets none of its types). `projections` selects the rows of
 * kind 'projection'.
 */
export async function checkpointLag(d1: D1Database, tenantId: string, projections: boolean): Promise<LagStats> {
  const kindFilter = projections ? `AND kind = 'projection'` : `AND kind <> 'projection'`;
  const { results } = await d1
    .prepare(
      `SELECT s.name AS name,
         (SELECT count(*) FROM (SELECT e.event_type FROM events e WHERE e.position > s.checkpoint AND e.tenant_id = s.tenant_id LIMIT ${LAG_CAP}) AS w
           WHERE json_array_length(s.event_types) = 0 OR ${typeMatchSql('w.event_type', 's.event_types', 's.event_types')}) AS lag
       FROM event_subscriptions s WHERE s.tenant_id = ?1 ${kindFilter} ORDER BY s.name LIMIT 200`,
    )
    .bind(tenantId)
    .all<{ name: string; lag: number }>();
  return { available: true, items: results, max_lag: results.reduce((m, r) => Math.max(m, r.lag), 0) };
}

export async function analyticsCurrentHour(d1: D1Database, tenantId: string, now: number): Promise<number> {
  const row = await d1
    .prepare(`SELECT coalesce(sum(events), 0) AS n FROM analytics_hourly WHERE tenant_id = ?1 AND hour = ?2`)
    .bind(tenantId, floorHour(now))
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export async function archiveTotals(d1: D1Database, tenantId: string): Promise<{ objects: number; events: number; pending: number }> {
  const row = await d1
    .prepare(
      `SELECT sum(status = 'complete') AS objects, coalesce(sum(CASE WHEN status = 'complete' THEN "count" END), 0) AS events,
         sum(status = 'pending') AS pending FROM archives WHERE tenant_id = ?1`,
    )
    .bind(tenantId)
    .first<{ objects: number | null; events: number; pending: number | null }>();
  return { objects: row?.objects ?? 0, events: row?.events ?? 0, pending: row?.pending ?? 0 };
}
