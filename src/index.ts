import { app } from './app';
import { runScheduled } from './jobs';
import { handleQueue } from './queues';

export { StreamHub } from './hub/hub';
export { RateLimiter } from './rate-limit/limiter';
export { RelayBatcher } from './relay-batcher/batcher';
export { ProjectionRunner } from './projections/runner';

export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: runScheduled,
} satisfies ExportedHandler<Env, unknown>;
