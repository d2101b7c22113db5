import { consumeAnalytics } from './analytics';
import { consumeDeliveries, type DeliveryMessage } from './deliveries';
import type { QueueRecord, RelayQueueBody } from './messages';
import { consumeWebhooks } from './webhooks';

/** Queue names as bound in wrangler.toml. */
export const QUEUES = {
  webhooks: 'eventline-webhooks',
  analytics: 'eventline-analytics',
  deliveries: 'eventline-webhook-deliveries',
} as const;

/** One consumer per queue, so that each concern fails and retries on its own. */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  switch (batch.queue) {
    case QUEUES.webhooks:
      return consumeWebhooks(batch as MessageBatch<RelayQueueBody>, env, ctx);
    case QUEUES.analytics:
      return consumeAnalytics(batch as MessageBatch<RelayQueueBody<QueueRecord>>, env, ctx);
    case QUEUES.deliveries:
      return consumeDeliveries(batch as MessageBatch<DeliveryMessage>, env, ctx);
    default:
      throw new Error(`unknown queue ${batch.queue}`);
  }
}
