import type { D1Row } from './client';
import { typeMatchSql } from './log';
import type { eventSubscriptions } from './schema/eventstore';

/** A row of `event_subscriptions`: a named consumer of the log. */
export type EventSubscriptionRow = D1Row<typeof eventSubscriptions>;

export async function getSubscription(d1: D1Database, tenantId: string, name: string): Promise<EventSubscriptionRow | null> {
  return d1.prepare(`SELECT * FROM event_subscriptions WHERE tenant_id = ? AND name = ?`).bind(tenantId, name).first<EventSubscriptionRow>();
}

export async function listSubscriptions(d1: D1Database, tenantId: string): Promise<EventSubscriptionRow[]> {
  const { results } = await d1.prepare(`SELECT * FROM event_subscriptions WHERE tenant_id = ? ORDER BY name`).bind(tenantId).all<EventSubscriptionRow>();
  return results;
}

/** Inserts unless the name is taken; true when inserted. */
export async function insertSubscription(
  d1: D1Database,
  tenantId: string,
  s: { name: string; kind: EventSubscriptionRow['kind']; eventTypes: string[]; checkpoint: number; now: number },
): Promise<boolean> {
  const r = await d1
    .prepare(
      `INSERT INTO event_subscriptions (tenant_id, name, kind, event_types, checkpoint, status, error_count, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'active', 0, ?, ?) ON CONFLICT DO NOTHING`,
    )
    .bind(tenantId, s.name, s.kind, JSON.stringify(s.eventTypes), s.checkpoint, s.now, s.now)
    .run();
  return r.meta.changes > 0;
}

export async function setSubscriptionStatus(d1: D1Database, tenantId: string, name: string, status: EventSubscriptionRow['status'], now: number): Promise<boolean> {
  const r = await d1
    .prepare(`UPDATE event_subscriptions SET status = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`)
    .bind(status, now, tenantId, name)
    .run();
  return r.meta.changes > 0;
}

export async function resetSubscription(d1: D1Database, tenantId: string, name: string, position: number, now: number): Promise<boolean> {
  const r = await d1
    .prepare(`UPDATE event_subscriptions SET checkpoint = ?, error_count = 0, last_error = NULL, updated_at = ? WHERE tenant_id = ? AND name = ?`)
    .bind(position, now, tenantId, name)
    .run();
  return r.meta.changes > 0;
}

/** Moves the checkpoint forward only: a late or repeated commit never moves a consumer back. */
export function advanceCheckpointStatement(d1: D1Database, tenantId: string, name: string, position: number, now: number): D1PreparedStatement {
  return d1
    .prepare(
      `UPDATE event_subscriptions SET checkpoint = max(checkpoint, ?1), updated_at = ?2 WHERE tenant_id = ?3 AND name = ?4`,
    )
    .bind(position, now, tenantId, name);
}

export async function recordSubscriptionError(d1: D1Database, tenantId: string, name: string, error: string, now: number): Promise<void> {
  await d1
    .prepare(`UPDATE event_subscriptions SET error_count = error_count + 1, last_error = ?, updated_at = ? WHERE tenant_id = ? AND name = ?`)
    .bind(error.slice(0, 2000), now, tenantId, name)
    .run();
}

export async function deleteSubscription(d1: D1Database, tenantId: string, name: string): Promise<boolean> {
  const r = await d1.prepare(`DELETE FROM event_subscriptions WHERE tenant_id = ? AND name = ? AND kind = 'external'`).bind(tenantId, name).run();
  return r.meta.changes > 0;
}

/** Tenants whose projection consumers have events of their types after their checkpoint (the cron's safety net). */
export async function laggingProjectionTenants(d1: D1Database, limit: number): Promise<string[]> {
  const { results } = await d1
    .prepare(
      `SELECT DISTINCT s.tenant_id FROM event_subscriptions s
       WHERE s.kind = 'projection' AND s.status = 'active'
         AND EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = s.tenant_id AND e.position > s.checkpoint AND ${typeMatchSql('e.event_type', 's.event_types', 's.event_types')})
       LIMIT ?`,
    )
    .bind(limit)
    .all<{ tenant_id: string }>();
  return results.map((r) => r.tenant_id);
}
