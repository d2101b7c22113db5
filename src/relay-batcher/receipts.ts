import { tenantDb } from '../db/shards';
import { takesContactEvents } from '../db/webhooks';
import type { RelayMessage } from '../domain/relay-message';

/**
 * A receipt (an entry became read or delivered) matters to webhooks only for a tenant with an active
 * subscription that takes contact events (src/domain/webhook-filters.ts); for any other tenant the
 * webhooks queue would carry it to a fan-out that matches nothing, at three queue operations and a
 * consumer invocation each. Asked once per tenant and flush, at relay time, from the tenant's shard:
 * a subscription committed before the receipt is relayed gets it, exactly as the fan-out would have
 * matched it. When the read fails the receipts go as before (the consumer decides).
 */
export async function dropUnwantedReceipts(env: Env, passes: RelayMessage[][]): Promise<RelayMessage[][]> {
  const asked = new Map<string, Promise<boolean>>();
  const wanted = (tenantId: string) => {
    let p = asked.get(tenantId);
    if (!p) {
      p = tenantDb(env, tenantId)
        .then((db) => takesContactEvents(db, tenantId))
        .catch(() => true);
      asked.set(tenantId, p);
    }
    return p;
  };
  return Promise.all(
    passes.map(async (messages) => {
      if (!messages.some((m) => m.kind === 'contact_event_receipt')) return messages;
      const keep = await Promise.all(messages.map(async (m) => m.kind !== 'contact_event_receipt' || (await wanted(m.tenant_id))));
      return messages.filter((_, i) => keep[i]);
    }),
  );
}
