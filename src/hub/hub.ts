import { DurableObject } from 'cloudflare:workers';
import { registerHubKey, type HubKeyState } from '../db/owners';
import { tenantDb } from '../db/shards';
import { activeKeyIds } from '../db/tenants';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';
import { AlarmScheduler } from './alarms';
import { eraseHub } from './erase';
import { LogStore } from './log-store';
import { HubMeta } from './meta';
import { Outbox, type ParkedRow } from './outbox';
import type { RelaySink } from './relay';
import { HubSockets } from './sockets';
import { RecordIds } from './record-ids';
import { applyHubSchema } from './storage';
import { TimelineStore } from './timeline-store';
import { StreamWriter } from './writer';
import { HubWatchers, inboxChanges, type CatchUpChunk, type InboxWatch } from './watchers';
import { agentInbox } from '../inbox';
import { isVisibleTo } from '../domain/contact-event-types';
import {
  ownerStreamId,
  hubName,
  hubOwnerOf,
  type EntryAppendOutcome,
  type EventAppendOutcome,
  type HubEraseCounts,
  type HubOwner,
  type TimelineChange,
  type TimelinePage,
  type TimelineQuery,
} from './types';
import type { ExpectedVersion } from '../domain/expected-version';
import type { PreparedEntry, PreparedEvent } from '../domain/prepared';

/**
 * Seams for tests (through runInDurableObject), so that no test reaches into private fields. Nothing
 * in production uses them.
 */
export interface HubTestHooks {
  /** As if this instance crashed before relaying: no relay pass starts (the rows wait for the next instance). */
  stallRelay(): void;
  /** As if this instance died before its clear timer fired: relayed rows stay stored until the next write. */
  stallClearTimer(): void;
  /** How many times the outbox's clear timer deleted relayed rows in a transaction of its own. */
  timerClears(): number;
  /** Rows per socket catch-up chunk (lowered to make appends race a catch-up). */
  setCatchUpChunk(rows: number): void;
  /** Sockets still catching up. */
  catchingUp(): number;
  /** Free for a test to write: a new instance (after eviction or hibernation) starts without it. */
  mark: string | undefined;
  /** Pushes to agents' inboxes this instance attempted. */
  inboxPushes(): number;
}

/**
 * The serial writer of one stream: a contact's (`contact-<id>`, with the contact's timeline and its
 * sockets) or any other stream's. Its owner is its name (see `hubName`). It assigns sequence numbers
 * 1..N without gaps and commits each change with an outbox row in one storage transaction (the
 * durability point); the outbox relays to D1 and the queues. This file is its RPC surface: the SQL is
 * in the stores, the relay in the outbox, the sockets in HubSockets, the rules in src/domain/.
 *
 * Every method takes the owner the caller addresses (from `contactHub`/`streamHub`); a call naming
 * another owner than the hub's name is refused (defence in depth: one string comparison).
 *
 * Named for what it is, the hub of a stream (it was first written for contacts only: wrangler.toml's
 * `renamed_classes` migration carries the stored hubs over). `contactHub()` addresses a contact's
 * stream, `streamHub()` any other.
 */
export class StreamHub extends DurableObject<Env> {
  private readonly owner: HubOwner;
  private readonly name: string;
  private readonly meta: HubMeta;
  private readonly ids: RecordIds;
  private readonly log: LogStore;
  private readonly timeline: TimelineStore;
  private readonly outbox: Outbox;
  private readonly alarms: AlarmScheduler;
  private readonly sockets: HubSockets;
  private readonly writer: StreamWriter;
  private readonly watchers: HubWatchers;
  readonly testHooks: HubTestHooks;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const owner = ctx.id.name === undefined ? null : hubOwnerOf(ctx.id.name);
    if (!owner) throw new Error('a hub is addressed by its name (contactHub, streamHub)');
    this.owner = owner;
    this.name = hubName(owner);
    const sql = ctx.storage.sql;
    this.ids = new RecordIds(sql, applyHubSchema(sql));
    this.meta = new HubMeta(sql);
    this.log = new LogStore(sql, this.ids);
    this.timeline = new TimelineStore(sql, this.ids);
    this.alarms = new AlarmScheduler(ctx.storage);
    this.outbox = new Outbox(ctx.storage, env, owner, this.meta, this.alarms, ctx.id.toString());
    this.writer = new StreamWriter(ctx.storage, owner, this.meta, this.ids, this.log, this.timeline, this.outbox, (changes) => this.committed(changes));
    this.sockets = new HubSockets(ctx, {
      undelivered: () => this.timeline.undelivered(Date.now()),
      catchUpRows: (role, after, limit) => this.timeline.catchUpRows(role, after, limit, Date.now()),
      getEntry: (id) => this.timeline.get(id),
      markRead: (id) => this.markRead(owner, id),
      markDelivered: (id) => this.markDelivered(owner, id),
      version: () => this.writer.lastSequenceNumber,
      wakeAt: (at) => void this.alarms.wakeAt(at),
      activeKeys: (tenantId, keyIds) => activeKeyIds(env.DB, tenantId, keyIds),
      inboxAgents: () => this.watchers.agents(),
      relay: (frame, exceptAgent) => this.watchers.publish([frame], exceptAgent),
    });
    this.watchers = new HubWatchers(sql, owner.tenantId, owner.id, (agentId) => agentInbox(env, owner.tenantId, agentId), () => this.writer.lastSequenceNumber);
    const watchers = this.watchers;
    const outbox = this.outbox;
    const sockets = this.sockets;
    this.testHooks = {
      stallRelay: () => outbox.stall('relay'),
      stallClearTimer: () => outbox.stall('clearTimer'),
      timerClears: () => outbox.timerClears,
      setCatchUpChunk: (rows) => (sockets.catchUpChunk = rows),
      catchingUp: () => sockets.catchingUpCount(),
      mark: undefined,
      inboxPushes: () => watchers.pushes,
    };
    void ctx.blockConcurrencyWhile(() => this.alarms.load());
  }

  /** Where the relay sends; tests replace it, or its methods, to inject D1 or queue failures. */
  get sink(): RelaySink {
    return this.outbox.sink;
  }

  set sink(sink: RelaySink) {
    this.outbox.sink = sink;
  }

  private check(owner: HubOwner, kind?: HubOwner['kind']): void {
    if (hubName(owner) !== this.name || (kind && owner.kind !== kind)) throw new Error('hub owner mismatch');
  }

  private get streamId(): string {
    return ownerStreamId(this.owner);
  }

  // ---------------------------------------------------------------- appends (src/hub/writer.ts)

  /** Conflicts that an append of these events would meet, without writing (first phase of a multi-owner batch). */
  checkEvents(owner: HubOwner, events: PreparedEvent[]): string | null {
    this.check(owner);
    return this.writer.checkEvents(events);
  }

  /**
   * Appends log events (all or none) after the expected-version and idempotency checks. Records come
   * back in input order; an item whose id or key was already committed with the same body returns
   * the original. A contact's events derive their timeline entries in the same transaction.
   */
  appendEvents(owner: HubOwner, events: PreparedEvent[], expected: ExpectedVersion = 'any'): EventAppendOutcome {
    this.check(owner);
    return this.withHubKey(this.writer.appendEvents(events, expected));
  }

  /** Appends timeline entries (all or none), consecutive sequence numbers; records in input order. */
  appendEntries(owner: HubOwner, entries: PreparedEntry[]): EntryAppendOutcome {
    this.check(owner, 'contact');
    return this.withHubKey(this.writer.appendEntries(entries));
  }

  private withHubKey<T extends EventAppendOutcome | EntryAppendOutcome>(outcome: T): T {
    return outcome.ok ? { ...outcome, hub_key: this.meta.hubKey() } : outcome;
  }

  /**
   * Registers this hub's key in D1 (src/db/owners.ts registerHubKey), once: the Worker asks after an
   * append answered `hub_key: null`. Under blockConcurrencyWhile, like an erase, so that a registration
   * never lands after the erase of this hub's rows. A failure answers null (the next append asks again):
   * thrown out of blockConcurrencyWhile, it would reset the hub.
   */
  async registerHubKey(owner: HubOwner): Promise<HubKeyState | null> {
    this.check(owner);
    return this.ctx.blockConcurrencyWhile(async () => {
      const known = this.meta.hubKey();
      if (known) return known;
      try {
        const state = await registerHubKey(await tenantDb(this.env, owner.tenantId), owner.tenantId, owner);
        this.meta.setHubKey(state);
        return state;
      } catch (error) {
        console.error(JSON.stringify({ msg: 'hub key registration failed', owner, error: String(error) }));
        return null;
      }
    });
  }

  /** After a commit: tell the sockets, then relay. */
  private committed(changes: TimelineChange[]): void {
    this.sockets.announce(changes);
    this.outbox.committed();
    // The one test a hub nobody watches pays per commit.
    if (this.watchers.size > 0) this.watchers.publish(inboxChanges(changes, Date.now(), () => this.timeline.unreadCount()));
  }

  // ---------------------------------------------------------------- timeline reads and updates

  /** The contact's timeline, strongly consistent (served from the hub's own storage). */
  listTimeline(owner: HubOwner, q: TimelineQuery): TimelinePage {
    this.check(owner);
    return this.timeline.list(q, Date.now());
  }

  getEntry(owner: HubOwner, id: string): TimelineEntryRecord | null {
    this.check(owner);
    return this.timeline.get(id);
  }

  /** Undelivered realtime entries that are not expired, oldest first. */
  undelivered(owner: HubOwner): TimelineEntryRecord[] {
    this.check(owner);
    return this.timeline.undelivered(Date.now());
  }

  countTimeline(owner: HubOwner, includeExpired = false): number {
    this.check(owner);
    return this.timeline.count(includeExpired, Date.now());
  }

  /** Agent-visible entries that are not read and not expired (the inbox's badge; GET …/events/count). */
  unreadCount(owner: HubOwner): number {
    this.check(owner, 'contact');
    return this.timeline.unreadCount(Date.now());
  }

  /**
   * Marks read the unread entries up to sequence `upTo` (null: all), in one transaction. Refused when
   * `upTo` is above the contact's last sequence number: no entry can have been seen there.
   */
  markReadUpTo(owner: HubOwner, upTo: number | null, at = Date.now()): { ok: true; marked: number; read_at: string | null; up_to: number } | { ok: false; last_sequence_number: number } {
    this.check(owner, 'contact');
    const last = this.writer.lastSequenceNumber;
    if (upTo !== null && upTo > last) return { ok: false, last_sequence_number: last };
    const limit = upTo ?? last;
    return { ok: true, ...this.writer.markReadUpTo(limit, at), up_to: limit };
  }

  /** Sets read/read_at once; later calls return the first read time. */
  markRead(owner: HubOwner, id: string, at = Date.now()): TimelineEntryRecord | null {
    this.check(owner);
    return this.writer.markRead(id, at);
  }

  /** Sets delivered/delivered_at once. */
  markDelivered(owner: HubOwner, id: string, at = Date.now()): TimelineEntryRecord | null {
    this.check(owner);
    return this.writer.markDelivered(id, at);
  }

  deleteEntry(owner: HubOwner, id: string): boolean {
    this.check(owner);
    return this.writer.deleteEntry(id);
  }

  /** Deletes entries that expired before `before` (ms), here and — through the outbox — in D1. */
  purgeExpired(owner: HubOwner, before: number): number {
    this.check(owner);
    return this.writer.purgeExpired(before);
  }

  // ---------------------------------------------------------------- log reads

  /** The owner's stream: log events by version. */
  readStream(owner: HubOwner, fromVersion: number, limit: number, direction: 'forward' | 'backward'): { events: EventRecord[]; version: number } {
    this.check(owner);
    return { events: this.log.read(fromVersion, limit, direction), version: this.writer.lastSequenceNumber };
  }

  /** One log event by id (GET /events/{id} before the relay has brought it to D1). */
  /**
   * A log event D1 does not have yet (GET /events/{id} right after its append): only while its way to D1
   * is pending. Past that, D1's row is the event, and a D1 without it means the event left the log
   * (retention archived it), even though this hub still holds it.
   */
  getUnrelayedEvent(owner: HubOwner, id: string): EventRecord | null {
    this.check(owner);
    return this.outbox.awaitingD1(id) ? this.log.get(id) : null;
  }

  version(owner: HubOwner): number {
    this.check(owner);
    return this.writer.lastSequenceNumber;
  }

  /** Stream facts (GET /streams/{id}/metadata): version, how many log events, first and last commit times. */
  streamInfo(owner: HubOwner): { version: number; count: number; first_created_at: string | null; last_created_at: string | null } {
    this.check(owner);
    return { version: this.writer.lastSequenceNumber, ...this.log.info() };
  }

  // ---------------------------------------------------------------- relay (operations and tests)

  relay(): Promise<void> {
    return this.outbox.relay();
  }

  /** Outbox state, for operations and tests. */
  outboxStats(): { pending: number; oldest_ms: number | null } {
    return this.outbox.stats();
  }

  /** Parked rows, for operations and tests. */
  parkedRows(): ParkedRow[] {
    return this.outbox.parkedRows();
  }

  // ---------------------------------------------------------------- erase (GDPR)

  /** Erases the owner everywhere but R2 (src/hub/erase.ts); the counter survives as a tombstone. */
  async erase(owner: HubOwner): Promise<HubEraseCounts> {
    this.check(owner);
    const counts = await eraseHub({
      ctx: this.ctx,
      env: this.env,
      owner: this.owner,
      streamId: this.streamId,
      ids: this.ids,
      log: this.log,
      timeline: this.timeline,
      outbox: this.outbox,
      meta: this.meta,
      alarms: this.alarms,
      lastSequence: this.writer.lastSequenceNumber,
    });
    this.writer.lastSequenceNumber = counts.sequence_number;
    this.watchers.erased();
    return counts;
  }

  // ---------------------------------------------------------------- agents' inboxes (src/inbox/)

  /**
   * Registers an agent's inbox as a watcher and returns, in the same turn (so nothing can commit in
   * between), the first chunk of its catch-up (agent-visible entries after `after`; null: from now
   * on), the last sequence number, the unread count and presence. `found: false` for a contact
   * without history in this tenant (nothing is registered).
   */
  watch(owner: HubOwner, agentId: string, name: string | null, after: number | null, limit: number): InboxWatch {
    this.check(owner, 'contact');
    const last = this.writer.lastSequenceNumber;
    if (last === 0) return { found: false };
    // As on the contact stream: a resume point beyond the history restarts from the beginning.
    const reset = after !== null && after > last;
    const from = reset ? 0 : (after ?? last);
    if (this.watchers.add(agentId, name, last)) this.sockets.announcePresence(undefined, agentId);
    return { found: true, last_sequence_number: last, after: from, reset, presence: this.sockets.presence(), ...this.catchUp(owner, from, limit, from) };
  }

  /** One chunk of an inbox's catch-up; the last one (`more: false`) adds the undelivered realtime entries at or below `redeliverUpTo`. */
  catchUp(owner: HubOwner, after: number, limit: number, redeliverUpTo = 0): CatchUpChunk {
    this.check(owner, 'contact');
    const now = Date.now();
    const rows = this.timeline.catchUpRows('agent', after, limit, now);
    const more = rows.length === limit;
    const redeliveries = more || redeliverUpTo === 0 ? [] : this.timeline.undelivered(now).filter((e) => e.sequence_number <= redeliverUpTo && isVisibleTo(e, 'agent', now));
    return { last: more ? rows[rows.length - 1]!.sequence_number : this.writer.lastSequenceNumber, rows, more, redeliveries, unread: this.timeline.unreadCount() };
  }

  /** No socket of the agent's inbox subscribes to the contact any more. */
  unwatch(owner: HubOwner, agentId: string): void {
    this.check(owner, 'contact');
    if (this.watchers.remove(agentId)) this.sockets.announcePresence();
  }

  /** An inbox socket's `ack`: the agent-visible realtime entries up to `upTo` become delivered. */
  inboxAck(owner: HubOwner, upTo: number): void {
    this.check(owner, 'contact');
    const now = Date.now();
    for (const entry of this.timeline.undelivered(now)) if (entry.sequence_number <= upTo && isVisibleTo(entry, 'agent', now)) this.writer.markDelivered(entry.id, now);
  }

  /** An inbox socket's `read`; false for an entry agents cannot see (reported like a missing one). */
  inboxRead(owner: HubOwner, id: string): boolean {
    this.check(owner, 'contact');
    const entry = this.timeline.get(id);
    if (!entry || !isVisibleTo(entry, 'agent', Date.now())) return false;
    this.writer.markRead(entry.id);
    return true;
  }

  /** An inbox agent types: this contact's sockets and the other inboxes hear it. */
  inboxTyping(owner: HubOwner, agentId: string, name: string | null): void {
    this.check(owner, 'contact');
    const frame = { type: 'typing' as const, agent_id: agentId, name, role: 'agent' as const };
    this.sockets.typing(frame);
    this.watchers.publish([frame], agentId);
  }

  // ---------------------------------------------------------------- sockets and the alarm

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

  /** One alarm, three jobs: token expiry, API-key checks, relay retries (src/hub/alarms.ts). */
  override async alarm(): Promise<void> {
    await this.alarms.fire([() => this.sockets.expire(), () => this.sockets.checkKeys(), () => this.outbox.retry()]);
  }
}
