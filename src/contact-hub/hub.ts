import { DurableObject } from 'cloudflare:workers';
import { isExpired } from '../domain/contact-event-types';
import type { TimelineSource } from '../domain/contact-event-types';
import type { EventSource } from '../domain/event-types';
import type { ContactEventRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';
import { timelineMappingFor } from '../domain/timeline-mapping';
import { eraseContactRows, eraseStreamRows } from '../db/erase';
import { clearHubBacklog, clearParked, insertParked, upsertHubBacklog, type ParkedRecord } from '../db/ops';
import { fitDerivedText } from '../domain/limits';
import { iso } from '../domain/time';
import { activeKeyIds } from '../db/tenants';
import { MESSAGE_BYTES, oversizedRelayMessage } from '../queues/messages';
import { RelaySink, relayFailureOf, relayMessage, type OutboxItem, type OutboxRow } from './relay';
import { IN_FLIGHT_MS, closeInFlightDeliveries } from './erase';
import { HubSockets } from './sockets';
import { HUB_SCHEMA } from './storage';
import {
  NOTHING_ERASED,
  contactStreamId,
  type EntryAppendOutcome,
  type EventAppendOutcome,
  type ExpectedVersion,
  type HubEraseCounts,
  type HubOwner,
  type PreparedEntry,
  type PreparedEvent,
  type TimelineChange,
  type TimelinePage,
  type TimelineQuery,
} from './types';

const RELAY_BATCH = 500;
const SAFETY_ALARM_MS = 5_000;
/** How long relayed outbox rows may wait for the next write transaction to delete them. */
const CLEAR_AFTER_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;
/** A row that failed this many single-row passes in a row, each time isolated, is parked. */
const PARK_AFTER = 3;
/**
 * Errors that the same rows meet again on every retry: a constraint, a value too big, malformed JSON.
 * One of them on a single-row pass parks the row at once.
 */
const DETERMINISTIC = /constraint failed|SQLITE_CONSTRAINT|SQLITE_TOOBIG|too big|malformed JSON|datatype mismatch|SQLITE_MISMATCH/i;

type Dest = 'd1' | 'webhooks' | 'analytics';
const FLAG: Record<Dest, 'd1' | 'wq' | 'aq'> = { d1: 'd1', webhooks: 'wq', analytics: 'aq' };
/**
 * How a relay pass went: everything through; failed because of its own rows (the destination works);
 * failed that way and its single row is now parked; failed otherwise.
 */
type PassOutcome = 'ok' | 'own' | 'parked' | 'down';

type Row = Record<string, SqlStorageValue>;

function conflictDetail(what: string, found: Row, e: { id: string; idempotencyKey: string | null }): string {
  return found.id === e.id
    ? `${what} ${e.id} already exists with a different body.`
    : `Idempotency key ${e.idempotencyKey} was used with a different body.`;
}

const LOG_TO_TIMELINE_SOURCE: Record<EventSource, TimelineSource> = {
  system: 'system',
  webhook: 'webhook',
  manual: 'agent',
  cron: 'automation',
  workflow: 'workflow',
};

/**
 * One per (tenant, contact) — or per (tenant, stream) for aggregates that are not contacts. The single
 * writer of everything that names its owner: it assigns sequence numbers 1..N without gaps, commits
 * each change with an outbox row in one storage transaction (the durability point), and relays the
 * outbox to D1 and the queues in batches, retrying from an alarm with backoff when they fail.
 */
export class ContactHub extends DurableObject<Env> {
  protected readonly sql: SqlStorage;
  /** Replaced by tests to inject D1 or queue failures. */
  sink: RelaySink;
  private lastSeq = 0;
  private owner: HubOwner | null = null;
  private relaying: Promise<void> | null = null;
  private relayAgain = false;
  private failures = 0;
  /** When the pending alarm fires (ms), as far as this instance knows; null: none. */
  private alarmAt: number | null = null;
  private lastRelayError: string | null = null;
  /**
   * Outbox rows up to this id went everywhere but may still be stored: deleting them is folded into
   * the next write transaction (or a timer), so a relay pass costs no storage commit of its own. In
   * memory only: after a restart they are relayed again, which D1 (idempotent upserts) and the queue
   * consumers (idempotent per record) absorb. Cleared rows are always a prefix of the outbox.
   */
  private relayedUpTo = 0;
  private clearedUpTo = 0;
  private clearTimer: ReturnType<typeof setTimeout> | null = null;
  /** Mirrors meta 'backlog_reported' (read at start): a relay pass need not query it. */
  private backlogReported = false;
  /** The WebSocket layer (src/contact-hub/sockets.ts); the hub only delegates to it. */
  private readonly sockets: HubSockets;
  /** While an erase drains the relay, no new relay pass starts (the rows are about to be deleted). */
  private erasing = 0;
  /**
   * Rows per relay pass. Halved after a failed pass and doubled after a good one, so that a row that
   * fails is soon alone in its pass, where it can be told apart from the rows around it.
   */
  private window = RELAY_BATCH;
  /** Set by a pass that failed because of its own rows; cleared when a row is parked. */
  private narrowing = false;
  /** Consecutive isolated failures of the row that is alone in its pass. */
  private probe: { id: number; failures: number } | null = null;
  /** Parked rows may not be in D1's relay_parked yet; true at start so that the first pass checks. */
  private parkedUnreported = true;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sink = new RelaySink(env, ctx.id.toString());
    this.sockets = new HubSockets(ctx, this);
    ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  private migrate(): void {
    for (const statement of HUB_SCHEMA) this.sql.exec(statement);
    const owner = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'owner'`).toArray()[0];
    this.owner = owner ? (JSON.parse(owner.value) as HubOwner) : null;
    // The counter is persisted in meta: deriving it from max(seq) alone would hand out the number of a
    // deleted (or purged) newest entry again after a restart.
    const seq = this.sql.exec<{ s: number | null }>(
      `SELECT max(s) AS s FROM (SELECT max(seq) AS s FROM log UNION ALL SELECT max(seq) FROM timeline
         UNION ALL SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq')`,
    ).one();
    this.lastSeq = seq.s ?? 0;
    this.backlogReported = this.sql.exec(`SELECT 1 FROM meta WHERE key = 'backlog_reported'`).toArray().length > 0;
  }

  /** Inside an append's transaction: persist the counter with the rows that use it. */
  private saveSeq(seq: number): void {
    this.sql.exec(`INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, String(seq));
  }

  /**
   * The first write names the owner; every later call must name the same one (defence in depth).
   * Called inside the write's transaction; the in-memory owner is set only once that commits (see
   * `committed`), so a rolled-back first write leaves no owner behind in memory without its row.
   */
  private claim(owner: HubOwner): void {
    if (this.owner) {
      if (this.owner.tenantId !== owner.tenantId || this.owner.kind !== owner.kind || this.owner.id !== owner.id) {
        throw new Error('hub owner mismatch');
      }
      return;
    }
    this.sql.exec(`INSERT INTO meta (key, value) VALUES ('owner', ?)`, JSON.stringify(owner));
  }

  private committed(owner: HubOwner): void {
    this.owner ??= owner;
  }

  private checkOwner(owner: HubOwner): boolean {
    return this.owner === null || (this.owner.tenantId === owner.tenantId && this.owner.id === owner.id && this.owner.kind === owner.kind);
  }

  private streamId(owner: HubOwner): string {
    return owner.kind === 'contact' ? contactStreamId(owner.id) : owner.id;
  }

  // ---------------------------------------------------------------- appends

  /** Conflicts that an append of these events would meet, without writing (first phase of a multi-owner batch). */
  checkEvents(owner: HubOwner, events: PreparedEvent[]): string | null {
    if (!this.checkOwner(owner)) return 'hub owner mismatch';
    for (const e of events) {
      const found = e.fresh ? undefined : this.findLog(e.id, e.idempotencyKey);
      if (found && found.request_hash !== e.requestHash) return conflictDetail('Event', found, e);
    }
    return null;
  }

  /**
   * Appends log events (all or none) after the expected-version and idempotency checks. Records come
   * back in input order; an item whose id or key was already committed with the same body returns
   * the original.
   */
  appendEvents(owner: HubOwner, events: PreparedEvent[], expected: ExpectedVersion = 'any'): EventAppendOutcome {
    if (!this.checkOwner(owner)) throw new Error('hub owner mismatch');
    const out: (EventRecord | null)[] = [];
    const fresh: { index: number; e: PreparedEvent }[] = [];
    const replayed: EventRecord[] = [];
    for (const [index, e] of events.entries()) {
      const found = e.fresh ? undefined : this.findLog(e.id, e.idempotencyKey);
      if (!found) {
        out.push(null);
        fresh.push({ index, e });
      } else if (found.request_hash !== e.requestHash) {
        return { ok: false, reason: 'conflict', detail: conflictDetail('Event', found, e), current_version: this.lastSeq };
      } else {
        const original = JSON.parse(found.body as string) as EventRecord;
        out.push(original);
        replayed.push(original);
      }
    }
    if (fresh.length === 0) {
      return { ok: true, created: false, records: out as EventRecord[], derived: this.derivedOf(replayed), version: this.lastSeq };
    }
    if (replayed.length === 0) {
      const mismatch = this.checkExpected(expected);
      if (mismatch) return mismatch;
    }

    const now = Date.now();
    const streamId = this.streamId(owner);
    const derived: ContactEventRecord[] = [];
    this.ctx.storage.transactionSync(() => {
      this.claim(owner);
      let seq = this.lastSeq;
      for (const { index, e } of fresh) {
        seq += 1;
        const record: EventRecord = {
          id: e.id,
          event_type: e.event_type,
          source: e.source,
          contact_id: e.contact_id,
          session_id: e.session_id,
          message_id: e.message_id,
          payload: e.payload,
          metadata: e.metadata,
          stream_id: streamId,
          sequence_number: seq,
          schema_version: e.schema_version,
          timestamp: iso(e.timestamp),
          created_at: iso(now),
        };
        this.sql.exec(
          `INSERT INTO log (seq, id, idempotency_key, request_hash, event_type, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
          seq,
          e.id,
          e.idempotencyKey,
          e.requestHash,
          e.event_type,
          e.timestamp,
          JSON.stringify(record),
        );
        this.enqueue({ kind: 'event', insert: { record, idempotency_key: e.idempotencyKey, request_hash: e.requestHash } }, now);
        out[index] = record;
        const entry = owner.kind === 'contact' ? this.deriveEntry(record, seq, now, e.derivedEntryId) : null;
        if (entry) derived.push(entry);
      }
      this.saveSeq(seq);
      this.lastSeq = seq;
    });
    this.committed(owner);
    for (const entry of derived) this.announce({ type: 'event', entry });
    this.afterCommit();
    return { ok: true, created: true, records: out as EventRecord[], derived, version: this.lastSeq };
  }

  /** Log → timeline (a derived entry), inside the append's transaction, exactly once. */
  private deriveEntry(event: EventRecord, seq: number, now: number, id = crypto.randomUUID()): ContactEventRecord | null {
    const mapping = timelineMappingFor(event.event_type);
    if (!mapping || !event.contact_id) return null;
    const payload = event.payload;
    const description = typeof payload.description === 'string' ? payload.description : null;
    const userId = typeof event.metadata.user_id === 'string' && /^[0-9a-f-]{36}$/i.test(event.metadata.user_id) ? event.metadata.user_id : null;
    // The copied title and description are cut so that the entry stays within the record limit.
    const entry: ContactEventRecord = fitDerivedText({
      id,
      contact_id: event.contact_id,
      sequence_number: seq,
      session_id: event.session_id,
      event_type: mapping.type,
      category: mapping.category,
      priority: mapping.priority ?? 'normal',
      title: typeof payload.title === 'string' ? payload.title : mapping.title,
      description,
      payload,
      metadata: { origin_event_type: event.event_type },
      source: LOG_TO_TIMELINE_SOURCE[event.source],
      triggered_by: userId,
      integration_source: null,
      is_realtime: false,
      delivered: false,
      delivered_at: null,
      read: false,
      read_at: null,
      visible_to_client: mapping.visibleToClient ?? false,
      visible_to_agent: true,
      expires_at: null,
      occurred_at: event.timestamp,
      created_at: iso(now),
      origin_event_id: event.id,
    });
    this.insertEntry(entry, null, null);
    this.enqueue({ kind: 'timeline', record: entry, revision: 1, announce: true }, now);
    return entry;
  }

  private derivedOf(events: EventRecord[]): ContactEventRecord[] {
    const out: ContactEventRecord[] = [];
    for (const e of events) {
      const row = this.sql.exec(`SELECT body FROM timeline WHERE origin_event_id = ?`, e.id).toArray()[0];
      if (row) out.push(JSON.parse(row.body as string) as ContactEventRecord);
    }
    return out;
  }

  /** Appends timeline entries (all or none), consecutive sequence numbers; records in input order. */
  appendEntries(owner: HubOwner, entries: PreparedEntry[]): EntryAppendOutcome {
    if (!this.checkOwner(owner) || owner.kind !== 'contact') throw new Error('hub owner mismatch');
    const out: (ContactEventRecord | null)[] = [];
    const fresh: { index: number; e: PreparedEntry }[] = [];
    for (const [index, e] of entries.entries()) {
      const found = e.fresh ? undefined : this.findEntryRow(e.id, e.idempotencyKey);
      if (!found) {
        out.push(null);
        fresh.push({ index, e });
      } else if (found.request_hash !== e.requestHash) {
        return { ok: false, reason: 'conflict', detail: conflictDetail('Contact event', found, e), current_version: this.lastSeq };
      } else {
        out.push(JSON.parse(found.body as string) as ContactEventRecord);
      }
    }
    if (fresh.length === 0) return { ok: true, created: false, records: out as ContactEventRecord[], derived: [], version: this.lastSeq };

    const now = Date.now();
    const records: ContactEventRecord[] = [];
    this.ctx.storage.transactionSync(() => {
      this.claim(owner);
      let seq = this.lastSeq;
      for (const { index, e } of fresh) {
        seq += 1;
        const record: ContactEventRecord = {
          id: e.id,
          contact_id: owner.id,
          sequence_number: seq,
          session_id: e.session_id,
          event_type: e.event_type,
          category: e.category,
          priority: e.priority,
          title: e.title,
          description: e.description,
          payload: e.payload,
          metadata: e.metadata,
          source: e.source,
          triggered_by: e.triggered_by,
          integration_source: e.integration_source,
          is_realtime: e.is_realtime,
          delivered: false,
          delivered_at: null,
          read: false,
          read_at: null,
          visible_to_client: e.visible_to_client,
          visible_to_agent: e.visible_to_agent,
          expires_at: e.expires_at === null ? null : iso(e.expires_at),
          occurred_at: iso(e.occurred_at),
          created_at: iso(now),
          origin_event_id: null,
        };
        this.insertEntry(record, e.idempotencyKey, e.requestHash);
        this.enqueue({ kind: 'timeline', record, revision: 1, announce: true }, now);
        out[index] = record;
        records.push(record);
      }
      this.saveSeq(seq);
      this.lastSeq = seq;
    });
    this.committed(owner);
    for (const entry of records) this.announce({ type: 'event', entry });
    this.afterCommit();
    return { ok: true, created: true, records: out as ContactEventRecord[], derived: [], version: this.lastSeq };
  }

  private checkExpected(expected: ExpectedVersion): EventAppendOutcome | null {
    const current = this.lastSeq;
    const fail = (detail: string): EventAppendOutcome => ({ ok: false, reason: 'wrong_expected_version', detail, current_version: current });
    if (expected === 'any') return null;
    if (expected === 'no_stream') return current === 0 ? null : fail(`The stream already exists at version ${current}.`);
    if (expected === 'stream_exists') return current > 0 ? null : fail('The stream does not exist.');
    return current === expected ? null : fail(`Expected version ${expected}, but the stream is at version ${current}.`);
  }

  private insertEntry(r: ContactEventRecord, idempotencyKey: string | null, requestHash: string | null): void {
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
      JSON.stringify(r),
    );
  }

  private findLog(id: string, key: string | null): Row | undefined {
    const byId = this.sql.exec(`SELECT id, request_hash, body FROM log WHERE id = ?`, id).toArray()[0];
    if (byId || key === null) return byId;
    return this.sql.exec(`SELECT id, request_hash, body FROM log WHERE idempotency_key = ?`, key).toArray()[0];
  }

  private findEntryRow(id: string, key: string | null): Row | undefined {
    const byId = this.sql.exec(`SELECT id, request_hash, body FROM timeline WHERE id = ?`, id).toArray()[0];
    if (byId || key === null) return byId;
    return this.sql.exec(`SELECT id, request_hash, body FROM timeline WHERE idempotency_key = ?`, key).toArray()[0];
  }

  // ---------------------------------------------------------------- timeline reads and updates

  /** The contact's timeline, strongly consistent (served from the hub's own storage). */
  listTimeline(owner: HubOwner, q: TimelineQuery): TimelinePage {
    if (!this.checkOwner(owner)) return { events: [], total: 0 };
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
      args.push(Date.now());
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
    return { events: rows.map((r) => JSON.parse(r.body) as ContactEventRecord), total };
  }

  getEntry(owner: HubOwner, id: string): ContactEventRecord | null {
    if (!this.checkOwner(owner)) return null;
    const row = this.sql.exec<{ body: string }>(`SELECT body FROM timeline WHERE id = ?`, id).toArray()[0];
    return row ? (JSON.parse(row.body) as ContactEventRecord) : null;
  }

  /** Undelivered realtime entries that are not expired, oldest first. */
  undelivered(owner: HubOwner): ContactEventRecord[] {
    if (!this.checkOwner(owner)) return [];
    return this.sql
      .exec<{ body: string }>(
        `SELECT body FROM timeline WHERE is_realtime = 1 AND delivered = 0 AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq`,
        Date.now(),
      )
      .toArray()
      .map((r) => JSON.parse(r.body) as ContactEventRecord);
  }

  /** Sets read/read_at once; later calls return the first read time. */
  markRead(owner: HubOwner, id: string, at = Date.now()): ContactEventRecord | null {
    return this.update(owner, id, (e) => (e.read ? null : { ...e, read: true, read_at: iso(at) }), (e) => ({
      type: 'read',
      id: e.id,
      read_at: e.read_at!,
    }));
  }

  /** Sets delivered/delivered_at once. */
  markDelivered(owner: HubOwner, id: string, at = Date.now()): ContactEventRecord | null {
    return this.update(owner, id, (e) => (e.delivered ? null : { ...e, delivered: true, delivered_at: iso(at) }), (e) => ({
      type: 'delivered',
      id: e.id,
      delivered_at: e.delivered_at!,
    }));
  }

  private update(
    owner: HubOwner,
    id: string,
    change: (e: ContactEventRecord) => ContactEventRecord | null,
    announce: (e: ContactEventRecord) => TimelineChange,
  ): ContactEventRecord | null {
    if (!this.checkOwner(owner)) return null;
    const row = this.sql.exec<{ body: string; revision: number }>(`SELECT body, revision FROM timeline WHERE id = ?`, id).toArray()[0];
    if (!row) return null;
    const current = JSON.parse(row.body) as ContactEventRecord;
    const next = change(current);
    if (!next) return current;
    const revision = row.revision + 1;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `UPDATE timeline SET delivered = ?, read = ?, revision = ?, body = ? WHERE id = ?`,
        next.delivered ? 1 : 0,
        next.read ? 1 : 0,
        revision,
        JSON.stringify(next),
        id,
      );
      this.enqueue({ kind: 'timeline', record: next, revision, announce: false }, Date.now(), { queues: false });
    });
    this.announce(announce(next));
    this.afterCommit();
    return next;
  }

  deleteEntry(owner: HubOwner, id: string): boolean {
    if (!this.checkOwner(owner)) return false;
    let deleted = false;
    this.ctx.storage.transactionSync(() => {
      deleted = this.sql.exec(`DELETE FROM timeline WHERE id = ?`, id).rowsWritten > 0;
      if (deleted) this.enqueue({ kind: 'timeline_delete', id }, Date.now(), { queues: false });
    });
    if (deleted) {
      this.announce({ type: 'deleted', id });
      this.afterCommit();
    }
    return deleted;
  }

  /** Deletes entries that expired before `before` (ms), here and — through the outbox — in D1. */
  purgeExpired(owner: HubOwner, before: number): number {
    if (!this.checkOwner(owner)) return 0;
    const ids = this.sql
      .exec<{ id: string }>(`SELECT id FROM timeline WHERE expires_at IS NOT NULL AND expires_at < ?`, before)
      .toArray()
      .map((r) => r.id);
    if (ids.length === 0) return 0;
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const id of ids) {
        this.sql.exec(`DELETE FROM timeline WHERE id = ?`, id);
        this.enqueue({ kind: 'timeline_delete', id }, now, { queues: false });
      }
    });
    for (const id of ids) this.announce({ type: 'deleted', id });
    this.afterCommit();
    return ids.length;
  }

  countTimeline(owner: HubOwner, includeExpired = false): number {
    if (!this.checkOwner(owner)) return 0;
    return this.sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM timeline WHERE ? OR expires_at IS NULL OR expires_at > ?`, includeExpired ? 1 : 0, Date.now())
      .one().n;
  }

  // ---------------------------------------------------------------- log reads

  /** The owner's stream: log events by version. */
  readStream(owner: HubOwner, fromVersion: number, limit: number, direction: 'forward' | 'backward'): { events: EventRecord[]; version: number } {
    if (!this.checkOwner(owner)) return { events: [], version: 0 };
    const rows =
      direction === 'forward'
        ? this.sql.exec<{ body: string }>(`SELECT body FROM log WHERE seq >= ? ORDER BY seq ASC LIMIT ?`, fromVersion, limit).toArray()
        : this.sql.exec<{ body: string }>(`SELECT body FROM log WHERE seq <= ? ORDER BY seq DESC LIMIT ?`, fromVersion, limit).toArray();
    return { events: rows.map((r) => JSON.parse(r.body) as EventRecord), version: this.lastSeq };
  }

  /** One log event by id (GET /events/{id} before the relay has brought it to D1). */
  getLogEvent(owner: HubOwner, id: string): EventRecord | null {
    if (!this.checkOwner(owner)) return null;
    const row = this.sql.exec<{ body: string }>(`SELECT body FROM log WHERE id = ?`, id).toArray()[0];
    return row ? (JSON.parse(row.body) as EventRecord) : null;
  }

  version(owner: HubOwner): number {
    return this.checkOwner(owner) ? this.lastSeq : 0;
  }

  /** Stream facts (GET /streams/{id}/metadata): version, how many log events, first and last commit times. */
  streamInfo(owner: HubOwner): { version: number; count: number; first_created_at: string | null; last_created_at: string | null } {
    if (!this.checkOwner(owner)) return { version: 0, count: 0, first_created_at: null, last_created_at: null };
    const row = this.sql
      .exec<{ n: number; first: string | null; last: string | null }>(
        `SELECT count(*) AS n, (SELECT json_extract(body, '$.created_at') FROM log ORDER BY seq ASC LIMIT 1) AS first,
           (SELECT json_extract(body, '$.created_at') FROM log ORDER BY seq DESC LIMIT 1) AS last FROM log`,
      )
      .one();
    return { version: this.lastSeq, count: row.n, first_created_at: row.first, last_created_at: row.last };
  }

  // ---------------------------------------------------------------- erase (GDPR)

  /**
   * Erases the owner everywhere but R2 (the Worker rewrites archives after this answers): its D1 rows,
   * then the hub's storage. Answers with counts per store.
   * The relay is stopped and drained first, then the erase runs under blockConcurrencyWhile: an append
   * delivered during the D1 delete would otherwise commit here, be relayed to D1 after the delete
   * (surviving the erase there) and then be wiped from the hub. (The drain happens outside the block:
   * the completion of a D1 call the relay made before the block would itself wait for the block to end.)
   * The counter survives as a tombstone: sequence numbers are never reused, so a client resuming with
   * `after=N` from before the erase never skips a new entry that would otherwise reuse N.
   */
  async erase(owner: HubOwner): Promise<HubEraseCounts> {
    if (!this.checkOwner(owner)) return { ...NOTHING_ERASED };
    this.erasing += 1;
    try {
      while (this.relaying) await this.relaying.catch(() => undefined);
      return await this.ctx.blockConcurrencyWhile(async () => {
        const hubEvents = this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM log`).one().n;
        const hubEntries = this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM timeline`).one().n;
        const streamId = this.streamId(owner);
        if (owner.kind === 'contact') {
          // Before the D1 delete: a late fan-out between the two would otherwise create a live delivery.
          const since = iso(Date.now() - IN_FLIGHT_MS);
          const recent = (table: 'log' | 'timeline') =>
            this.sql.exec<{ body: string }>(`SELECT body FROM ${table} WHERE json_extract(body, '$.created_at') >= ?`, since).toArray();
          await closeInFlightDeliveries(this.env.DB, owner.tenantId, {
            events: recent('log').map((r) => JSON.parse(r.body) as EventRecord),
            entries: recent('timeline').map((r) => JSON.parse(r.body) as ContactEventRecord),
          });
        }
        // Even a hub that holds nothing deletes in D1 (scoped to the caller's tenant): the request is
        // idempotent, and a retry after a crash between the D1 delete and deleteAll must still finish.
        const d1 =
          owner.kind === 'contact'
            ? await eraseContactRows(this.env.DB, owner.tenantId, owner.id, streamId)
            : { ...NOTHING_ERASED, events: await eraseStreamRows(this.env.DB, owner.tenantId, streamId) };
        await this.clearBacklog(true);
        for (const ws of this.ctx.getWebSockets()) ws.close(4410, 'contact erased');
        const highWater = this.lastSeq;
        // First, in one transaction, everything but the counter: should the instance die before the
        // tombstone is written back below, the rows are gone and the counter is still stored.
        this.ctx.storage.transactionSync(() => {
          this.sql.exec(`DELETE FROM log`);
          this.sql.exec(`DELETE FROM timeline`);
          this.sql.exec(`DELETE FROM outbox`);
          this.sql.exec(`DELETE FROM parked`);
          this.sql.exec(`DELETE FROM meta WHERE key != 'seq'`);
        });
        await this.ctx.storage.deleteAlarm();
        // Then all of the storage (freed pages included), with the tombstone written back in the same
        // turn, before any await: deleteAll takes effect at once, and writes made in one turn are
        // committed together (write coalescing), so no window leaves a storage without its counter.
        const cleared = this.ctx.storage.deleteAll();
        for (const statement of HUB_SCHEMA) this.sql.exec(statement);
        if (highWater > 0) this.saveSeq(highWater);
        await cleared;
        this.alarmAt = null;
        this.relayedUpTo = 0;
        this.clearedUpTo = 0;
        this.failures = 0;
        this.owner = null;
        this.backlogReported = false;
        this.migrate();
        return { ...d1, hub_events: hubEvents, hub_entries: hubEntries, sequence_number: this.lastSeq };
      });
    } finally {
      this.erasing -= 1;
    }
  }

  // ---------------------------------------------------------------- realtime (sockets announce here)

  /** Tells the hub's sockets about a committed change (always called after the commit). */
  protected announce(change: TimelineChange): void {
    this.sockets.announce(change);
  }

  /** Only WebSocket upgrades come over fetch (RPC cannot carry a socket); the Worker verified the caller. */
  override async fetch(request: Request): Promise<Response> {
    return this.sockets.upgrade(request);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.sockets.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.close(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    this.sockets.error(ws, error);
  }

  // ---------------------------------------------------------------- outbox relay

  private enqueue(item: OutboxItem, now: number, opts: { queues: boolean } = { queues: true }): void {
    this.clearRelayed();
    const toQueues = opts.queues && relayMessage('', item) !== null;
    this.sql.exec(
      `INSERT INTO outbox (kind, body, d1, wq, aq, created_at) VALUES (?, ?, 1, ?, ?, ?)`,
      item.kind,
      JSON.stringify(item),
      toQueues ? 1 : 0,
      toQueues ? 1 : 0,
      now,
    );
  }

  private afterCommit(): void {
    // A safety net: if this instance dies before relaying, the alarm wakes a new one to finish.
    void this.armAlarm(Date.now() + SAFETY_ALARM_MS);
    void this.relay();
  }

  /**
   * The hub has one alarm for two jobs: retrying the relay and closing sockets whose token expired.
   * The earliest wanted time wins; `alarm()` does both jobs and re-arms for what is still pending.
   */
  private async armAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /** SocketHost: a socket's token expires at `at`, or its key is due for a check. */
  wakeAt(at: number): void {
    void this.armAlarm(at);
  }

  /** SocketHost: which API keys of the tenant still stand (sockets of a revoked key are closed). */
  activeKeys(tenantId: string, keyIds: string[]): Promise<string[]> {
    return activeKeyIds(this.env.DB, tenantId, keyIds);
  }

  /** Group commit: one relay in flight at a time; appends made meanwhile ride the next pass. */
  relay(): Promise<void> {
    if (this.erasing > 0) return Promise.resolve();
    if (this.relaying) {
      this.relayAgain = true;
      return this.relaying;
    }
    this.relaying = this.relayLoop()
      .then(() => this.reportParked())
      .then(() => this.clearBacklog())
      .finally(() => {
      this.relaying = null;
    });
    return this.relaying;
  }

  private async relayLoop(): Promise<void> {
    for (;;) {
      this.relayAgain = false;
      const size = this.window;
      const rows = this.pendingRows(size);
      if (rows.length === 0) return this.widen();
      const outcome = await this.relayPass(rows);
      if (outcome === 'ok') {
        this.failures = 0;
        // While narrowing towards a bad row (its pass failed, it is not parked yet) the window keeps
        // its size: growing it would only fail again on the same row. A single row that went through
        // was not the culprit, or the failure has passed: grow again.
        if (rows.length === 1) this.narrowing = false;
        if (!this.narrowing) this.window = Math.min(RELAY_BATCH, this.window * 2);
        // Every commit calls relay(), which sets relayAgain while a pass is in flight: a short page and
        // no new commit mean the outbox is empty, without counting it.
        if (rows.length < size && !this.relayAgain) return this.widen();
        continue;
      }
      // The culprit is out: full passes again, at once.
      if (outcome === 'parked') continue;
      if (outcome === 'own') {
        // The destination works and refused these rows: narrow down to the culprit at once, no backoff
        // (each such pass halves the window or counts towards parking a single row, so this ends).
        // An outage does not narrow: a full pass still gets every row to the destinations that work.
        this.window = Math.max(1, Math.ceil(rows.length / 2));
        this.narrowing = true;
        continue;
      }
      this.failures += 1;
      await this.reportBacklog();
      await this.scheduleRetry();
      return;
    }
  }

  /** The outbox is empty: whatever was being narrowed down is through, the next pass is a full one. */
  private widen(): void {
    this.narrowing = false;
    this.window = RELAY_BATCH;
  }

  private pendingRows(limit: number): OutboxRow[] {
    return this.sql
      .exec<{ id: number; body: string; d1: number; wq: number; aq: number }>(
        `SELECT id, body, d1, wq, aq FROM outbox WHERE id > ? ORDER BY id LIMIT ?`,
        this.relayedUpTo,
        limit,
      )
      .toArray()
      .map((r) => ({ id: r.id, item: JSON.parse(r.body) as OutboxItem, chars: r.body.length, d1: r.d1 === 1, wq: r.wq === 1, aq: r.aq === 1 }));
  }

  private pendingCount(): number {
    return this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM outbox WHERE id > ?`, this.relayedUpTo).one().n;
  }

  /**
   * Sends each destination its pending rows in parallel; clears what got through. A row whose queue
   * message is over the message limit is parked for that queue before anything is sent; a row alone in
   * its pass that a destination refuses deterministically, or PARK_AFTER times in a row while taking
   * other hubs' records, is parked for that destination.
   */
  private async relayPass(rows: OutboxRow[]): Promise<PassOutcome> {
    const owner = this.owner;
    // Rows without an owner cannot be addressed to a tenant; report failure (alarm backoff) rather
    // than spin in relayLoop on rows that never clear.
    if (!owner) return 'down';
    const tenantId = owner.tenantId;
    const maxId = rows[rows.length - 1]!.id;
    const minId = rows[0]!.id;
    const messages = (flag: 'wq' | 'aq') => rows.filter((r) => r[flag]).map((r) => relayMessage(tenantId, r.item)).filter((m) => m !== null);
    this.parkOversized(tenantId, rows);
    const forD1 = rows.filter((r) => r.d1);
    const [wqList, aqList] = [messages('wq'), messages('aq')];
    const [d1, wq, aq] = await Promise.allSettled([
      forD1.length ? this.sink.writeD1(tenantId, forD1) : Promise.resolve(),
      wqList.length ? this.sink.send('webhooks', wqList) : Promise.resolve(),
      aqList.length ? this.sink.send('analytics', aqList) : Promise.resolve(),
    ]);
    if (d1.status === 'fulfilled' && wq.status === 'fulfilled' && aq.status === 'fulfilled') {
      // The common case: every row up to maxId is through (a pass starts at the oldest unrelayed row).
      this.relayedUpTo = maxId;
      this.probe = null;
      this.clearSoon();
      return 'ok';
    }
    this.ctx.storage.transactionSync(() => {
      if (d1.status === 'fulfilled') this.sql.exec(`UPDATE outbox SET d1 = 0 WHERE id BETWEEN ? AND ?`, minId, maxId);
      if (wq.status === 'fulfilled') this.sql.exec(`UPDATE outbox SET wq = 0 WHERE id BETWEEN ? AND ?`, minId, maxId);
      if (aq.status === 'fulfilled') this.sql.exec(`UPDATE outbox SET aq = 0 WHERE id BETWEEN ? AND ?`, minId, maxId);
      this.sql.exec(`DELETE FROM outbox WHERE id BETWEEN ? AND ? AND d1 = 0 AND wq = 0 AND aq = 0`, minId, maxId);
    });
    const refused: { dest: Dest; error: string; own: boolean; deterministic: boolean }[] = [];
    for (const [dest, r] of [['d1', d1], ['webhooks', wq], ['analytics', aq]] as const) {
      if (r.status === 'fulfilled') continue;
      const failure = relayFailureOf(r.reason);
      const deterministic = DETERMINISTIC.test(failure.error);
      refused.push({ dest, error: failure.error, own: failure.isolated || deterministic, deterministic });
      this.lastRelayError = failure.error;
      console.error(JSON.stringify({ msg: 'relay failed', owner, destination: dest, isolated: failure.isolated, error: failure.error }));
    }
    const only = rows.length === 1 ? rows[0]! : null;
    let parked = false;
    if (only && refused.some((f) => f.own)) {
      this.probe = this.probe?.id === only.id ? { id: only.id, failures: this.probe.failures + 1 } : { id: only.id, failures: 1 };
      const failures = this.probe.failures;
      for (const f of refused) {
        if (!f.own || (!f.deterministic && failures < PARK_AFTER)) continue;
        this.park(tenantId, only, f.dest, f.deterministic ? 'rejected' : 'failed_alone', f.error);
        parked = true;
      }
    }
    if (!refused.every((f) => f.own)) return 'down';
    return parked ? 'parked' : 'own';
  }

  /** Parks, for each queue, the rows whose message could never be sent (over the message limit). */
  private parkOversized(tenantId: string, rows: OutboxRow[]): void {
    for (const r of rows) {
      // A message is the outbox body's record in another short envelope (a tenant id instead of a
      // revision or idempotency key); at 3 bytes per UTF-16 unit at most, a body this short cannot make
      // one too large, and it need not be serialized again.
      if ((!r.wq && !r.aq) || (r.chars !== undefined && r.chars * 3 + 2_000 <= MESSAGE_BYTES)) continue;
      const m = relayMessage(tenantId, r.item);
      const bytes = m === null ? null : oversizedRelayMessage(m);
      if (bytes === null) continue;
      const error = `the record is ${bytes} bytes of JSON, over what one queue message carries`;
      if (r.wq) this.park(tenantId, r, 'webhooks', 'oversized', error);
      if (r.aq) this.park(tenantId, r, 'analytics', 'oversized', error);
    }
  }

  /**
   * Takes a row out of the outbox for one destination, keeping its body in `parked` (the hub's own
   * storage, which an erase deletes) and reporting it to D1 (relay_parked, GET /ops/stats). The row's
   * other destinations, and the rows behind it, go on.
   */
  private park(tenantId: string, row: OutboxRow, dest: Dest, reason: 'oversized' | 'rejected' | 'failed_alone', error: string): void {
    const flag = FLAG[dest];
    const body = JSON.stringify(row.item);
    const recordId = row.item.kind === 'event' ? row.item.insert.record.id : row.item.kind === 'timeline' ? row.item.record.id : row.item.id;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT OR REPLACE INTO parked (outbox_id, destination, kind, record_id, body, bytes, reason, error, parked_at, reported)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
        row.id,
        dest,
        row.item.kind,
        recordId,
        body,
        new TextEncoder().encode(body).byteLength,
        reason,
        error.slice(0, 500),
        Date.now(),
      );
      this.sql.exec(`UPDATE outbox SET ${flag} = 0 WHERE id = ?`, row.id);
      this.sql.exec(`DELETE FROM outbox WHERE id = ? AND d1 = 0 AND wq = 0 AND aq = 0`, row.id);
    });
    row[flag] = false;
    this.parkedUnreported = true;
    // The culprit is out: full passes again.
    this.narrowing = false;
    this.window = RELAY_BATCH;
    if (this.probe?.id === row.id) this.probe = null;
    console.error(JSON.stringify({ msg: 'relay record parked', tenant_id: tenantId, outbox_id: row.id, record_id: recordId, destination: dest, reason, error }));
  }

  /** Reports parked rows to D1 (best effort: kept unreported, and retried after the next pass, if D1 fails). */
  private async reportParked(): Promise<void> {
    if (!this.parkedUnreported || !this.owner) return;
    const rows = this.sql
      .exec<{ outbox_id: number; destination: string; kind: string; record_id: string; bytes: number; reason: string; error: string; parked_at: number }>(
        `SELECT outbox_id, destination, kind, record_id, bytes, reason, error, parked_at FROM parked WHERE reported = 0 LIMIT 100`,
      )
      .toArray();
    try {
      await insertParked(this.env.DB, this.owner.tenantId, `${this.owner.kind}:${this.owner.id}`, rows as ParkedRecord[]);
      for (const r of rows) this.sql.exec(`UPDATE parked SET reported = 1 WHERE outbox_id = ? AND destination = ?`, r.outbox_id, r.destination);
      this.parkedUnreported = rows.length === 100;
    } catch {
      // D1 may be what fails; the rows stay unreported and the next relay pass tries again.
    }
  }

  /** Parked rows, for operations and tests. */
  parkedRows(): { outbox_id: number; destination: string; kind: string; record_id: string; reason: string; error: string }[] {
    return this.sql
      .exec<{ outbox_id: number; destination: string; kind: string; record_id: string; reason: string; error: string }>(
        `SELECT outbox_id, destination, kind, record_id, reason, error FROM parked ORDER BY outbox_id, destination`,
      )
      .toArray();
  }

  /** Deletes the relayed rows (inside the caller's transaction when there is one). */
  private clearRelayed(): void {
    if (this.clearedUpTo >= this.relayedUpTo) return;
    this.sql.exec(`DELETE FROM outbox WHERE id <= ?`, this.relayedUpTo);
    // Should the caller's transaction roll back, the rows stay stored but stay below relayedUpTo (never
    // relayed again by this instance); the next clear deletes them with the newer ones.
    this.clearedUpTo = this.relayedUpTo;
  }

  /** A hub with no further write soon still deletes its relayed rows, a second later. */
  private clearSoon(): void {
    if (this.clearTimer) return;
    this.clearTimer = setTimeout(() => {
      this.clearTimer = null;
      if (this.erasing === 0) this.clearRelayed();
    }, CLEAR_AFTER_MS);
  }

  private async scheduleRetry(): Promise<void> {
    const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.failures, 10));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    await this.armAlarm(Date.now() + delay);
  }

  /** Outbox state, for operations and tests. */
  outboxStats(): { pending: number; oldest_ms: number | null } {
    const row = this.sql
      .exec<{ n: number; oldest: number | null }>(`SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE id > ?`, this.relayedUpTo)
      .one();
    return { pending: row.n, oldest_ms: row.oldest === null ? null : Date.now() - row.oldest };
  }

  // Operations (GET /api/v1/ops/stats) cannot enumerate hubs, so a hub whose relay fails reports its
  // backlog to D1 (hub_relay_backlog) and removes the report once its outbox is empty. The flag lives
  // in the hub's storage so that a hub evicted while backlogged still clears its report later.
  private async reportBacklog(): Promise<void> {
    if (!this.owner) return;
    const stats = this.outboxStats();
    try {
      await upsertHubBacklog(this.env.DB, this.owner.tenantId, `${this.owner.kind}:${this.owner.id}`, {
        pending: stats.pending,
        oldestAt: stats.oldest_ms === null ? null : Date.now() - stats.oldest_ms,
        failures: this.failures,
        lastError: this.lastRelayError,
        now: Date.now(),
      });
      this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('backlog_reported', '1')`);
      this.backlogReported = true;
    } catch {
      // D1 itself may be what fails; the report is best effort and the relay retries regardless.
    }
  }

  private async clearBacklog(force = false): Promise<void> {
    // Forced (an erase): the parked records' report goes too; their bodies go with the hub's storage.
    if (force && this.owner) await clearParked(this.env.DB, this.owner.tenantId, `${this.owner.kind}:${this.owner.id}`).catch(() => undefined);
    if (!this.owner || !this.backlogReported || (!force && this.pendingCount() > 0)) return;
    try {
      await clearHubBacklog(this.env.DB, this.owner.tenantId, `${this.owner.kind}:${this.owner.id}`);
      this.sql.exec(`DELETE FROM meta WHERE key = 'backlog_reported'`);
      this.backlogReported = false;
    } catch {
      // Kept flagged: the next successful pass clears it.
    }
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const nextExpiry = this.sockets.expire();
    const nextKeyCheck = await this.sockets.checkKeys();
    await this.relay();
    if (this.pendingCount() > 0) await this.scheduleRetry();
    if (nextExpiry !== null) await this.armAlarm(nextExpiry);
    if (nextKeyCheck !== null) await this.armAlarm(nextKeyCheck);
  }
}
