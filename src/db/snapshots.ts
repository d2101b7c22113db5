import type { D1Row } from './client';
import type { streamSnapshots } from './schema/eventstore';

export type SnapshotRow = Omit<D1Row<typeof streamSnapshots>, 'tenant_id'>;

/**
 * Stores a snapshot. `replace` false is a projection's own snapshot: it is written only while the
 * stream still has an event in the log, so that a projection pass that read a contact's events just
 * before its erase cannot write the contact's state back after it. A client's snapshot (`replace`)
 * is written as asked.
 */
export function putSnapshotStatement(
  d1: D1Database,
  tenantId: string,
  s: { streamId: string; sequenceNumber: number; state: string; source: string; now: number },
  replace: boolean,
): D1PreparedStatement {
  const guard = replace ? 'true' : `EXISTS (SELECT 1 FROM events WHERE tenant_id = ?1 AND stream_id = ?2)`;
  return d1
    .prepare(
      `INSERT INTO stream_snapshots (tenant_id, stream_id, version, state, source, created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE ${guard}
       ON CONFLICT (tenant_id, stream_id, version) DO ${replace ? 'UPDATE SET state = excluded.state, source = excluded.source, created_at = excluded.created_at' : 'NOTHING'}`,
    )
    .bind(tenantId, s.streamId, s.sequenceNumber, s.state, s.source, s.now);
}

/** The latest snapshot at or below sequence number `at` (any when omitted). The column `version` is the snapshot's sequence number. */
export async function getSnapshot(d1: D1Database, tenantId: string, streamId: string, at?: number): Promise<SnapshotRow | null> {
  return d1
    .prepare(
      `SELECT stream_id, version, state, source, created_at FROM stream_snapshots
       WHERE tenant_id = ? AND stream_id = ? AND version <= ? ORDER BY version DESC LIMIT 1`,
    )
    .bind(tenantId, streamId, at ?? Number.MAX_SAFE_INTEGER)
    .first<SnapshotRow>();
}
