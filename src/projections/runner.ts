import { DurableObject } from 'cloudflare:workers';
import { runProjections, type StepResult } from './engine';

const KICK_DELAY_MS = 100;
const ERROR_RETRY_MS = 5_000;

/**
 * One per tenant: the single writer of the tenant's projections. Kicked when events reach D1 (by the
 * hub relay and the direct append path) and by the minute cron; an alarm then folds new events in
 * batches and advances a rebuild, re-arming itself while work remains. Serial by construction, so
 * the incremental path and a rebuild never race on a checkpoint.
 */
export class ProjectionRunner extends DurableObject<Env> {
  private tenantId: string | null = null;
  // Alarms and RPCs interleave at every await; passes are chained so that only one runs at a time.
  private chain: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.tenantId = (await ctx.storage.get<string>('tenant')) ?? null;
    });
  }

  private async claim(tenantId: string): Promise<void> {
    if (this.tenantId === tenantId) return;
    if (this.tenantId !== null) throw new Error('projection runner tenant mismatch');
    this.tenantId = tenantId;
    await this.ctx.storage.put('tenant', tenantId);
  }

  /** Schedules a pass soon (coalescing bursts of kicks into one). */
  async kick(tenantId: string, delayMs = KICK_DELAY_MS): Promise<void> {
    await this.claim(tenantId);
    const at = await this.ctx.storage.getAlarm();
    const want = Date.now() + delayMs;
    if (at === null || at > want) await this.ctx.storage.setAlarm(want);
  }

  /** Runs passes until no work is left or the budget is spent (operations and tests). */
  async drain(tenantId: string, budgetMs = 20_000): Promise<StepResult> {
    await this.claim(tenantId);
    const deadline = Date.now() + budgetMs;
    let applied = 0;
    for (;;) {
      const r = await this.exclusive(() => runProjections(this.env, tenantId));
      applied += r.applied;
      if (!r.more || Date.now() > deadline) return { applied, more: r.more };
    }
  }

  override async alarm(): Promise<void> {
    const tenantId = this.tenantId;
    if (!tenantId) return;
    try {
      const r = await this.exclusive(() => runProjections(this.env, tenantId));
      if (r.more) await this.ctx.storage.setAlarm(Date.now());
    } catch (error) {
      console.error(JSON.stringify({ msg: 'projection pass failed', tenant_id: tenantId, error: String(error) }));
      await this.ctx.storage.setAlarm(Date.now() + ERROR_RETRY_MS);
    }
  }
}

function runner(env: Env, tenantId: string): DurableObjectStub<ProjectionRunner> {
  const ns = env.PROJECTION_RUNNER as DurableObjectNamespace<ProjectionRunner>;
  return ns.get(ns.idFromName(tenantId));
}

/** Tells the tenant's projection runner that new events reached D1. Never throws: the cron is the safety net. */
export async function kickProjections(env: Env, tenantId: string, delayMs?: number): Promise<void> {
  try {
    await runner(env, tenantId).kick(tenantId, delayMs);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'projection kick failed', tenant_id: tenantId, error: String(error) }));
  }
}

export async function drainProjections(env: Env, tenantId: string, budgetMs?: number): Promise<StepResult> {
  return runner(env, tenantId).drain(tenantId, budgetMs);
}
