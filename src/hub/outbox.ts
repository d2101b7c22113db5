import { isFenced } from '../db/moves';
import { tenantDb } from '../db/shards';
import { insertParked } from '../db/ops';
import { BacklogReport } from './backlog';
import { MINUTE_MS } from '../domain/time';
import type { AlarmScheduler } from './alarms';
import type { HubMeta } from './meta';
import { ParkedStore, REPORT_PAGE, type ParkReason, type ParkedRow } from './parked';
import { batchParts, outboxItems, partCount, type OutboxItem, type OutboxRow } from '../relay-batcher/types';
import { RelaySink, analyticsMessages, oversizedQueues, relayFailureOf, relayMessages } from './relay';
import type { HubOwner } from './types';

export type { ParkedRow };
const RELAY_BATCH = 500;
const SAFETY_ALARM_MS = 5_000;
/** An alarm already due within this long (a socket's key check: 30 s) serves as the safety alarm too. */
const SAFETY_SLACK_MS = 30_000;
/** How long a hub with no write may keep relayed outbox rows before it deletes them in a transaction of their own. */
const CLEAR_AFTER_MS = 1_000;
const MAX_BACKOFF_MS = MINUTE_MS;
/** A row that failed this many single-row passes in a row, each time isolated, is parked. */
const PARK_AFTER = 3;
/**
 * Errors that the same rows meet again on every retry: a constraint, a value too big, malformed JSON.
 * One of them on a single-row pass parks the row at once.
 */
const DETERMINISTIC = /constraint failed|SQLITE_CONSTRAINT|SQLITE_TOOBIG|too big|malformed JSON|datatype mismatch|SQLITE_MISMATCH/i;

type Dest = 'd1' | 'webhooks' | 'analytics';
const FLAG: Record<Dest, 'd1' | 'wq' | 'aq'> = { d1: 'd1', webhooks: 'wq', analytics: 'aq' };
/** A pass: all through; failed on its own rows (the destination works); so, and its one row is parked; failed otherwise. */
type PassOutcome = 'ok' | 'own' | 'parked' | 'down';

/**
 * The hub's outbox (tables `outbox` and `parked`): every change is committed with an outbox row in the
 * same storage transaction (the durability point), and the relay takes the rows to D1 and the two
 * queues in batches, retrying from the alarm with backoff when they fail. A row that can never reach
 * a destination is parked, so that the rows behind it go on; a hub whose relay fails reports its
 * backlog to D1 for operations.
 */
export class Outbox {
  /** Where the relay sends; tests replace it, or its methods, to inject D1 or queue failures. */
  sink: RelaySink;
  private relaying: Promise<void> | null = null;
  private relayAgain = false;
  private failures = 0;
  private lastRelayError: string | null = null;
  /**
   * Outbox rows up to this id went everywhere but may still be stored: deleting them is folded into
   * the next write transaction (or a timer), so a relay pass costs no storage commit of its own. In
   * memory only: after a restart they are relayed again, which D1 (idempotent upserts) and the queue
   * consumers (idempotent per record) absorb. Cleared rows are always a prefix of the outbox.
   */
  private relayedUpTo = 0;
  private clearedUpTo = 0;
  /**
   * The last outbox id handed out. Ids only grow within an instance (relayedUpTo marks a prefix, so a
   * reused id would be skipped); a new instance starts above every stored and parked id (parked ids
   * name rows in D1's relay_parked), so ids of rows deleted before a restart are all it can reuse.
   */
  private lastId: number;
  private clearTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the last outbox row was written (ms): the clear timer waits for a second without one. */
  private lastWriteAt = 0;
  /** Times the clear timer deleted relayed rows in a transaction of its own (for tests). */
  timerClears = 0;
  private readonly backlog: BacklogReport;
  /** While an erase drains the relay, no new relay pass starts (the rows are about to be deleted). */
  private paused = 0;
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
  private readonly parked: ParkedStore;
  /** Test seams (see StreamHub.testHooks): a crashed instance relays nothing and runs no timer. */
  private stalled = { relay: false, clearTimer: false };

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly env: Env,
    private readonly owner: HubOwner,
    private readonly meta: HubMeta,
    private readonly alarms: AlarmScheduler,
    hubKey: string,
  ) {
    this.sink = new RelaySink(env, hubKey);
    this.parked = new ParkedStore(storage.sql);
    this.backlog = new BacklogReport(env, owner, meta);
    this.lastId = this.highestStoredId();
  }

  private highestStoredId(): number {
    const stored = Math.max(this.sql.exec<{ m: number | null }>(`SELECT max(id) AS m FROM outbox`).one().m ?? 0, this.parked.highestId());
    // Hubs created before kept AUTOINCREMENT, whose counter may be above every stored row; newer hubs
    // have no sqlite_sequence table at all (the query throws: nothing was ever AUTOINCREMENTed here).
    let counter = 0;
    try {
      counter = this.sql.exec<{ seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).toArray()[0]?.seq ?? 0;
    } catch {}
    return Math.max(stored, counter);
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /**
   * Inside the change's transaction: the row that takes the change to D1 (and, unless told otherwise, to
   * the queues that carry its kind: a receipt goes to webhooks only).
   */
  enqueue(item: OutboxItem, now: number, opts: { queues?: boolean; body?: string } = {}): void {
    this.clearRelayed();
    this.lastWriteAt = Date.now();
    // A batch's records all go to both queues (null); any other row as its messages say. `body`: the item's JSON, when the caller has it.
    const messages = opts.queues === false ? [] : batchParts(item) ? null : relayMessages('', item);
    const toWebhooks = messages === null || messages.length > 0;
    const toAnalytics = messages === null || messages.some((m) => m.kind !== 'contact_event_receipt');
    // Taken before the insert: should the caller's transaction roll back, the ids are merely skipped. A
    // batch's row takes the last id of a range as long as its parts, so that split() can put a row per
    // part (entry or event) in its place, in order.
    this.lastId += partCount(item);
    this.sql.exec(
      `INSERT INTO outbox (id, kind, body, d1, wq, aq, created_at) VALUES (?, ?, ?, 1, ?, ?, ?)`,
      this.lastId,
      item.kind,
      opts.body ?? JSON.stringify(item),
      toWebhooks ? 1 : 0,
      toAnalytics ? 1 : 0,
      now,
    );
  }

  /** After a commit: relay now, with the alarm (each firing relays what is pending) as a safety net should this instance die first. */
  committed(): void {
    void this.alarms.wakeAt(Date.now() + SAFETY_ALARM_MS, Date.now() + SAFETY_SLACK_MS);
    void this.relay();
  }

  /** Group commit: one relay in flight at a time; appends made meanwhile ride the next pass. */
  relay(): Promise<void> {
    if (this.paused > 0 || this.stalled.relay) return Promise.resolve();
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

  /** The alarm's relay job: relay, and when rows are still pending, when to retry. */
  async retry(): Promise<number | null> {
    await this.relay();
    return this.pendingCount() > 0 ? this.retryAt() : null;
  }

  private async relayLoop(): Promise<void> {
    for (;;) {
      this.relayAgain = false;
      const size = this.window;
      const { rows, more } = this.pendingRows(size);
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
        if (!more && !this.relayAgain) return this.widen();
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
      await this.alarms.wakeAt(this.retryAt());
      return;
    }
  }

  /** The outbox is empty: whatever was being narrowed down is through, the next pass is a full one. */
  private widen(): void {
    this.narrowing = false;
    this.window = RELAY_BATCH;
  }

  /** Up to `limit` rows holding at most RELAY_BATCH records (a batch's row holds many; the first row always goes). */
  private pendingRows(limit: number): { rows: OutboxRow[]; more: boolean } {
    const stored = this.sql
      .exec<{ id: number; body: string; d1: number; wq: number; aq: number }>(`SELECT id, body, d1, wq, aq FROM outbox WHERE id > ? ORDER BY id LIMIT ?`, this.relayedUpTo, limit)
      .toArray();
    const rows: OutboxRow[] = [];
    let records = 0;
    for (const r of stored) {
      const item = JSON.parse(r.body) as OutboxItem;
      records += partCount(item);
      if (rows.length > 0 && records > RELAY_BATCH) return { rows, more: true };
      rows.push({ id: r.id, item, chars: r.body.length, d1: r.d1 === 1, wq: r.wq === 1, aq: r.aq === 1 });
    }
    return { rows, more: stored.length === limit };
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
    const tenantId = this.owner.tenantId;
    const maxId = rows[rows.length - 1]!.id;
    const minId = rows[0]!.id;
    this.parkOversized(tenantId, rows);
    const forD1 = rows.filter((r) => r.d1);
    const wqList = rows.filter((r) => r.wq).flatMap((r) => relayMessages(tenantId, r.item));
    const aqList = rows.filter((r) => r.aq).flatMap((r) => analyticsMessages(tenantId, r.item));
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
    this.storage.transactionSync(() => {
      if (d1.status === 'fulfilled') this.sql.exec(`UPDATE outbox SET d1 = 0 WHERE id BETWEEN ? AND ?`, minId, maxId);
      if (wq.status === 'fulfilled') this.sql.exec(`UPDATE outbox SET wq = 0 WHERE id BETWEEN ? AND ?`, minId, maxId);
      if (aq.status === 'fulfilled') this.sql.exec(`UPDATE outbox SET aq = 0 WHERE id BETWEEN ? AND ?`, minId, maxId);
      this.sql.exec(`DELETE FROM outbox WHERE id BETWEEN ? AND ? AND d1 = 0 AND wq = 0 AND aq = 0`, minId, maxId);
    });
    const refused: { dest: Dest; error: string; own: boolean; deterministic: boolean }[] = [];
    for (const [dest, r] of [['d1', d1], ['webhooks', wq], ['analytics', aq]] as const) {
      if (r.status === 'fulfilled') continue;
      const failure = relayFailureOf(r.reason);
      // The tenant's shard is fenced (the tenant is moving): every record of the tenant is refused for a
      // while, none for its own sake; it is retried with backoff, never parked.
      const fenced = isFenced(failure.error);
      const deterministic = !fenced && DETERMINISTIC.test(failure.error);
      refused.push({ dest, error: failure.error, own: !fenced && (failure.isolated || deterministic), deterministic });
      this.lastRelayError = failure.error;
      console.error(JSON.stringify({ msg: 'relay failed', owner: this.owner, destination: dest, isolated: failure.isolated, error: failure.error }));
    }
    const only = rows.length === 1 ? rows[0]! : null;
    const parts = only && batchParts(only.item);
    if (only && parts && refused.some((f) => f.own)) {
      // Split only when every refusal is the row's own (then a refused queue send put nothing on its
      // queue, and the parts' own rows cannot count them twice); during an outage it waits whole.
      if (!refused.every((f) => f.own)) return 'down';
      this.split(only.id, parts);
      return 'own';
    }
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

  /**
   * Replaces a batch's row, refused for its own sake, by a row per part (entry or event) in the ids its
   * enqueue kept free below its own: the halving search and parking then single out the record a
   * destination refuses, and the others go on, as for records appended one by one.
   */
  private split(id: number, parts: OutboxItem[]): void {
    const first = id - parts.length + 1;
    this.storage.transactionSync(() => {
      const row = this.sql.exec<{ d1: number; wq: number; aq: number; created_at: number }>(`DELETE FROM outbox WHERE id = ? RETURNING d1, wq, aq, created_at`, id).one();
      parts.forEach((part, i) => {
        const values = [first + i, part.kind, JSON.stringify(part), row.d1, row.wq, row.aq, row.created_at];
        this.sql.exec(`INSERT INTO outbox (id, kind, body, d1, wq, aq, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, ...values);
      });
    });
  }

  /** Parks, for each queue, the rows whose message could never be sent (over the message limit). */
  private parkOversized(tenantId: string, rows: OutboxRow[]): void {
    for (const r of rows) {
      for (const { queue, bytes } of oversizedQueues(tenantId, r)) {
        this.park(tenantId, r, queue, 'oversized', `the record is ${bytes} bytes of JSON, over what one queue message carries`);
      }
    }
  }

  /**
   * Takes a row out of the outbox for one destination, keeping its body in `parked` (the hub's own
   * storage, which an erase deletes) and reporting it to D1 (relay_parked, GET /ops/stats). The row's
   * other destinations, and the rows behind it, go on.
   */
  private park(tenantId: string, row: OutboxRow, dest: Dest, reason: ParkReason, error: string): void {
    const flag = FLAG[dest];
    let recordId = '';
    this.storage.transactionSync(() => {
      recordId = this.parked.insert(row.id, dest, row.item, reason, error, Date.now());
      this.sql.exec(`UPDATE outbox SET ${flag} = 0 WHERE id = ?`, row.id);
      this.sql.exec(`DELETE FROM outbox WHERE id = ? AND d1 = 0 AND wq = 0 AND aq = 0`, row.id);
    });
    row[flag] = false;
    this.parkedUnreported = true;
    // The culprit is out: full passes again.
    this.widen();
    if (this.probe?.id === row.id) this.probe = null;
    console.error(JSON.stringify({ msg: 'relay record parked', tenant_id: tenantId, outbox_id: row.id, record_id: recordId, destination: dest, reason, error }));
  }

  /** Reports parked rows to D1 (best effort: kept unreported, and retried after the next pass, if D1 fails). */
  private async reportParked(): Promise<void> {
    if (!this.parkedUnreported) return;
    const rows = this.parked.unreported();
    try {
      await insertParked(await tenantDb(this.env, this.owner.tenantId), this.owner.tenantId, this.backlog.hubKey, rows);
      this.parked.markReported(rows);
      this.parkedUnreported = rows.length === REPORT_PAGE;
    } catch {
      // D1 may be what fails; the rows stay unreported and the next relay pass tries again.
    }
  }

  /** Parked rows, for operations and tests. */
  parkedRows(): ParkedRow[] {
    return this.parked.list();
  }

  private clearRelayed(): void {
    if (this.clearedUpTo >= this.relayedUpTo) return;
    this.sql.exec(`DELETE FROM outbox WHERE id <= ?`, this.relayedUpTo);
    // Should the caller's transaction roll back, the rows stay stored but stay below relayedUpTo (never
    // relayed again by this instance); the next clear deletes them with the newer ones.
    this.clearedUpTo = this.relayedUpTo;
  }

  /**
   * A hub that stops writing deletes its relayed rows a second after its last write; while it writes,
   * each write's transaction does, and the timer waits instead of committing a delete of its own.
   */
  private clearSoon(ms = CLEAR_AFTER_MS): void {
    if (this.clearTimer || this.stalled.clearTimer) return;
    this.clearTimer = setTimeout(() => {
      this.clearTimer = null;
      if (this.paused > 0 || this.clearedUpTo >= this.relayedUpTo) return;
      const idle = Date.now() - this.lastWriteAt;
      if (idle < CLEAR_AFTER_MS) return this.clearSoon(CLEAR_AFTER_MS - idle);
      this.clearRelayed();
      this.timerClears += 1;
    }, ms);
  }

  /** When to retry after `failures` failed passes: exponential backoff with jitter. */
  private retryAt(): number {
    const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.failures, 10));
    return Date.now() + Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** Whether log event `id` has yet to reach D1: pending for it here, or parked for it. */
  awaitingD1(id: string): boolean {
    const rows = this.sql.exec<{ body: string }>(`SELECT body FROM outbox WHERE id > ? AND d1 = 1 AND kind IN ('event', 'events')`, this.relayedUpTo).toArray();
    const holds = (r: { body: string }) => outboxItems(JSON.parse(r.body) as OutboxItem).some((i) => i.kind === 'event' && i.insert.record.id === id);
    return rows.some(holds) || this.parked.holds('d1', id);
  }

  /** Outbox state, for operations and tests. */
  stats(): { pending: number; oldest_ms: number | null } {
    const row = this.sql
      .exec<{ n: number; oldest: number | null }>(`SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE id > ?`, this.relayedUpTo)
      .one();
    return { pending: row.n, oldest_ms: row.oldest === null ? null : Date.now() - row.oldest };
  }

  private async reportBacklog(): Promise<void> {
    const stats = this.stats();
    const oldestAt = stats.oldest_ms === null ? null : Date.now() - stats.oldest_ms;
    await this.backlog.report({ pending: stats.pending, oldestAt, failures: this.failures, lastError: this.lastRelayError });
  }

  /** Removes the backlog report once the outbox is empty; forced (an erase), the parked records' report too. */
  clearBacklog(force = false): Promise<void> {
    return this.backlog.clear(() => this.pendingCount(), force);
  }

  // ---------------------------------------------------------------- erase

  /** Stops the relay and waits for the pass in flight (an erase is about to delete the rows). */
  async pause(): Promise<void> {
    this.paused += 1;
    while (this.relaying) await this.relaying.catch(() => undefined);
  }

  resume(): void {
    this.paused -= 1;
  }

  /** Inside the erase's transaction: every row, relayed or parked. */
  deleteAll(): void {
    this.sql.exec(`DELETE FROM outbox`);
    this.sql.exec(`DELETE FROM parked`);
  }

  /** After the erase: the storage is empty, so is what this instance remembers of it. */
  forget(): void {
    this.relayedUpTo = 0;
    this.clearedUpTo = 0;
    this.failures = 0;
    this.backlog.forget();
  }

  // ---------------------------------------------------------------- test seams

  /** As if this instance crashed before relaying, or before its clear timer fired (rows wait for a write). */
  stall(what: 'relay' | 'clearTimer'): void {
    this.stalled[what] = true;
  }
}
