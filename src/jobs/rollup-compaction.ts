import { compactionStatements, nextCompaction } from '../db/analytics';
import { isFenced } from '../db/moves';
import { tenantDb } from '../db/shards';
import { listTenantIds } from '../db/tenants';
import { floorDay } from '../domain/analytics';
import { DAY_MS } from '../domain/time';

/**
 * Compaction steps per tenant per run (each one D1 transaction over one day with counts, or over a
 * stretch of empty days). A tenant compacts at most this many days behind per day, so a tenant from
 * before compaction existed (watermark 0) catches up over a few runs instead of holding its shard in
 * one; reads stay exact meanwhile, as the days from the watermark on are read from the hourly table.
 */
export const MAX_DAYS_PER_TENANT = 31;
/** Wall time for one run; tenants not reached wait for the next run (their reads stay exact). */
const BUDGET_MS = 20_000;

export interface CompactionOptions {
  now?: number;
  /** Only these tenants (tests, manual runs); default every tenant of the directory. */
  tenantIds?: string[];
  maxDays?: number;
}

export interface CompactionReport {
  tenants: number;
  /** Compaction steps committed: a day with counts, or a stretch of days without. */
  steps: number;
  /** Tenants whose shard is fenced (a move is under way): compacted on their new shard later. */
  fenced: number;
  errors: number;
  has_more: boolean;
}

/**
 * The daily cron's compaction of the rollups: for each tenant, each closed UTC day from its watermark
 * up to yesterday gets its daily rows from the sums of its hourly rows (compactionStatements), and the
 * watermark passes it. Days without counts are skipped together in one step.
 */
export async function compactRollups(env: Env, opts: CompactionOptions = {}): Promise<CompactionReport> {
  const started = Date.now();
  const today = floorDay(opts.now ?? started);
  const maxDays = opts.maxDays ?? MAX_DAYS_PER_TENANT;
  const ids = opts.tenantIds ?? (await listTenantIds(env.DB));
  const report: CompactionReport = { tenants: 0, steps: 0, fenced: 0, errors: 0, has_more: false };
  for (const tenantId of ids) {
    if (Date.now() - started >= BUDGET_MS) {
      report.has_more = true;
      break;
    }
    try {
      const db = await tenantDb(env, tenantId);
      const { steps, done } = await compactTenant(db, tenantId, today, maxDays);
      report.tenants += 1;
      report.steps += steps;
      if (!done) report.has_more = true;
    } catch (error) {
      // Left for the next run: the watermark only moves with a committed step.
      if (isFenced(error)) report.fenced += 1;
      else {
        report.errors += 1;
        console.error(JSON.stringify({ msg: 'rollup compaction failed', tenant_id: tenantId, error: String(error) }));
      }
    }
  }
  return report;
}

/** Up to `maxDays` steps for one tenant; `done` when its watermark has reached `today`. */
async function compactTenant(db: D1Database, tenantId: string, today: number, maxDays: number): Promise<{ steps: number; done: boolean }> {
  let steps = 0;
  while (steps < maxDays) {
    const { through, next } = await nextCompaction(db, tenantId, today);
    if (through >= today) return { steps, done: true };
    // Through the day of the first counts (the empty days before it included), or to today if none.
    const to = next === null ? today : floorDay(next) + DAY_MS;
    await db.batch(compactionStatements(db, tenantId, through, to));
    steps += 1;
  }
  return { steps, done: false };
}
