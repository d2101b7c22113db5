import { sweepStaleDeliveries } from './delivery-sweep';
import { kickLaggingProjections } from './projections';
import { sweepRelayOutbox } from './relay-sweep';
import { runRetention } from './retention';
import { compactRollups } from './rollup-compaction';
import { purgeExpiredTimeline } from './timeline-expiry';

/** The daily cron in wrangler.toml; every other trigger is the minute cron. */
export const DAILY = '17 3 * * *';

export async function runScheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const started = Date.now();
  const report: Record<string, unknown> = { cron: controller.cron };
  report.relay_swept = await sweepRelayOutbox(env);
  report.deliveries_reclaimed = await sweepStaleDeliveries(env);
  if (controller.cron === DAILY) {
    report.retention = await runRetention(env);
    report.timeline_expired = await purgeExpiredTimeline(env);
    report.rollups_compacted = await compactRollups(env);
  }
  report.projections_kicked = await kickLaggingProjections(env);
  console.log(JSON.stringify({ msg: 'cron', ...report, ms: Date.now() - started }));
}
