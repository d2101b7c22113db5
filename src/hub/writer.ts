import { expectedVersionMismatch } from '../domain/expected-version';
import { decideAppend } from '../domain/idempotency';
import type { EntryReceipt } from '../domain/relay-message';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';
import { iso } from '../domain/time';
import { deriveTimelineEntry } from '../domain/timeline-derivation';
import type { LogStore } from './log-store';
import type { HubMeta } from './meta';
import type { Outbox } from './outbox';
import type { OutboxItem } from '../relay-batcher/types';
import type { RecordIds, RecordKind } from './record-ids';
import type { TimelineStore } from './timeline-store';
import {
  ownerStreamId,
  type EntryAppendOutcome,
  type EventAppendOutcome,
  type HubOwner,
  type TimelineChange,
} from './types';
import type { ExpectedVersion } from '../domain/expected-version';
import type { PreparedEntry, PreparedEvent } from '../domain/prepared';

/**
 * The hub's writes: sequence numbers 1..N without gaps, the expected-version and idempotency rules
 * (src/domain/), and each change committed with its outbox row in one storage transaction (the
 * durability point). After each commit `committed` gets the changes to announce.
 */
export class StreamWriter {
  /** The last sequence number handed out (the stream's version). */
  lastSequenceNumber: number;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly owner: HubOwner,
    private readonly meta: HubMeta,
    private readonly ids: RecordIds,
    private readonly log: LogStore,
    private readonly timeline: TimelineStore,
    private readonly outbox: Outbox,
    private readonly committed: (changes: TimelineChange[]) => void,
  ) {
    this.lastSequenceNumber = meta.lastSequence();
  }

  private get streamId(): string {
    return ownerStreamId(this.owner);
  }

  /**
   * The ids of records about to be sequenced from `first` on, in order: a client's as it is; else, once
   * the hub's key is registered (so that routes find the hub from the hash), one carrying its sequence number.
   */
  private idsFor(kind: RecordKind, items: { id: string; idChosen: boolean }[], first: number): string[] {
    if (this.meta.hubKey() !== 'registered') return items.map((i) => i.id);
    const minted = items.flatMap((item, k) => (item.idChosen ? [] : [{ k, addressed: item.id, seq: first + k }]));
    const ids = this.ids.mint(kind, minted);
    const out = items.map((i) => i.id);
    minted.forEach(({ k }, j) => (out[k] = ids[j]!));
    return out;
  }

  // ---------------------------------------------------------------- appends

  /** Conflicts that an append of these events would meet, without writing (first phase of a multi-owner batch). */
  checkEvents(events: PreparedEvent[]): string | null {
    for (const e of events) {
      const decision = decideAppend('Event', e.fresh ? undefined : this.log.find(e.id, e.idempotencyKey), e);
      if (decision.kind === 'conflict') return decision.detail;
    }
    return null;
  }

  /**
   * Appends log events (all or none) after the expected-version and idempotency checks. Records come
   * back in input order; an item whose id or key was already committed with the same body returns
   * the original. A contact's events derive their timeline entries in the same transaction.
   */
  appendEvents(events: PreparedEvent[], expected: ExpectedVersion = 'any'): EventAppendOutcome {
    const out: (EventRecord | null)[] = [];
    const fresh: { index: number; e: PreparedEvent }[] = [];
    const replayed: EventRecord[] = [];
    for (const [index, e] of events.entries()) {
      const found = e.fresh ? undefined : this.log.find(e.id, e.idempotencyKey);
      const decision = decideAppend('Event', found, e);
      if (decision.kind === 'conflict') return { ok: false, reason: 'conflict', detail: decision.detail, current_version: this.lastSequenceNumber };
      out.push(found?.record ?? null);
      if (found) replayed.push(found.record);
      else fresh.push({ index, e });
    }
    const version = this.lastSequenceNumber;
    if (fresh.length === 0) {
      const derived = replayed.flatMap((r) => this.timeline.derivedFrom(r.id) ?? []);
      return { ok: true, created: false, records: out as EventRecord[], derived, version };
    }
    const mismatch = replayed.length === 0 ? expectedVersionMismatch(version, expected) : null;
    if (mismatch) return { ok: false, reason: 'wrong_expected_version', detail: mismatch, current_version: version };

    const now = Date.now();
    const derived: TimelineEntryRecord[] = [];
    const parts: Extract<OutboxItem, { kind: 'events' }>['items'] = [];
    const eventIds = this.idsFor('event', fresh.map((f) => f.e), this.lastSequenceNumber + 1);
    const entryIds = this.owner.kind === 'contact' ? this.idsFor('entry', fresh.map((f) => ({ id: f.e.derivedEntryId ?? crypto.randomUUID(), idChosen: false })), this.lastSequenceNumber + 1) : [];
    this.storage.transactionSync(() => {
      let sequenceNumber = this.lastSequenceNumber;
      for (const [k, { index, e }] of fresh.entries()) {
        sequenceNumber += 1;
        const record: EventRecord & { sequence_number: number } = {
          id: eventIds[k]!,
          event_type: e.event_type,
          source: e.source,
          contact_id: e.contact_id,
          session_id: e.session_id,
          message_id: e.message_id,
          payload: e.payload,
          metadata: e.metadata,
          stream_id: this.streamId,
          sequence_number: sequenceNumber,
          schema_version: e.schema_version,
          timestamp: iso(e.timestamp),
          created_at: iso(now),
        };
        this.log.insert(record, e.idempotencyKey, e.requestHash, e.timestamp);
        out[index] = record;
        const entry = this.owner.kind === 'contact' ? deriveTimelineEntry(record, sequenceNumber, now, entryIds[k]!) : null;
        if (entry) {
          this.timeline.insert(entry, null, null);
          derived.push(entry);
        }
        // The derived entry rides the event's outbox row: one row written (and later deleted) for both.
        const insert = { record, idempotency_key: e.idempotencyKey, request_hash: e.requestHash };
        parts.push(entry ? { insert, derived: entry } : { insert });
      }
      // One outbox row for the request, however many events it committed.
      this.outbox.enqueue(parts.length === 1 ? { kind: 'event', ...parts[0]! } : { kind: 'events', items: parts }, now);
      this.lastSequenceNumber = sequenceNumber;
    });
    this.committed(derived.map((entry) => ({ type: 'event', entry })));
    return { ok: true, created: true, records: out as EventRecord[], derived, version: this.lastSequenceNumber };
  }

  /** Appends timeline entries (all or none), consecutive sequence numbers; records in input order. */
  appendEntries(entries: PreparedEntry[]): EntryAppendOutcome {
    const out: (TimelineEntryRecord | null)[] = [];
    const fresh: { index: number; e: PreparedEntry }[] = [];
    for (const [index, e] of entries.entries()) {
      const found = e.fresh ? undefined : this.timeline.find(e.id, e.idempotencyKey);
      const decision = decideAppend('Contact event', found, e);
      if (decision.kind === 'conflict') return { ok: false, reason: 'conflict', detail: decision.detail, current_version: this.lastSequenceNumber };
      out.push(found?.record ?? null);
      if (!found) fresh.push({ index, e });
    }
    if (fresh.length === 0) return { ok: true, created: false, records: out as TimelineEntryRecord[], derived: [], version: this.lastSequenceNumber };

    const now = Date.now();
    const records: TimelineEntryRecord[] = [];
    // The entries of a batch mostly share their times: each distinct time is printed once.
    const createdAt = iso(now);
    const printed = new Map<number, string>();
    const isoOf = (ms: number) => printed.get(ms) ?? printed.set(ms, iso(ms)).get(ms)!;
    const ids = this.idsFor('entry', fresh.map((f) => f.e), this.lastSequenceNumber + 1);
    const bodies: string[] = [];
    this.storage.transactionSync(() => {
      let sequenceNumber = this.lastSequenceNumber;
      for (const [k, { index, e }] of fresh.entries()) {
        sequenceNumber += 1;
        const record: TimelineEntryRecord = {
          id: ids[k]!,
          contact_id: this.owner.id,
          sequence_number: sequenceNumber,
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
          expires_at: e.expires_at === null ? null : isoOf(e.expires_at),
          occurred_at: isoOf(e.occurred_at),
          created_at: createdAt,
          origin_event_id: null,
        };
        bodies.push(this.timeline.insert(record, e.idempotencyKey, e.requestHash));
        out[index] = record;
        records.push(record);
      }
      // One outbox row for the request, however many entries it committed; a batch's is made of the stored JSON.
      if (records.length === 1) this.outbox.enqueue({ kind: 'timeline', record: records[0]!, revision: 1, announce: true }, now);
      else this.outbox.enqueue({ kind: 'entries', records }, now, { body: `{"kind":"entries","records":[${bodies.join(',')}]}` });
      this.lastSequenceNumber = sequenceNumber;
    });
    this.committed(records.map((entry) => ({ type: 'event', entry })));
    return { ok: true, created: true, records: out as TimelineEntryRecord[], derived: [], version: this.lastSequenceNumber };
  }

  // ---------------------------------------------------------------- timeline updates

  /** Sets read/read_at once; later calls return the first read time. */
  markRead(id: string, at = Date.now()): TimelineEntryRecord | null {
    return this.update(id, 'read', (e) => (e.read ? null : { ...e, read: true, read_at: iso(at) }), (e) => ({ type: 'read', id: e.id, read_at: e.read_at! }));
  }

  /** Sets delivered/delivered_at once. */
  markDelivered(id: string, at = Date.now()): TimelineEntryRecord | null {
    return this.update(id, 'delivered', (e) => (e.delivered ? null : { ...e, delivered: true, delivered_at: iso(at) }), (e) => ({
      type: 'delivered',
      id: e.id,
      delivered_at: e.delivered_at!,
    }));
  }

  /**
   * Marks read, in one transaction, every entry the unread count counts with a sequence number up to
   * `upTo`. Entries already read keep their first read time and are not counted again, so a replay
   * marks nothing and announces nothing. Each entry's row goes out as a read receipt (D1 and webhooks);
   * the sockets hear one `read_range` frame.
   */
  markReadUpTo(upTo: number, at = Date.now()): { marked: number; read_at: string | null } {
    const unread = this.timeline.unreadUpTo(upTo, at);
    if (unread.length === 0) return { marked: 0, read_at: null };
    const readAt = iso(at);
    this.storage.transactionSync(() => {
      for (const { record, revision } of unread) this.commitUpdate({ ...record, read: true, read_at: readAt }, revision + 1, 'read', at);
    });
    this.committed([{ type: 'read_range', up_to: upTo, read_at: readAt, marked: unread.length }]);
    return { marked: unread.length, read_at: readAt };
  }

  private update(
    id: string,
    receipt: EntryReceipt,
    change: (e: TimelineEntryRecord) => TimelineEntryRecord | null,
    announce: (e: TimelineEntryRecord) => TimelineChange,
  ): TimelineEntryRecord | null {
    const stored = this.timeline.getWithRevision(id);
    if (!stored) return null;
    const next = change(stored.record);
    if (!next) return stored.record;
    this.storage.transactionSync(() => this.commitUpdate(next, stored.revision + 1, receipt, Date.now()));
    this.committed([announce(next)]);
    return next;
  }

  /** Inside a transaction: the changed entry, and its outbox row (D1, and the receipt for webhooks). */
  private commitUpdate(next: TimelineEntryRecord, revision: number, receipt: EntryReceipt, now: number): void {
    this.timeline.update(next, revision);
    this.outbox.enqueue({ kind: 'timeline', record: next, revision, announce: false, receipt }, now);
  }

  deleteEntry(id: string): boolean {
    let deleted = false;
    this.storage.transactionSync(() => {
      // The counter is the highest stored row: kept before the newest row may go.
      this.meta.saveSequence(this.lastSequenceNumber);
      const seq = this.timeline.delete(id);
      if (seq === null) return;
      deleted = true;
      this.outbox.enqueue(this.deletion(id, seq), Date.now(), { queues: false });
    });
    if (deleted) this.committed([{ type: 'deleted', id }]);
    return deleted;
  }

  /** The outbox item of a deleted entry: its key in D1 (entries belong to contacts' hubs only). */
  private deletion(id: string, seq: number): OutboxItem {
    return { kind: 'timeline_delete', id, contact_id: this.owner.id, sequence_number: seq };
  }

  /** Deletes entries that expired before `before` (ms), here and — through the outbox — in D1. */
  purgeExpired(before: number): number {
    const ids = this.timeline.expiredBefore(before);
    if (ids.length === 0) return 0;
    const now = Date.now();
    this.storage.transactionSync(() => {
      this.meta.saveSequence(this.lastSequenceNumber);
      for (const id of ids) {
        const seq = this.timeline.delete(id);
        if (seq !== null) this.outbox.enqueue(this.deletion(id, seq), now, { queues: false });
      }
    });
    this.committed(ids.map((id) => ({ type: 'deleted', id })));
    return ids.length;
  }
}
