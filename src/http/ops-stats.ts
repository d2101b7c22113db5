import { createRoute } from '@hono/zod-openapi';
import { analyticsCurrentHour, archiveTotals, checkpointLag, databaseBytes, deliveryStats, eventCounts, hubBacklogs, parkedStats, tenantContentBytes, workerOutbox } from '../db/ops';
import { capacityOf } from '../domain/capacity';
import { OpsStats } from '../domain/schemas/analytics';
import { problemResponses } from '../domain/schemas/common';
import { iso } from '../domain/time';
import { router } from './context';

export const opsStats = router();

const HUB_NOTE =
  'Hubs report here when a relay pass fails and clear it once their outbox is empty; a hub that cannot reach D1 cannot report, and a healthy hub\'s in-flight outbox (milliseconds) is not shown.';

const PARKED_NOTE =
  'Records a hub took out of its outbox because they can never reach a destination (reason oversized, rejected or failed_alone); the body stays in the hub. Later records of the contact relay normally.';

opsStats.openapi(
  createRoute({
    operationId: 'getOpsStats',
    method: 'get',
    path: '/ops/stats',
    tags: ['Operations'],
    summary: "The tenant's operational state in one document: event counts, relay backlog, webhook deliveries, consumer lag, archives, shard capacity",
    description: 'What to alert on: a growing relay backlog, failed or dead-lettered deliveries, subscription or projection lag, a shard past 80 % of its capacity.',
    responses: { 200: { description: 'Stats', content: { 'application/json': { schema: OpsStats } } }, ...problemResponses(401, 429) },
  }),
  async (c) => {
    const db = c.var.db;
    const tenantId = c.get('tenantId');
    const now = Date.now();
    const [events, outbox, hubs, deliveries, subscriptions, projections, counted, archived, parked, bytes, tenantBytes] = await Promise.all([
      eventCounts(db, tenantId, now),
      workerOutbox(db, tenantId, now),
      hubBacklogs(db, tenantId),
      deliveryStats(db, tenantId),
      checkpointLag(db, tenantId, false),
      checkpointLag(db, tenantId, true),
      analyticsCurrentHour(db, tenantId, now),
      archiveTotals(db, tenantId),
      parkedStats(db, tenantId),
      databaseBytes(db),
      tenantContentBytes(db, tenantId),
    ]);
    const oldestHub = hubs.reduce<number | null>((m, h) => (h.oldest_at === null ? m : m === null ? h.oldest_at : Math.min(m, h.oldest_at)), null);
    return c.json(
      {
        time: iso(now),
        events,
        relay: {
          worker_outbox: outbox,
          hubs: {
            backlogged: hubs.length,
            pending: hubs.reduce((s, h) => s + h.pending, 0),
            oldest_age_ms: oldestHub === null ? null : Math.max(0, now - oldestHub),
            details: hubs.map((h) => ({
              hub: h.hub,
              pending: h.pending,
              oldest_age_ms: h.oldest_at === null ? null : Math.max(0, now - h.oldest_at),
              failures: h.failures,
              last_error: h.last_error,
              reported_at: iso(h.updated_at),
            })),
            note: HUB_NOTE,
          },
          parked: {
            count: parked.count,
            by_reason: parked.by_reason,
            details: parked.details.map((p) => ({ ...p, parked_at: iso(p.parked_at) })),
            note: PARKED_NOTE,
          },
        },
        webhook_deliveries: deliveries,
        subscriptions,
        projections,
        analytics: { counted_last_hour: counted },
        archives: archived,
        capacity: capacityOf(c.var.shard, bytes, tenantBytes),
      },
      200,
    );
  },
);
