/**
 * The agents' inboxes watching this contact (src/inbox/): the hub pushes each later agent-visible
 * change to them, in order, one push in flight per inbox (what commits meanwhile goes in the next).
 *
 * Cost: the watcher set lives in memory, loaded once per hub instance from the hub's `watchers`
 * table, so a hub that nobody watches pays one `size === 0` test per commit: no storage read, no RPC.
 *
 * Recovery: every push carries `prev`, the `last` of the push before it to that inbox (null for the
 * first push of a hub instance, which does not know what the one before it sent). The inbox has each
 * socket's covered sequence number; a push whose `prev` is above it (or null) shows a push went
 * missing, and the inbox re-syncs that contact from the hub's storage (`catchUp`). A failed or
 * timed-out push is therefore never resent: the hub sends a bare nudge (no changes, `prev` = what it
 * believes sent) after a backoff, which makes the inbox re-sync. The append path never awaits a push.
 */
import type { PresenceAgent, Role } from '../../packages/client/src/protocol';
import { isVisibleTo } from '../domain/contact-event-types';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { TimelineChange } from './types';

/** One change as an inbox receives it (the contact stream's frames, before `contact_id` is added). */
export type InboxChange =
  | { type: 'event'; entry: TimelineEntryRecord }
  | { type: 'read'; id: string; read_at: string }
  | { type: 'deleted'; id: string }
  | { type: 'unread'; unread: number }
  | { type: 'presence'; agents: PresenceAgent[] }
  | { type: 'typing'; agent_id: string | null; name: string | null; role: Role };

/** One chunk of an inbox's catch-up: stored JSON text, as the contact stream's catch-up sends it. */
export interface CatchUpChunk {
  /** What the chunk covers: every agent-visible entry up to it is in this chunk or before it. */
  last: number;
  rows: { sequence_number: number; body: string }[];
  /** A full chunk: ask again after `last`. */
  more: boolean;
  /** Undelivered realtime entries at or below the resume point (sent with `redelivery: true`), in the last chunk only. */
  redeliveries: TimelineEntryRecord[];
  unread: number;
}

export type InboxWatch =
  | { found: false }
  | ({ found: true; last_sequence_number: number; after: number; reset: boolean; presence: PresenceAgent[] } & CatchUpChunk);

/**
 * What one commit means to the inboxes: the agent-visible entries, reads and deletions, then the
 * unread count once (counted only when something that can change it happened).
 */
export function inboxChanges(changes: TimelineChange[], now: number, unread: () => number): InboxChange[] {
  const out: InboxChange[] = [];
  // A range mark-read (POST …/mark-read) has no per-entry change here; it still moves the count.
  let ranged = false;
  for (const c of changes) {
    if (c.type === 'event' && isVisibleTo(c.entry, 'agent', now)) out.push({ type: 'event', entry: c.entry });
    else if (c.type === 'read') out.push({ type: 'read', id: c.id, read_at: c.read_at });
    else if (c.type === 'deleted') out.push({ type: 'deleted', id: c.id });
    else if (c.type === 'read_range') ranged = true;
  }
  if (out.length > 0 || ranged) out.push({ type: 'unread', unread: unread() });
  return out;
}

export interface InboxPush {
  tenant_id: string;
  contact_id: string;
  /** `last` of the previous push to this inbox; null when this hub instance has not pushed to it yet. */
  prev: number | null;
  /** The contact's last sequence number when the push was taken: every agent-visible entry up to it is in this push or an earlier one. */
  last: number;
  changes: InboxChange[];
}

/** What the inbox answers a push: false when none of its sockets subscribes to the contact any more (the hub drops the watcher). */
export interface PushAnswer {
  watching: boolean;
}

export interface InboxTarget {
  push(batch: InboxPush): Promise<PushAnswer>;
}

/** A push that has not answered by then is counted as failed; the append path never waits for it anyway. */
export const PUSH_TIMEOUT_MS = 2000;
/** Nudges after failed pushes: 0.5 s, 1 s, 2 s, 4 s, 8 s; then the next commit's push re-syncs the inbox. */
const NUDGE_BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

interface Watcher {
  agentId: string;
  name: string | null;
  pending: InboxChange[];
  sent: number | null;
  inFlight: boolean;
  failures: number;
  nudge: boolean;
}

export class HubWatchers {
  private readonly watchers = new Map<string, Watcher>();
  /** Pushes attempted by this instance (tests count them: a hub without watchers makes none). */
  pushes = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly tenantId: string,
    private readonly contactId: string,
    private readonly inbox: (agentId: string) => InboxTarget,
    private readonly last: () => number,
  ) {
    for (const row of sql.exec<{ agent_id: string; name: string | null }>(`SELECT agent_id, name FROM watchers`)) {
      this.watchers.set(row.agent_id, this.fresh(row.agent_id, row.name));
    }
  }

  private fresh(agentId: string, name: string | null): Watcher {
    return { agentId, name, pending: [], sent: null, inFlight: false, failures: 0, nudge: false };
  }

  get size(): number {
    return this.watchers.size;
  }

  /** Registers (or re-registers) an agent's inbox; `last` is what its catch-up covers. True when the agent is new here. */
  add(agentId: string, name: string | null, last: number): boolean {
    const known = this.watchers.get(agentId);
    if (known) {
      if (known.name !== name) {
        known.name = name;
        this.sql.exec(`UPDATE watchers SET name = ? WHERE agent_id = ?`, name, agentId);
      }
      return false;
    }
    this.sql.exec(`INSERT OR REPLACE INTO watchers (agent_id, name) VALUES (?, ?)`, agentId, name);
    const w = this.fresh(agentId, name);
    w.sent = last;
    this.watchers.set(agentId, w);
    return true;
  }

  remove(agentId: string): boolean {
    if (!this.watchers.delete(agentId)) return false;
    this.sql.exec(`DELETE FROM watchers WHERE agent_id = ?`, agentId);
    return true;
  }

  agents(): PresenceAgent[] {
    return [...this.watchers.values()].map((w) => ({ agent_id: w.agentId, name: w.name }));
  }

  /** Queues changes for every watcher but `except` (the agent they came from, for typing). */
  publish(changes: InboxChange[], except?: string): void {
    if (this.watchers.size === 0 || changes.length === 0) return;
    for (const w of this.watchers.values()) {
      if (w.agentId === except) continue;
      w.pending.push(...changes);
      this.flush(w);
    }
  }

  private flush(w: Watcher): void {
    if (w.inFlight || (w.pending.length === 0 && !w.nudge)) return;
    const batch: InboxPush = { tenant_id: this.tenantId, contact_id: this.contactId, prev: w.sent, last: this.last(), changes: w.pending };
    w.pending = [];
    w.nudge = false;
    w.sent = batch.last;
    w.inFlight = true;
    this.pushes += 1;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('inbox push timed out')), PUSH_TIMEOUT_MS)));
    void Promise.race([this.inbox(w.agentId).push(batch), timeout])
      .then(
        (answer) => {
          w.failures = 0;
          if (!answer.watching && this.watchers.get(w.agentId) === w) this.remove(w.agentId);
        },
        (e: unknown) => {
          w.failures += 1;
          console.error(JSON.stringify({ msg: 'inbox push failed', contact_id: this.contactId, agent_id: w.agentId, failures: w.failures, error: String(e) }));
          const delay = NUDGE_BACKOFF_MS[w.failures - 1];
          if (delay !== undefined) {
            setTimeout(() => {
              if (this.watchers.get(w.agentId) !== w) return;
              w.nudge = true;
              this.flush(w);
            }, delay);
          }
        },
      )
      .finally(() => {
        clearTimeout(timer);
        w.inFlight = false;
        if (this.watchers.get(w.agentId) === w) this.flush(w);
      });
  }
}
