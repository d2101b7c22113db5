import type { ParkedRecord } from '../db/ops';
import { rowRecordId, type OutboxItem } from '../relay-batcher/types';
import { utf8Bytes } from '../domain/json';

/** Why a row left the outbox for one destination (docs/relay.md). */
export type ParkReason = 'oversized' | 'rejected' | 'failed_alone';

export interface ParkedRow {
  outbox_id: number;
  destination: string;
  kind: string;
  record_id: string;
  reason: string;
  error: string;
}

/** Reports go to D1 in pages of this many rows. */
export const REPORT_PAGE = 100;

/**
 * The hub's `parked` table: outbox rows that can never reach one destination, kept with their body
 * (in the hub's own storage, which an erase deletes) until operations look at them, and reported to
 * D1's relay_parked. The Outbox decides what to park (src/hub/outbox.ts).
 */
export class ParkedStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Whether a row of record `recordId` is parked for `destination`. */
  holds(destination: string, recordId: string): boolean {
    return this.sql.exec(`SELECT 1 FROM parked WHERE destination = ? AND record_id = ?`, destination, recordId).toArray().length > 0;
  }

  /** Inside the Outbox's transaction that takes the row out for `destination`. */
  insert(outboxId: number, destination: string, item: OutboxItem, reason: ParkReason, error: string, now: number): string {
    const body = JSON.stringify(item);
    // A batch's row is named by its first record (docs/decisions.md "Parking").
    const recordId = rowRecordId(item);
    this.sql.exec(
      `INSERT OR REPLACE INTO parked (outbox_id, destination, kind, record_id, body, bytes, reason, error, parked_at, reported)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
      outboxId,
      destination,
      item.kind,
      recordId,
      body,
      utf8Bytes(body),
      reason,
      error.slice(0, 500),
      now,
    );
    return recordId;
  }

  /** The highest outbox id parked (ids stay above it). */
  highestId(): number {
    return this.sql.exec<{ m: number | null }>(`SELECT max(outbox_id) AS m FROM parked`).one().m ?? 0;
  }

  /** A page of rows D1 has not been told about. */
  unreported(): ParkedRecord[] {
    return this.sql
      .exec<ParkedRecord>(`SELECT outbox_id, destination, kind, record_id, bytes, reason, error, parked_at FROM parked WHERE reported = 0 LIMIT ${REPORT_PAGE}`)
      .toArray();
  }

  markReported(rows: ParkedRecord[]): void {
    for (const r of rows) this.sql.exec(`UPDATE parked SET reported = 1 WHERE outbox_id = ? AND destination = ?`, r.outbox_id, r.destination);
  }

  /** Every parked row, for operations and tests. */
  list(): ParkedRow[] {
    return this.sql
      .exec<{ outbox_id: number; destination: string; kind: string; record_id: string; reason: string; error: string }>(
        `SELECT outbox_id, destination, kind, record_id, reason, error FROM parked ORDER BY outbox_id, destination`,
      )
      .toArray();
  }
}
