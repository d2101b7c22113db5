import { tenantDb } from '../db/shards';
import { activeFilters } from '../db/webhooks';
import type { RelayMessage } from '../domain/relay-message';
import { matchesSubject, subjectOf, type SubscriptionFilter } from '../domain/webhook-filters';

/**
 * A record goes to the webhooks queue only when one of its tenant's active subscriptions matches it, by
 * the fan-out's own rule (src/domain/webhook-filters.ts, `matchesSubject`). Any other record would ride
 * the queue to a fan-out that matches nothing, at three queue operations and a consumer's work each.
 * The filters are read once per tenant and flush (or Worker-side append), at relay time, from the tenant's shard: a subscription
 * committed before a record is relayed gets it, as the fan-out would have matched it. When the read
 * fails the records go as before (the consumer decides).
 */
export async function dropUnwanted(env: Env, passes: RelayMessage[][]): Promise<RelayMessage[][]> {
  // null: the read failed, and every record goes.
  const asked = new Map<string, Promise<SubscriptionFilter[] | null>>();
  const filters = (tenantId: string) => {
    let p = asked.get(tenantId);
    if (!p) {
      p = tenantDb(env, tenantId)
        .then((db) => activeFilters(db, tenantId))
        .catch(() => null);
      asked.set(tenantId, p);
    }
    return p;
  };
  const wanted = async (m: RelayMessage) => {
    const subs = await filters(m.tenant_id);
    if (subs === null) return true;
    const subject = subjectOf(m);
    return subject !== null && subs.some((f) => matchesSubject(f, subject));
  };
  return Promise.all(
    passes.map(async (messages) => {
      const keep = await Promise.all(messages.map(wanted));
      return messages.filter((_, i) => keep[i]);
    }),
  );
}
