import { kickLaggingProjections } from './projections';
import { sweepRelayOutbox } from './relay-sweep';

export async function runScheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const started = Date.now();
  const report: Record<string, unknown> = { cron: controller.cron };
  report.relay_swept = await sweepRelayOutbox(env);
  report.projections_kicked = await kickLaggingProjections(env);
  console.log(JSON.stringify({ msg: 'cron', ...report, ms: Date.now() - started }));
}
