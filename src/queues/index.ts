import type { RelayMessage } from './messages';

/** Queue names as bound in wrangler.toml. */
export const QUEUES = {
  webhooks: 'eventline-webhooks',
  analytics: 'eventline-analytics',
  deliveries: 'eventline-webhook-deliveries',
} as const;

export async function handleQueue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
  switch (batch.queue) {
    case QUEUES.webhooks:
      return consumeWebhooks(batch as MessageBatch<RelayMessage>, env, ctx);
    case QUEUES.analytics:
      return consumeAnalytics(batch as MessageBatch<RelayMessage>, env, ctx);
    case QUEUES.deliveries:
      return consumeDeliveries(batch, env, ctx);
    default:
      throw new Error(`unknown queue ${batch.queue}`);
  }
}

// Consumers land with the webhooks (issue 5) and analytics (issue 7) capabilities.
async function consumeWebhooks(batch: MessageBatch<RelayMessage>, _env: Env, _ctx: ExecutionContext): Promise<void> {
  batch.ackAll();
}
async function consumeAnalytics(batch: MessageBatch<RelayMessage>, _env: Env, _ctx: ExecutionContext): Promise<void> {
  batch.ackAll();
}
async function consumeDeliveries(batch: MessageBatch<unknown>, _env: Env, _ctx: ExecutionContext): Promise<void> {
  batch.ackAll();
}
