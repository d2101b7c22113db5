import { sweepRelayOutbox } from './relay-sweep';
import { runRetention } from './retention';
import { purgeExpiredTimeline } from './timeline-expiry';

export async function runScheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const started = Date.now();
  const report: Record<string, unknown> = { cron: controller.cron };
  report.relay_swept = await sweepRelayOutbox(env);
  if (controller.cron === '17 3 * * *') report.retention = await runRetention(env);
  if (controller.cron === '17 3 * * *') report.timeline_expired = await purgeExpiredTimeline(env);
  console.log(JSON.stringify({ msg: 'cron', ...report, ms: Date.now() - started }));
}
