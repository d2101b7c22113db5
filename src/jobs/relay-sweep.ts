import { eachShard } from '../db/shards';
import { relayDirect } from '../append/log';
import { eventFromRow, staleRelayOutbox } from '../db/events';

const STALE_MS = 30_000;

/** Sends what the Worker-side append path committed to D1 but could not hand to the queues. */
export async function sweepRelayOutbox(env: Env, now = Date.now()): Promise<number> {
  const rows = (await eachShard(env, 'relay sweep', (db) => staleRelayOutbox(db, now - STALE_MS, 500))).flat();
  const byTenant = new Map<string, ReturnType<typeof eventFromRow>[]>();
  for (const row of rows) {
    const list = byTenant.get(row.tenant_id) ?? [];
    list.push(eventFromRow(row));
    byTenant.set(row.tenant_id, list);
  }
  for (const [tenantId, events] of byTenant) await relayDirect(env, tenantId, events);
  return rows.length;
}
