import { tenantDb } from '../db/shards';
import type { z } from '@hono/zod-openapi';
import { projectionProgress } from '../db/log';
import { ensureProjection, getProjectionState } from '../db/projections';
import { getSubscription } from '../db/subscriptions';
import { typeFilter } from '../domain/event-patterns';
import { projectionConsumerName } from '../domain/projections';
import type { Projection } from '../domain/projections/types';
import type { ProjectionInfo } from '../domain/schemas/eventstore';
import { iso, isoOrNull } from '../domain/time';

const LAG_CAP = 100_000;

/** A projection's status for the API (creates its rows on first use). */
export async function projectionInfo(env: Env, tenantId: string, p: Projection<unknown>): Promise<z.infer<typeof ProjectionInfo>> {
  const d1 = await tenantDb(env, tenantId);
  const consumer = projectionConsumerName(p.name);
  let [state, sub] = await Promise.all([getProjectionState(d1, tenantId, p.name), getSubscription(d1, tenantId, consumer)]);
  if (!state || !sub) {
    await ensureProjection(d1, tenantId, p.name, consumer, p.eventTypes, Date.now());
    [state, sub] = await Promise.all([getProjectionState(d1, tenantId, p.name), getSubscription(d1, tenantId, consumer)]);
  }
  const { checkpoint, lag } = await projectionProgress(d1, tenantId, sub!.checkpoint, typeFilter(p.eventTypes), LAG_CAP);
  const s = state!;
  return {
    name: p.name,
    description: p.description,
    event_types: [...p.eventTypes],
    status: s.rebuild_generation !== null ? 'rebuilding' : sub!.status === 'paused' ? 'paused' : 'live',
    generation: s.generation,
    checkpoint,
    lag,
    rebuild:
      s.rebuild_generation !== null
        ? { generation: s.rebuild_generation, checkpoint: s.rebuild_checkpoint ?? 0, started_at: iso(s.rebuild_started_at ?? s.updated_at) }
        : null,
    rebuilt_at: isoOrNull(s.rebuilt_at),
  };
}

