import type { RelayMessage } from './messages';

export async function consumeAnalytics(batch: MessageBatch<RelayMessage>, _env: Env, _ctx: ExecutionContext): Promise<void> {
  batch.ackAll();
}
