import { tenantDb } from '../db/shards';
import { webhookInterest, type WebhookInterest } from '../db/webhooks';
import type { RelayMessage } from '../domain/relay-message';

/**
 * Records matter to webhooks only for a tenant with an active subscription that could match them
 * (src/domain/webhook-filters.ts): a log event needs any active subscription; a timeline entry or a
 * receipt (an entry became read or delivered), one that takes contact events. For any other tenant the
 * webhooks queue would carry them to a fan-out that matches nothing, at three queue operations and a
 * consumer's work each. Asked once per tenant and flush, at relay time, from the tenant's shard: a
 * subscription committed before a record is relayed gets it, exactly as the fan-out would have matched
 * it. When the read fails the records go as before (the consumer decides).
 */
export async function dropUnwanted(env: Env, passes: RelayMessage[][]): Promise<RelayMessage[][]> {
  const asked = new Map<string, Promise<WebhookInterest>>();
  const interest = (tenantId: string) => {
    let p = asked.get(tenantId);
    if (!p) {
      p = tenantDb(env, tenantId)
        .then((db) => webhookInterest(db, tenantId))
        .catch(() => ({ any: true, contactEvents: true }));
      asked.set(tenantId, p);
    }
    return p;
  };
  const wanted = async (m: RelayMessage) => {
    const i = await interest(m.tenant_id);
    return m.kind === 'event' ? i.any : i.contactEvents;
  };
  return Promise.all(
    passes.map(async (messages) => {
      const keep = await Promise.all(messages.map(wanted));
      return messages.filter((_, i) => keep[i]);
    }),
  );
}
