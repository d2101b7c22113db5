import {
  completeArchive,
  dropArchive,
  eventsPage,
  insertPendingArchive,
  oldestEventBefore,
  pendingArchives,
  type ArchiveRow,
} from '../db/archives';
import { eventFromRow, type EventRow } from '../db/events';
import { listTenantSettings } from '../db/settings';
import { DAY_MS, dayString, floorDay } from '../domain/analytics';
import { archiveId, archiveKey, encodeArchive, inspectArchive } from '../domain/archive';

const PAGE = 500;
const ROWS_PER_OBJECT = 5_000;
// Uncompressed NDJSON per object: keeps a Worker's memory well under its 128 MB.
const MAX_RAW_BYTES = 16 * 1024 * 1024;
const MAX_OBJECTS_PER_RUN = 200;
const MARKER_MAX_AGE_MS = 7 * DAY_MS;

export interface RetentionOptions {
  now?: number;
  /** Only these tenants (tests, manual runs). */
  tenantIds?: string[];
  maxObjects?: number;
  rowsPerObject?: number;
  /** Fault injection for tests: runs after an object is written and checked, before any row is deleted. */
  afterWrite?: (archive: { id: string; key: string }) => void | Promise<void>;
}

export interface RetentionReport {
  tenants: number;
  objects: number;
  archived: number;
  deleted: number;
  resumed: number;
  dropped: number;
  errors: number;
  has_more: boolean;
}

type Manifest = Pick<ArchiveRow, 'tenant_id' | 'id' | 'key' | 'day' | 'first_position' | 'last_position'>;

/** The NDJSON line of one event: the API record plus what a restore would need. */
const archiveRecord = (row: EventRow) => ({ ...eventFromRow(row), tenant_id: row.tenant_id, idempotency_key: row.idempotency_key });

/** Rows of one day, by position, up to the object caps (or all of [first, last] when resuming). */
async function collect(d1: D1Database, tenantId: string, day: number, after: number, maxPosition: number | undefined, maxRows: number): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  let bytes = 0;
  let cursor = after;
  while (rows.length < maxRows && bytes < MAX_RAW_BYTES) {
    const page = await eventsPage(d1, tenantId, { from: day, to: day + DAY_MS }, cursor, Math.min(PAGE, maxRows - rows.length), maxPosition);
    for (const r of page) {
      rows.push(r);
      bytes += r.payload.length + r.metadata.length + 400;
      if (bytes >= MAX_RAW_BYTES) break;
    }
    if (page.length === 0 || rows.length === 0) break;
    cursor = rows[rows.length - 1]!.position;
    if (page.length < PAGE) break;
  }
  return rows;
}

/**
 * Writes the object (unless an identical one is already there), reads it back and checks count and
 * hash, and only then deletes the rows and completes the manifest in one D1 transaction. A crash at
 * any point leaves the rows in D1 and the manifest pending: the next run lands here again with the
 * same rows and the same key, so nothing is lost and nothing is archived twice.
 */
async function writeAndComplete(env: Env, m: Manifest, rows: EventRow[], now: number, opts: RetentionOptions): Promise<number> {
  const file = await encodeArchive(rows.map(archiveRecord));
  const head = await env.ARCHIVE.head(m.key);
  if (head?.customMetadata?.sha256 !== file.sha256) {
    await env.ARCHIVE.put(m.key, file.gzip, {
      httpMetadata: { contentType: 'application/gzip' },
      customMetadata: { tenant_id: m.tenant_id, day: dayString(m.day), count: String(file.count), sha256: file.sha256 },
    });
  }
  const stored = await env.ARCHIVE.get(m.key);
  if (!stored) throw new Error(`archive ${m.key} missing after write`);
  const bytes = new Uint8Array(await stored.arrayBuffer());
  const check = await inspectArchive(bytes);
  if (check.sha256 !== file.sha256 || check.count !== rows.length) {
    throw new Error(`archive ${m.key} failed its check: ${check.count}/${rows.length} lines, hash ${check.sha256} vs ${file.sha256}`);
  }
  await opts.afterWrite?.({ id: m.id, key: m.key });
  return completeArchive(
    env.DB,
    { tenant_id: m.tenant_id, id: m.id, count: file.count, sha256: file.sha256, bytes: bytes.byteLength },
    rows.map((r) => r.position),
    rows.map((r) => r.id),
    now,
    MARKER_MAX_AGE_MS,
  );
}

/** Finishes an archive a previous run left pending. */
async function resume(env: Env, m: ArchiveRow, now: number, opts: RetentionOptions, report: RetentionReport): Promise<void> {
  const rows = await collect(env.DB, m.tenant_id, m.day, m.first_position - 1, m.last_position, Number.MAX_SAFE_INTEGER);
  if (rows.length === 0) {
    // Its rows were erased meanwhile (the manifest turns complete only with the delete): whatever
    // object got written holds data that no longer exists, so it goes too.
    await env.ARCHIVE.delete(m.key);
    await dropArchive(env.DB, m.tenant_id, m.id);
    report.dropped += 1;
    return;
  }
  report.deleted += await writeAndComplete(env, m, rows, now, opts);
  report.resumed += 1;
  report.objects += 1;
  report.archived += rows.length;
}

async function archiveTenant(env: Env, tenantId: string, retentionDays: number, now: number, budget: number, opts: RetentionOptions, report: RetentionReport): Promise<number> {
  for (const m of await pendingArchives(env.DB, tenantId)) {
    if (budget <= 0) return budget;
    await resume(env, m, now, opts, report);
    budget -= 1;
  }
  // Whole UTC days only, so that each day's events land in one object (more only for very large days).
  const cutoff = floorDay(now - retentionDays * DAY_MS);
  while (budget > 0) {
    const oldest = await oldestEventBefore(env.DB, tenantId, cutoff);
    if (oldest === null) return budget;
    const day = floorDay(oldest);
    const rows = await collect(env.DB, tenantId, day, 0, undefined, opts.rowsPerObject ?? ROWS_PER_OBJECT);
    if (rows.length === 0) return budget;
    const first = rows[0]!.position;
    const last = rows[rows.length - 1]!.position;
    const id = archiveId(day, first, last);
    const m: Manifest = { tenant_id: tenantId, id, key: archiveKey(tenantId, id), day, first_position: first, last_position: last };
    await insertPendingArchive(env.DB, { ...m, count: rows.length, sha256: '', bytes: 0, created_at: now });
    report.deleted += await writeAndComplete(env, m, rows, now, opts);
    report.objects += 1;
    report.archived += rows.length;
    budget -= 1;
  }
  report.has_more = true;
  return budget;
}

/**
 * The retention cron: for each tenant, archives log events older than its event_retention_days to
 * R2 (gzip NDJSON, one object per tenant and UTC day) and deletes them from D1. Safe to run twice,
 * concurrently, or after a crash at any point (see writeAndComplete). A failing tenant is logged and
 * skipped; the others proceed. Bounded per run; `has_more` says the next run has work left.
 */
export async function runRetention(env: Env, opts: RetentionOptions = {}): Promise<RetentionReport> {
  const now = opts.now ?? Date.now();
  const all = await listTenantSettings(env.DB, env.CONTACT_EVENT_EXPIRED_GRACE_DAYS);
  const tenants = opts.tenantIds ? all.filter((t) => opts.tenantIds!.includes(t.tenantId)) : all;
  const report: RetentionReport = { tenants: tenants.length, objects: 0, archived: 0, deleted: 0, resumed: 0, dropped: 0, errors: 0, has_more: false };
  let budget = opts.maxObjects ?? MAX_OBJECTS_PER_RUN;
  for (const t of tenants) {
    if (budget <= 0) {
      report.has_more = true;
      break;
    }
    try {
      budget = await archiveTenant(env, t.tenantId, t.settings.event_retention_days, now, budget, opts, report);
    } catch (error) {
      report.errors += 1;
      console.error(JSON.stringify({ msg: 'retention failed', tenant_id: t.tenantId, error: String(error) }));
    }
  }
  return report;
}
