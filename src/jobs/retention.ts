import { tenantDb } from '../db/shards';
import {
  completeArchive,
  deleteArchiveManifest,
  dropArchive,
  eventsPage,
  insertPendingArchive,
  listArchives,
  oldestEventBefore,
  pendingArchives,
  updateArchiveContents,
  type ArchiveRow,
} from '../db/archives';
import { eventFromRow, type EventRow } from '../db/events';
import { listTenantSettings } from '../db/settings';
import { dayString, floorDay } from '../domain/analytics';
import { DAY_MS } from '../domain/time';
import { archiveId, archiveKey, decodeLines, encodeArchive, encodeLines, inspectArchive, type EncodedArchive } from '../domain/archive';

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
    await env.ARCHIVE.put(m.key, file.gzip, { httpMetadata: { contentType: 'application/gzip' }, customMetadata: objectMetadata(m, file) });
  }
  const bytes = await readChecked(env, m.key, file);
  await opts.afterWrite?.({ id: m.id, key: m.key });
  const done = await completeArchive(
    await tenantDb(env, m.tenant_id),
    { tenant_id: m.tenant_id, id: m.id, count: file.count, sha256: file.sha256, bytes },
    rows.map((r) => r.position),
    rows.map((r) => r.id),
    now,
    MARKER_MAX_AGE_MS,
  );
  // Rows that were collected but had gone by the delete were erased meanwhile (an erase rewrites only
  // complete archives, and this one was pending then): the object must not keep them either.
  if (done.completed && done.deletedIds.length < rows.length) {
    const kept = new Set(done.deletedIds);
    await rewriteArchive(env, { ...m, count: file.count }, (record) => kept.has(record.id));
  }
  return done.deletedIds.length;
}

const objectMetadata = (m: Pick<Manifest, 'tenant_id' | 'day'>, file: EncodedArchive) => ({
  tenant_id: m.tenant_id,
  day: dayString(m.day),
  count: String(file.count),
  sha256: file.sha256,
});

/** Reads an object back and checks that it holds exactly `file` (line count and SHA-256); answers its size. */
async function readChecked(env: Env, key: string, file: EncodedArchive): Promise<number> {
  const stored = await env.ARCHIVE.get(key);
  if (!stored) throw new Error(`archive ${key} missing after write`);
  const bytes = new Uint8Array(await stored.arrayBuffer());
  const check = await inspectArchive(bytes);
  if (check.sha256 !== file.sha256 || check.count !== file.count) {
    throw new Error(`archive ${key} failed its check: ${check.count}/${file.count} lines, hash ${check.sha256} vs ${file.sha256}`);
  }
  return bytes.byteLength;
}

interface ArchivedRecord {
  id: string;
  contact_id: string | null;
  stream_id: string | null;
}

const REWRITE_TRIES = 5;

/**
 * Rewrites one complete archive keeping only the lines `keep` accepts, verified like any archive
 * (read back, count and SHA-256) before its manifest says what it now holds; an object left empty
 * goes with its manifest. The write is conditional on the object read (its etag), so that two
 * rewrites at once (two erases, or an erase and the retention run) never put back what the other
 * removed: the loser reads again. Answers how many lines went.
 */
async function rewriteArchive(env: Env, m: Pick<ArchiveRow, 'tenant_id' | 'id' | 'key' | 'day' | 'count'>, keep: (r: ArchivedRecord) => boolean, mentions?: string): Promise<number> {
  for (let tries = 0; tries < REWRITE_TRIES; tries += 1) {
    const object = await env.ARCHIVE.get(m.key);
    if (!object) return 0;
    const gzip = new Uint8Array(await object.arrayBuffer());
    const lines = await decodeLines(gzip);
    // A cheap first look: most objects never mention the contact at all.
    if (mentions !== undefined && !lines.some((l) => l.includes(mentions))) return 0;
    const kept = lines.filter((l) => keep(JSON.parse(l) as ArchivedRecord));
    const removed = lines.length - kept.length;
    if (removed === 0) return 0;
    if (kept.length === 0) {
      await env.ARCHIVE.delete(m.key);
      await deleteArchiveManifest(await tenantDb(env, m.tenant_id), m.tenant_id, m.id);
      return removed;
    }
    const file = await encodeLines(kept);
    const put = await env.ARCHIVE.put(m.key, file.gzip, {
      onlyIf: { etagMatches: object.etag },
      httpMetadata: { contentType: 'application/gzip' },
      customMetadata: objectMetadata(m, file),
    });
    if (put === null) continue;
    const bytes = await readChecked(env, m.key, file);
    await updateArchiveContents(await tenantDb(env, m.tenant_id), m.tenant_id, m.id, { count: file.count, sha256: file.sha256, bytes });
    return removed;
  }
  throw new Error(`archive ${m.key}: rewrite lost ${REWRITE_TRIES} races in a row`);
}

/**
 * The R2 half of an erase: every complete archive of the tenant is rewritten without the contact's
 * events (by contact_id or its `contact-<id>` stream). Pending archives need nothing: their rows are
 * read again from D1, where the erase already deleted them, before their object is written or
 * completed. Answers how many archived events went.
 */
export async function eraseFromArchives(env: Env, tenantId: string, contactId: string): Promise<number> {
  const streamId = `contact-${contactId}`;
  let removed = 0;
  let after: string | undefined;
  for (;;) {
    const page = await listArchives(await tenantDb(env, tenantId), tenantId, { limit: 100, after });
    for (const m of page) {
      removed += await rewriteArchive(env, m, (r) => r.contact_id !== contactId && r.stream_id !== streamId, contactId);
    }
    if (page.length < 100) return removed;
    after = page[page.length - 1]!.id;
  }
}

/** Finishes an archive a previous run left pending. */
async function resume(env: Env, m: ArchiveRow, now: number, opts: RetentionOptions, report: RetentionReport): Promise<void> {
  const rows = await collect(await tenantDb(env, m.tenant_id), m.tenant_id, m.day, m.first_position - 1, m.last_position, Number.MAX_SAFE_INTEGER);
  if (rows.length === 0) {
    // Its rows were erased meanwhile (the manifest turns complete only with the delete): whatever
    // object got written holds data that no longer exists, so it goes too.
    await env.ARCHIVE.delete(m.key);
    await dropArchive(await tenantDb(env, m.tenant_id), m.tenant_id, m.id);
    report.dropped += 1;
    return;
  }
  report.deleted += await writeAndComplete(env, m, rows, now, opts);
  report.resumed += 1;
  report.objects += 1;
  report.archived += rows.length;
}

async function archiveTenant(env: Env, tenantId: string, retentionDays: number, now: number, budget: number, opts: RetentionOptions, report: RetentionReport): Promise<number> {
  for (const m of await pendingArchives(await tenantDb(env, tenantId), tenantId)) {
    if (budget <= 0) return budget;
    await resume(env, m, now, opts, report);
    budget -= 1;
  }
  // Whole UTC days only, so that each day's events land in one object (more only for very large days).
  const cutoff = floorDay(now - retentionDays * DAY_MS);
  while (budget > 0) {
    const oldest = await oldestEventBefore(await tenantDb(env, tenantId), tenantId, cutoff);
    if (oldest === null) return budget;
    const day = floorDay(oldest);
    const rows = await collect(await tenantDb(env, tenantId), tenantId, day, 0, undefined, opts.rowsPerObject ?? ROWS_PER_OBJECT);
    if (rows.length === 0) return budget;
    const first = rows[0]!.position;
    const last = rows[rows.length - 1]!.position;
    const id = archiveId(day, first, last);
    const m: Manifest = { tenant_id: tenantId, id, key: archiveKey(tenantId, id), day, first_position: first, last_position: last };
    await insertPendingArchive(await tenantDb(env, tenantId), { ...m, count: rows.length, sha256: '', bytes: 0, created_at: now });
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
