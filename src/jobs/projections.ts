import { laggingProjectionTenants } from '../db/subscriptions';
import { kickProjections } from '../projections/runner';

/**
 * The safety net of the incremental path: a kick lost with a crashed relay or an evicted runner is
 * made good here, and so is a rebuild whose alarm chain broke.
 */
export async function kickLaggingProjections(env: Env): Promise<number> {
  const lagging = await laggingProjectionTenants(env.DB, 1000);
  const { results } = await env.DB.prepare(`SELECT DISTINCT tenant_id FROM projection_state WHERE rebuild_generation IS NOT NULL LIMIT 1000`).all<{ tenant_id: string }>();
  const tenants = new Set([...lagging, ...results.map((r) => r.tenant_id)]);
  await Promise.all([...tenants].map((t) => kickProjections(env, t, 0)));
  return tenants.size;
}
