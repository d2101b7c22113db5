import { eachShard } from '../db/shards';
import { reclaimStaleDeliveries } from '../db/webhooks';
import type { DeliveryMessage } from '../queues/deliveries';
import { sendAll } from '../queues/messages';
import { MINUTE_MS } from '../domain/time';

/**
 * How overdue a pending delivery must be before the minute cron takes it for lost. Far above a queue's
 * normal lag, so a message that is merely late is rarely doubled (and a doubled one is harmless: the
 * lease lets one message attempt, the other is acked without a request).
 */
export const STALE_DELIVERY_MS = 10 * MINUTE_MS;
const BATCH = 500;

/**
 * At least once without trusting the broker: a delivery whose queue message was lost (the local
 * broker keeps messages in memory; in production a message can exhaust its retries in a failing
 * consumer) would stay `pending` for ever. The minute cron enqueues it again.
 */
export async function sweepStaleDeliveries(env: Env, now = Date.now()): Promise<number> {
  const rows = (await eachShard(env, 'delivery sweep', (db) => reclaimStaleDeliveries(db, now - STALE_DELIVERY_MS, now, BATCH))).flat();
  const messages: DeliveryMessage[] = rows.map((r) => ({ tenant_id: r.tenant_id, delivery_id: r.id, generation: r.generation }));
  await sendAll(env.DELIVERIES_QUEUE, messages);
  return rows.length;
}
