import type { EventRecord } from '../domain/schemas/events';
import type { StoredAppend } from '../domain/idempotency';
import type { RecordIds } from './record-ids';

/** A stored log event as the idempotency check needs it, with the original record for a replay. */
export interface StoredLogEvent extends StoredAppend {
  record: EventRecord;
}

/**
 * The hub's `log` table (src/hub/storage.ts): the log events of its stream, by sequence
 * number. SQL only; the hub decides what to write and when (inside its transactions).
 */
export class LogStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly recordIds: RecordIds,
  ) {}

  /** The event committed under this id, or else under this Idempotency-Key. */
  find(id: string, key: string | null): StoredLogEvent | undefined {
    type Row = { id: string; request_hash: string | null; body: string };
    const seq = this.recordIds.seqOf('event', id);
    const byId = seq === null ? undefined : this.sql.exec<Row>(`SELECT id, request_hash, body FROM log WHERE seq = ?`, seq).toArray()[0];
    const row = byId || key === null ? byId : this.sql.exec<Row>(`SELECT id, request_hash, body FROM log WHERE idempotency_key = ?`, key).toArray()[0];
    return row && { id: row.id, request_hash: row.request_hash, record: JSON.parse(row.body) as EventRecord };
  }

  insert(record: EventRecord & { sequence_number: number }, idempotencyKey: string | null, requestHash: string, timestamp: number): void {
    this.sql.exec(
      `INSERT INTO log (seq, id, idempotency_key, request_hash, event_type, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      record.sequence_number,
      record.id,
      idempotencyKey,
      requestHash,
      record.event_type,
      timestamp,
      JSON.stringify(record),
    );
    this.recordIds.stored('event', record.id, record.sequence_number);
  }

  get(id: string): EventRecord | null {
    const seq = this.recordIds.seqOf('event', id);
    const row = seq === null ? undefined : this.sql.exec<{ body: string }>(`SELECT body FROM log WHERE seq = ?`, seq).toArray()[0];
    return row ? (JSON.parse(row.body) as EventRecord) : null;
  }

  /** Events from `from` on (forward) or up to `from` (backward), by sequence number. */
  read(from: number, limit: number, direction: 'forward' | 'backward'): EventRecord[] {
    const rows =
      direction === 'forward'
        ? this.sql.exec<{ body: string }>(`SELECT body FROM log WHERE seq >= ? ORDER BY seq ASC LIMIT ?`, from, limit).toArray()
        : this.sql.exec<{ body: string }>(`SELECT body FROM log WHERE seq <= ? ORDER BY seq DESC LIMIT ?`, from, limit).toArray();
    return rows.map((r) => JSON.parse(r.body) as EventRecord);
  }

  /** How many events, and the commit times of the first and the last. */
  info(): { count: number; first_created_at: string | null; last_created_at: string | null } {
    const row = this.sql
      .exec<{ n: number; first: string | null; last: string | null }>(
        `SELECT count(*) AS n, (SELECT json_extract(body, '$.created_at') FROM log ORDER BY seq ASC LIMIT 1) AS first,
           (SELECT json_extract(body, '$.created_at') FROM log ORDER BY seq DESC LIMIT 1) AS last FROM log`,
      )
      .one();
    return { count: row.n, first_created_at: row.first, last_created_at: row.last };
  }

  /** Every stored event id (an erase removes their owner index rows). */
  ids(): string[] {
    return this.sql.exec<{ id: string }>(`SELECT id FROM log`).toArray().map((r) => r.id);
  }

  count(): number {
    return this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM log`).one().n;
  }

  /** Events committed at or after `since` (ISO time). */
  committedSince(since: string): EventRecord[] {
    return this.sql
      .exec<{ body: string }>(`SELECT body FROM log WHERE json_extract(body, '$.created_at') >= ?`, since)
      .toArray()
      .map((r) => JSON.parse(r.body) as EventRecord);
  }

  /** Inside an erase's transaction. */
  deleteAll(): void {
    this.sql.exec(`DELETE FROM log`);
  }
}
