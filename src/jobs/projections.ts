import { eachShard } from '../db/shards';
import { rebuildingProjectionTenants } from '../db/projections';
import { laggingProjectionTenants } from '../db/subscriptions';
import { kickProjections } from '../projections/runner';

/**
 * The safety net of the incremental path: a kick lost with a crashed relay or an evicted runner is
 * made good here, and so is a rebuild whose alarm chain broke.
 */
export async function kickLaggingProjections(env: Env): Promise<number> {
  const found = await eachShard(env, 'projection kick', async (db) => [...(await laggingProjectionTenants(db, 1000)), ...(await rebuildingProjectionTenants(db, 1000))]);
  const tenants = new Set(found.flat());
  await Promise.all([...tenants].map((t) => kickProjections(env, t, 0)));
  return tenants.size;
}
