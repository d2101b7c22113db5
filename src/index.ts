import { app } from './app';
import { costEnabled, countAlarm, countWorkerRequest, meterEnv, meterStorage, readCounts } from './cost/counters';
import { TenantMover as TenantMoverBase } from './moves/mover';
import { ProjectionRunner as ProjectionRunnerBase } from './projections/runner';
import { RateLimiter as RateLimiterBase } from './rate-limit/limiter';
import { RelayBatcher as RelayBatcherBase } from './relay-batcher/batcher';
import { StreamHub as StreamHubBase } from './hub/hub';
import { AgentInbox as AgentInboxBase } from './inbox/inbox';
import { runScheduled } from './jobs';
import { handleQueue } from './queues';

// Each Durable Object class as bound in wrangler.toml: the class itself, constructed with the env
// (and SQLite storage) counted by `npm run bench:cost` when COST_COUNTERS is "true" (src/cost/).
export class StreamHub extends StreamHubBase {
  constructor(ctx: DurableObjectState, env: Env) {
    meterStorage(ctx, env);
    super(ctx, meterEnv(env));
  }

  override async alarm(): Promise<void> {
    if (costEnabled(this.env)) countAlarm('STREAM_HUB');
    return super.alarm();
  }
}

export class RateLimiter extends RateLimiterBase {
  constructor(ctx: DurableObjectState, env: Env) {
    meterStorage(ctx, env);
    super(ctx, meterEnv(env));
  }
}

export class RelayBatcher extends RelayBatcherBase {
  constructor(ctx: DurableObjectState, env: Env) {
    meterStorage(ctx, env);
    super(ctx, meterEnv(env));
  }
}

export class ProjectionRunner extends ProjectionRunnerBase {
  constructor(ctx: DurableObjectState, env: Env) {
    meterStorage(ctx, env);
    super(ctx, meterEnv(env));
  }

  override async alarm(): Promise<void> {
    if (costEnabled(this.env)) countAlarm('PROJECTION_RUNNER');
    return super.alarm();
  }
}

export class AgentInbox extends AgentInboxBase {
  constructor(ctx: DurableObjectState, env: Env) {
    meterStorage(ctx, env);
    super(ctx, meterEnv(env));
  }

  override async alarm(): Promise<void> {
    if (costEnabled(this.env)) countAlarm('AGENT_INBOX');
    return super.alarm();
  }
}

// Moves are rare admin work, not a cost of an event: not metered.
export class TenantMover extends TenantMoverBase {}

export default {
  fetch: (request, env, ctx) => {
    if (costEnabled(env)) {
      // The bench's own reads of the counters are not part of what it measures.
      if (new URL(request.url).pathname === '/__cost') return Response.json(readCounts(request.method === 'POST'));
      countWorkerRequest('fetch');
    }
    return app.fetch(request, meterEnv(env), ctx);
  },
  queue: (batch, env, ctx) => {
    if (costEnabled(env)) countWorkerRequest('queue');
    return handleQueue(batch, meterEnv(env), ctx);
  },
  scheduled: (controller, env, ctx) => runScheduled(controller, meterEnv(env), ctx),
} satisfies ExportedHandler<Env, unknown>;
