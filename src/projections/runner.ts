import { DurableObject } from 'cloudflare:workers';
import { runProjections, type StepResult } from './engine';

const KICK_DELAY_MS = 100;
const POLL_MS = 250;
/** Passes that find nothing before the runner goes idle (see `kickProjections` on why two). */
const IDLE_PASSES = 2;
const ERROR_RETRY_MS = 5_000;

/**
 * One per tenant: the single writer of the tenant's projections. Kicked when events reach D1 (by the
 * hub relay and the direct append path) and by the minute cron; a pass then folds new events in
 * batches and advances a rebuild. Serial by construction, so the incremental path and a rebuild
 * never race on a checkpoint.
 *
 * Two clocks start passes. The relay's kicks and the idle polls after them use an in-memory timer:
 * a storage alarm is billed as a row written, and these kicks come with every D1 write, while a pass
 * they would lose to an eviction is made good by the minute cron, which kicks every tenant with
 * events of a projection's types after its checkpoint. Work that must survive an eviction on its own arms the storage alarm:
 * a backlog left by a pass's budget, a rebuild, a retry after a failed pass, and the cron's and
 * operators' kicks (`delayMs` given).
 */
export class ProjectionRunner extends DurableObject<Env> {
  private tenantId: string | null = null;
  /** When the pending alarm fires (in memory: lets a kick return without touching storage). */
  private alarmAt: number | null = null;
  /** The in-memory timer of the relay's kicks and the idle polls, and when it fires. */
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt: number | null = null;
  private pollsLeft = 0;
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

  /**
   * Schedules a pass soon (coalescing bursts of kicks into one): the relay's kick (no `delayMs`) on the
   * in-memory timer, the others on the storage alarm.
   */
  async kick(tenantId: string, delayMs?: number): Promise<void> {
    await this.claim(tenantId);
    this.pollsLeft = IDLE_PASSES;
    if (delayMs === undefined) this.soon(Date.now() + KICK_DELAY_MS);
    else await this.arm(Date.now() + delayMs);
  }

  /** A pass at `at` on the in-memory timer, unless one (timer or alarm) comes sooner. */
  private soon(at: number): void {
    if ((this.timerAt !== null && this.timerAt <= at) || (this.alarmAt !== null && this.alarmAt <= at)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = null;
      this.pass().catch((error) => console.error(JSON.stringify({ msg: 'projection pass not rescheduled', tenant_id: this.tenantId, error: String(error) })));
    }, Math.max(0, at - Date.now()));
  }

  private async arm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
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
    this.alarmAt = null;
    await this.pass();
  }

  /** One pass; then, while work remains, the storage alarm, and while polling, the timer. */
  private async pass(): Promise<void> {
    const tenantId = this.tenantId;
    if (!tenantId) return;
    try {
      const r = await this.exclusive(() => runProjections(this.env, tenantId));
      // Keep polling a little after activity: events whose kick was coalesced away are picked up here.
      this.pollsLeft = r.applied > 0 ? IDLE_PASSES : this.pollsLeft - 1;
      if (r.more) await this.arm(Date.now());
      else if (this.pollsLeft > 0) this.soon(Date.now() + POLL_MS);
    } catch (error) {
      console.error(JSON.stringify({ msg: 'projection pass failed', tenant_id: tenantId, error: String(error) }));
      await this.arm(Date.now() + ERROR_RETRY_MS);
    }
  }
}

function runner(env: Env, tenantId: string): DurableObjectStub<ProjectionRunner> {
  const ns = env.PROJECTION_RUNNER as DurableObjectNamespace<ProjectionRunner>;
  return ns.get(ns.idFromName(tenantId));
}

// Per isolate: when each tenant's runner was last kicked.
const lastKick = new Map<string, number>();
const KICK_EVERY_MS = 200;

/**
 * Tells the tenant's projection runner that new events reached D1. Kicks are coalesced per isolate
 * (at most one per tenant per 200 ms): after a kick the runner polls at least twice, 250 ms apart,
 * so a pass always starts after any event whose kick was skipped. Never throws: the cron is the
 * safety net.
 */
export async function kickProjections(env: Env, tenantId: string, delayMs?: number): Promise<void> {
  const now = Date.now();
  if (delayMs === undefined && (lastKick.get(tenantId) ?? 0) + KICK_EVERY_MS > now) return;
  lastKick.set(tenantId, now);
  if (lastKick.size > 10_000) lastKick.clear();
  try {
    await runner(env, tenantId).kick(tenantId, delayMs);
  } catch (error) {
    console.error(JSON.stringify({ msg: 'projection kick failed', tenant_id: tenantId, error: String(error) }));
  }
}

export async function drainProjections(env: Env, tenantId: string, budgetMs?: number): Promise<StepResult> {
  return runner(env, tenantId).drain(tenantId, budgetMs);
}
