export interface SnapshotRow {
  stream_id: string;
  version: number;
  state: string;
  source: string;
  created_at: number;
}

export function putSnapshotStatement(
  d1: D1Database,
  tenantId: string,
  s: { streamId: string; version: number; state: string; source: string; now: number },
  replace: boolean,
): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO stream_snapshots (tenant_id, stream_id, version, state, source, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, stream_id, version) DO ${replace ? 'UPDATE SET state = excluded.state, source = excluded.source, created_at = excluded.created_at' : 'NOTHING'}`,
    )
    .bind(tenantId, s.streamId, s.version, s.state, s.source, s.now);
}

/** The latest snapshot at or below `atVersion` (any version when omitted). */
export async function getSnapshot(d1: D1Database, tenantId: string, streamId: string, atVersion?: number): Promise<SnapshotRow | null> {
  return d1
    .prepare(
      `SELECT stream_id, version, state, source, created_at FROM stream_snapshots
       WHERE tenant_id = ? AND stream_id = ? AND version <= ? ORDER BY version DESC LIMIT 1`,
    )
    .bind(tenantId, streamId, atVersion ?? Number.MAX_SAFE_INTEGER)
    .first<SnapshotRow>();
}
