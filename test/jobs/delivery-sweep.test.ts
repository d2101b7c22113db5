import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { fenceStatement } from '../../src/db/moves';
import { shardAt } from '../../src/db/shards';
import { insertDeliveriesStatement } from '../../src/db/webhooks';
import { runScheduled } from '../../src/jobs';
import { STALE_DELIVERY_MS, sweepStaleDeliveries } from '../../src/jobs/delivery-sweep';
import { eventually, newTenant, uuid, shardOf, tenantOnShard } from '../support/api';
import { hookPath, hookUrl, received } from '../support/receiver';
import { subscribe } from '../support/webhooks';

const MINUTE_CRON = '* * * * *';

async function runMinuteCron(): Promise<void> {
  const ctx = createExecutionContext();
  await runScheduled(createScheduledController({ cron: MINUTE_CRON, scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const row = async (tenantId: string, id: string) =>
  (await shardOf(tenantId)).prepare('SELECT status, attempts, generation_attempts, lease_owner, next_attempt_at FROM webhook_deliveries WHERE tenant_id = ? AND id = ?')
    .bind(tenantId, id)
    .first<{ status: string; attempts: number; generation_attempts: number; lease_owner: string | null; next_attempt_at: number }>();

describe('minute cron: deliveries whose queue message was lost', () => {
  it('enqueues again a pending delivery far past its next attempt, whether it never started or lost its retry', async () => {
    const t = await newTenant();
    const path = hookPath('lost');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    const now = Date.now();
    const overdue = now - STALE_DELIVERY_MS - 60_000;
    const [neverSent, lostRetry, late] = [uuid(), uuid(), uuid()];
    const body = (n: string) => JSON.stringify({ type: 'note.added', timestamp: new Date(now).toISOString(), data: { n } });
    // Rows as fan-out writes them, but no queue message exists for them (a killed local runtime).
    await insertDeliveriesStatement((await shardOf(t.id)), t.id, [
      { id: neverSent, subscription_id: sub.id, event_id: uuid(), event_type: 'note.added', body: body('never sent') },
      { id: lostRetry, subscription_id: sub.id, event_id: uuid(), event_type: 'note.added', body: body('lost retry') },
      { id: late, subscription_id: sub.id, event_id: uuid(), event_type: 'note.added', body: body('merely late') },
    ], overdue).run();
    // One had a failed attempt and a retry scheduled by a message that is gone; its owner is that message.
    await (await shardOf(t.id)).prepare(`UPDATE webhook_deliveries SET attempts = 1, generation_attempts = 1, lease_owner = 'gone-message', last_status_code = 503 WHERE tenant_id = ? AND id = ?`)
      .bind(t.id, lostRetry)
      .run();
    // One is overdue by less than the threshold: its message may just be late, it is left alone.
    await (await shardOf(t.id)).prepare('UPDATE webhook_deliveries SET next_attempt_at = ? WHERE tenant_id = ? AND id = ?').bind(now - 60_000, t.id, late).run();

    await runMinuteCron();
    await eventually(async () => (await received(path)).length >= 2, { timeoutMs: 10_000 });
    const bodies = (await received(path)).map((r) => (JSON.parse(r.body) as { data: { n: string } }).data.n).sort();
    expect(bodies).toEqual(['lost retry', 'never sent']);
    await eventually(async () => (await row(t.id, neverSent))?.status === 'succeeded' && (await row(t.id, lostRetry))?.status === 'succeeded');
    expect(await row(t.id, lostRetry)).toMatchObject({ attempts: 2, generation_attempts: 2 });
    expect(await row(t.id, late)).toMatchObject({ status: 'pending', attempts: 0 });

    // Done deliveries are not sent again by the next run.
    await runMinuteCron();
    await new Promise((r) => setTimeout(r, 300));
    expect(await received(path)).toHaveLength(2);
  });

  it("skips the rows a moved tenant left on its old shard (fenced) instead of failing the shard's sweep for its neighbours", async () => {
    const [moved, neighbour] = [await tenantOnShard(0, 'moved'), await tenantOnShard(0, 'neighbour')];
    const overdue = Date.now() - STALE_DELIVERY_MS - 60_000;
    const ids = { moved: uuid(), neighbour: uuid() };
    for (const [t, id] of [[moved, ids.moved], [neighbour, ids.neighbour]] as const) {
      const sub = await subscribe(t.key, { url: hookUrl(hookPath('fenced-sweep')), events: ['*'] });
      await insertDeliveriesStatement(shardAt(env, 0).db, t.id, [{ id, subscription_id: sub.id, event_id: uuid(), event_type: 'note.added', body: '{}' }], overdue).run();
    }
    await fenceStatement(shardAt(env, 0).db, moved.id, 1, Date.now()).run();
    expect(await sweepStaleDeliveries(env)).toBeGreaterThanOrEqual(1);
    await eventually(async () => (await row(neighbour.id, ids.neighbour))?.status === 'succeeded');
    expect(await row(moved.id, ids.moved)).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: overdue });
  });
});
