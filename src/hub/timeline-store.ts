import type { RealtimeRole } from '../domain/realtime-token';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { StoredAppend } from '../domain/idempotency';
import type { RecordIds } from './record-ids';
import type { TimelineQuery } from './types';

/** A stored timeline entry as the idempotency check needs it, with the original record for a replay. */
export interface StoredEntry extends StoredAppend {
  record: TimelineEntryRecord;
}

/**
 * The hub's `timeline` table (src/hub/storage.ts): a contact's timeline entries, by sequence
 * number. SQL only; the hub decides what to write and when (inside its transactions), and the socket
 * layer reads its catch-up here.
 */
export class TimelineStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly recordIds: RecordIds,
  ) {}

  /** The entry committed under this id, or else under this Idempotency-Key. */
  find(id: string, key: string | null): StoredEntry | undefined {
    type Row = { id: string; request_hash: string | null; body: string };
    const seq = this.recordIds.seqOf('entry', id);
    const byId = seq === null ? undefined : this.sql.exec<Row>(`SELECT id, request_hash, body FROM timeline WHERE seq = ?`, seq).toArray()[0];
    const row = byId || key === null ? byId : this.sql.exec<Row>(`SELECT id, request_hash, body FROM timeline WHERE idempotency_key = ?`, key).toArray()[0];
    return row && { id: row.id, request_hash: row.request_hash, record: JSON.parse(row.body) as TimelineEntryRecord };
  }

  /** Stores a new entry; answers its JSON as stored (a batch's outbox row is made of them). */
  insert(r: TimelineEntryRecord, idempotencyKey: string | null, requestHash: string | null): string {
    const body = JSON.stringify(r);
    this.sql.exec(
      `INSERT INTO timeline (seq, id, idempotency_key, request_hash, origin_event_id, session_id, event_type, category, is_realtime,
         delivered, read, visible_to_client, visible_to_agent, expires_at, occurred_at, revision, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, 1, ?)`,
      r.sequence_number,
      r.id,
      idempotencyKey,
      requestHash,
      r.origin_event_id,
      r.session_id,
      r.event_type,
      r.category,
      r.is_realtime ? 1 : 0,
      r.visible_to_client ? 1 : 0,
      r.visible_to_agent ? 1 : 0,
      r.expires_at === null ? null : Date.parse(r.expires_at),
      Date.parse(r.occurred_at),
      body,
    );
    this.recordIds.stored('entry', r.id, r.sequence_number);
    return body;
  }

  get(id: string): TimelineEntryRecord | null {
    return this.getWithRevision(id)?.record ?? null;
  }

  getWithRevision(id: string): { record: TimelineEntryRecord; revision: number } | null {
    const seq = this.recordIds.seqOf('entry', id);
    const row = seq === null ? undefined : this.sql.exec<{ body: string; revision: number }>(`SELECT body, revision FROM timeline WHERE seq = ?`, seq).toArray()[0];
    return row ? { record: JSON.parse(row.body) as TimelineEntryRecord, revision: row.revision } : null;
  }

  /** The entry derived from this log event, if any. */
  derivedFrom(eventId: string): TimelineEntryRecord | null {
    // A derived entry has its log event's sequence number (seq is both tables' key).
    const seq = this.recordIds.seqOf('event', eventId);
    const row = seq === null ? undefined : this.sql.exec<{ body: string }>(`SELECT body FROM timeline WHERE seq = ?`, seq).toArray()[0];
    return row ? (JSON.parse(row.body) as TimelineEntryRecord) : null;
  }

  /** Stores a changed entry (its delivered/read flags) under a new revision. */
  update(next: TimelineEntryRecord, revision: number): void {
    this.sql.exec(
      `UPDATE timeline SET delivered = ?, read = ?, revision = ?, body = ? WHERE seq = ?`,
      next.delivered ? 1 : 0,
      next.read ? 1 : 0,
      revision,
      JSON.stringify(next),
      next.sequence_number,
    );
  }

  /** Deletes entry `id`; its sequence number, or null when no entry has that id. */
  delete(id: string): number | null {
    const seq = this.recordIds.seqOf('entry', id);
    if (seq === null) return null;
    this.sql.exec(`DELETE FROM timeline WHERE seq = ?`, seq);
    this.recordIds.deleted('entry', id);
    return seq;
  }

  list(q: TimelineQuery, now: number): { events: TimelineEntryRecord[]; total: number } {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (q.visibleTo === 'client') where.push('visible_to_client = 1');
    if (q.visibleTo === 'agent') where.push('visible_to_agent = 1');
    if (q.category) {
      where.push('category = ?');
      args.push(q.category);
    }
    if (q.type) {
      where.push('event_type = ?');
      args.push(q.type);
    }
    if (q.sessionId) {
      where.push('session_id = ?');
      args.push(q.sessionId);
    }
    if (q.afterSequence !== undefined) {
      where.push('seq > ?');
      args.push(q.afterSequence);
    }
    if (!q.includeExpired) {
      where.push('(expires_at IS NULL OR expires_at > ?)');
      args.push(now);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM timeline ${clause}`, ...args).one().n;
    const rows = this.sql
      .exec<{ body: string }>(
        `SELECT body FROM timeline ${clause} ORDER BY seq ${q.ascending ? 'ASC' : 'DESC'} LIMIT ? OFFSET ?`,
        ...args,
        q.limit,
        q.offset,
      )
      .toArray();
    return { events: rows.map((r) => JSON.parse(r.body) as TimelineEntryRecord), total };
  }

  /** Undelivered realtime entries that are not expired at `now`, oldest first. */
  undelivered(now: number): TimelineEntryRecord[] {
    return this.sql
      .exec<{ body: string }>(`SELECT body FROM timeline WHERE is_realtime = 1 AND delivered = 0 AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq`, now)
      .toArray()
      .map((r) => JSON.parse(r.body) as TimelineEntryRecord);
  }

  /**
   * One chunk of a socket's catch-up: the same filter as `list` for the role (visible, not expired,
   * sequence above the cursor, oldest first), as the stored JSON text, so that it goes out as it is,
   * without a parse and a re-serialization per entry (a 10,000-entry resume is dominated by that otherwise).
   */
  catchUpRows(role: RealtimeRole, after: number, limit: number, now: number): { sequence_number: number; body: string }[] {
    const visible = role === 'client' ? 'visible_to_client' : 'visible_to_agent';
    return this.sql
      .exec<{ sequence_number: number; body: string }>(
        `SELECT seq AS sequence_number, body FROM timeline WHERE seq > ? AND ${visible} = 1 AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq LIMIT ?`,
        after,
        now,
        limit,
      )
      .toArray();
  }

  /** Ids of the entries that expired before `before` (ms). */
  expiredBefore(before: number): string[] {
    return this.sql
      .exec<{ id: string }>(`SELECT id FROM timeline WHERE expires_at IS NOT NULL AND expires_at < ?`, before)
      .toArray()
      .map((r) => r.id);
  }

  /** Every stored entry id (an erase removes their owner index rows). */
  ids(): string[] {
    return this.sql.exec<{ id: string }>(`SELECT id FROM timeline`).toArray().map((r) => r.id);
  }

  count(includeExpired: boolean, now: number): number {
    return this.sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM timeline WHERE ? OR expires_at IS NULL OR expires_at > ?`, includeExpired ? 1 : 0, now)
      .one().n;
  }

  /** Agent-visible entries that are not read and not expired at `now` (ms): a contact's unread count. */
  unreadCount(now: number = Date.now()): number {
    return this.sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM timeline WHERE visible_to_agent = 1 AND read = 0 AND (expires_at IS NULL OR expires_at > ?)`, now)
      .one().n;
  }

  /** The entries `unreadCount` counts, up to sequence `upTo`, oldest first, with their revisions (to mark them read). */
  unreadUpTo(upTo: number, now: number): { record: TimelineEntryRecord; revision: number }[] {
    return this.sql
      .exec<{ body: string; revision: number }>(
        `SELECT body, revision FROM timeline WHERE seq <= ? AND visible_to_agent = 1 AND read = 0 AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq`,
        upTo,
        now,
      )
      .toArray()
      .map((r) => ({ record: JSON.parse(r.body) as TimelineEntryRecord, revision: r.revision }));
  }

  /** Entries read or delivered at or after `since` (ISO time): their receipts may still be on their way to webhooks. */
  receiptsSince(since: string): TimelineEntryRecord[] {
    return this.sql
      .exec<{ body: string }>(
        `SELECT body FROM timeline WHERE (read = 1 AND json_extract(body, '$.read_at') >= ?1) OR (delivered = 1 AND json_extract(body, '$.delivered_at') >= ?1)`,
        since,
      )
      .toArray()
      .map((r) => JSON.parse(r.body) as TimelineEntryRecord);
  }

  /** Entries committed at or after `since` (ISO time). */
  committedSince(since: string): TimelineEntryRecord[] {
    return this.sql
      .exec<{ body: string }>(`SELECT body FROM timeline WHERE json_extract(body, '$.created_at') >= ?`, since)
      .toArray()
      .map((r) => JSON.parse(r.body) as TimelineEntryRecord);
  }

  /** Inside an erase's transaction. */
  deleteAll(): void {
    this.sql.exec(`DELETE FROM timeline`);
  }
}
