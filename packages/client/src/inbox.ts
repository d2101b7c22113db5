/**
 * Eventline inbox client: one agent's socket on many contacts (`GET /api/v1/inbox/stream`, a token
 * with `scope: "inbox"`). Per contact it hands the application every entry exactly once and in
 * order across reconnects, as the contact client does: it keeps each contact's resume point and, on
 * every (re)connect, subscribes each contact again with its `after`.
 *
 *   const inbox = new EventlineInbox({ baseUrl: 'https://eventline.example', token });
 *   inbox.on('event', (entry, { contact_id, live }) => render(contact_id, entry));
 *   inbox.on('unread', ({ contact_id, unread }) => badge(contact_id, unread));
 *   inbox.subscribe(contactA);
 *   inbox.subscribe(contactB, 41);   // resume after sequence number 41
 *   inbox.connect();
 */
import { MAX_INBOX_CONTACTS, type InboxServerFrame, type PresenceAgent, type Role, type TimelineEntry } from './protocol.js';
import { AckBatcher, SocketClient, socketUrl, type BaseEvents, type Problem, type SocketClientOptions } from './connection.js';

export { MAX_INBOX_CONTACTS };

export interface InboxEvents extends BaseEvents {
  /** The server accepted the socket; subscriptions are (re)sent right after. */
  ready: (info: { agent_id: string; max_contacts: number }) => void;
  /** A contact's subscription is in effect: its last sequence number, the resume point used, its unread count. */
  subscribed: (info: { contact_id: string; last_sequence_number: number; after: number; unread: number }) => void;
  /** A timeline entry of a contact, once, in that contact's sequence order. `live` is false during its catch-up. */
  event: (entry: TimelineEntry, info: { contact_id: string; live: boolean }) => void;
  /** The server's word that a contact's catch-up (and redeliveries) are done: what follows for it is live. Once per subscription. */
  caught_up: (info: { contact_id: string; last_sequence_number: number }) => void;
  /** A contact's unread count changed (and, once, on subscribing). */
  unread: (info: { contact_id: string; unread: number }) => void;
  read: (info: { contact_id: string; id: string; read_at: string }) => void;
  deleted: (info: { contact_id: string; id: string }) => void;
  presence: (info: { contact_id: string; agents: PresenceAgent[] }) => void;
  typing: (info: { contact_id: string; agent_id: string | null; name: string | null; role: Role }) => void;
  /**
   * The server did not recognise a contact's resume point (above its last sequence number): what the
   * application holds for that contact is not its history. Drop it; its whole visible history follows.
   */
  reset: (info: { contact_id: string; requested_after: number; last_sequence_number: number }) => void;
  /** As on the contact client; `contact_id` names the contact a refused frame was about. */
  error: (problem: Problem & { contact_id?: string }) => void;
}

export interface EventlineInboxOptions extends SocketClientOptions {
  /** The Eventline base URL (http/https); the socket goes to its /api/v1/inbox/stream. */
  baseUrl?: string;
  /** Or the full inbox stream URL, e.g. the `url` returned with the token. */
  url?: string;
  /** Contacts to watch from the start: ids (from the beginning) or `{ id: after }` resume points. */
  contacts?: Iterable<string> | Record<string, number>;
}

/** What the client knows of one watched contact. */
export interface InboxContact {
  /** The highest sequence number handed to the application: the contact's resume point. */
  lastSequence: number;
  /** The unread count the server last sent (null before the subscription is in effect). */
  unread: number | null;
  /** Between `subscribed` and `caught_up` (or the last catch-up entry). */
  catchingUp: boolean;
  catchUpTarget: number;
  /** On the current socket: not sent (or refused), sent, or in effect. */
  status: 'idle' | 'pending' | 'subscribed';
}

/** The inbox stream URL: ws(s)://host/api/v1/inbox/stream?token=… */
export function inboxUrl(base: string, token: string): string {
  const url = /\/inbox\/stream(\?|$)/.test(base) ? new URL(base) : new URL(`${base.replace(/\/+$/, '')}/api/v1/inbox/stream`);
  return socketUrl(url, token).toString();
}

export class EventlineInbox extends SocketClient<InboxEvents> {
  private readonly inboxOptions: EventlineInboxOptions;
  private readonly acks = new AckBatcher((contactId, seq) => this.send({ type: 'ack', contact_id: contactId, sequence_number: seq }));
  private readonly lastTyping = new Map<string, number>();
  /** Watched contacts, in the order they were added: the order they are subscribed in after a reconnect. */
  readonly contacts = new Map<string, InboxContact>();
  /** The current socket got `ready`: subscribe frames can go now, not at the next connect. */
  private ready = false;

  constructor(options: EventlineInboxOptions) {
    super(options);
    this.inboxOptions = options;
    const initial = options.contacts;
    if (initial) {
      const pairs: [string, number][] = Symbol.iterator in initial ? [...(initial as Iterable<string>)].map((id) => [id, 0]) : Object.entries(initial);
      for (const [id, after] of pairs) this.watch(id.toLowerCase(), after);
    }
  }

  /**
   * Watches a contact (again): from `after` (default: where this client is for it, else 0). Takes
   * effect at once on an open socket, else on the next connect. A subscription the server refuses
   * (a contact without a timeline in the tenant: 404; more than 500 contacts) comes back as an
   * `error` naming the contact; calling `subscribe` again asks again (so does every reconnect).
   */
  subscribe(contactId: string, after?: number): void {
    const id = contactId.toLowerCase();
    const known = this.contacts.get(id);
    if (known && after === undefined && known.status !== 'idle') return;
    const contact = this.watch(id, after ?? known?.lastSequence ?? 0);
    if (this.ready) this.sendSubscribe(id, contact);
  }

  /** Stops watching a contact: nothing more arrives for it, and a reconnect does not subscribe it again. */
  unsubscribe(contactId: string): void {
    const id = contactId.toLowerCase();
    if (!this.contacts.delete(id)) return;
    this.acks.drop(id);
    this.send({ type: 'unsubscribe', contact_id: id });
  }

  /** The contact's resume point (0 when it is not watched). */
  lastSequence(contactId: string): number {
    return this.contacts.get(contactId.toLowerCase())?.lastSequence ?? 0;
  }

  markRead(contactId: string, id: string): void {
    this.send({ type: 'read', contact_id: contactId.toLowerCase(), id });
  }

  /** Tells the contact's other sockets this agent is typing (throttled to one frame per second per contact). */
  typing(contactId: string): void {
    const id = contactId.toLowerCase();
    const now = Date.now();
    if (now - (this.lastTyping.get(id) ?? 0) < 1000) return;
    this.lastTyping.set(id, now);
    this.send({ type: 'typing', contact_id: id });
  }

  protected url(token: string): string {
    const base = this.inboxOptions.url ?? this.inboxOptions.baseUrl;
    if (!base) throw new Error('pass baseUrl or url');
    return inboxUrl(base, token);
  }

  protected catchingUp(): boolean {
    for (const c of this.contacts.values()) if (c.catchingUp) return true;
    return false;
  }

  protected override onSocketGone(): void {
    this.acks.flush();
    this.ready = false;
    for (const c of this.contacts.values()) {
      c.catchingUp = false;
      c.status = 'idle';
    }
  }

  private watch(id: string, after: number): InboxContact {
    const contact = this.contacts.get(id) ?? { lastSequence: 0, unread: null, catchingUp: false, catchUpTarget: 0, status: 'idle' as const };
    contact.lastSequence = after;
    this.contacts.set(id, contact);
    return contact;
  }

  private sendSubscribe(id: string, contact: InboxContact): void {
    if (this.send({ type: 'subscribe', contact_id: id, after: contact.lastSequence })) contact.status = 'pending';
  }

  protected onFrame(raw: { type: string }): void {
    const frame = raw as InboxServerFrame;
    // Frames about a contact no longer watched (sent before our unsubscribe reached the server) are dropped.
    const contact = 'contact_id' in frame && frame.contact_id !== undefined ? this.contacts.get(frame.contact_id) : undefined;
    switch (frame.type) {
      case 'ready':
        this.accepted();
        this.ready = true;
        this.setState('open');
        this.emit('ready', { agent_id: frame.agent_id, max_contacts: frame.max_contacts });
        // Every watched contact again, each from its own resume point: no gap, no repeat.
        for (const [id, c] of this.contacts) this.sendSubscribe(id, c);
        break;
      case 'subscribed': {
        if (!contact) break;
        // As on the contact stream, the server's `after` is the resume point; below ours only when it
        // did not know ours, and keeping ours would drop every entry up to it, silently.
        if (frame.after < contact.lastSequence) {
          const requested = contact.lastSequence;
          contact.lastSequence = frame.after;
          this.acks.drop(frame.contact_id);
          this.emit('reset', { contact_id: frame.contact_id, requested_after: requested, last_sequence_number: frame.last_sequence_number });
        }
        contact.status = 'subscribed';
        contact.unread = frame.unread;
        contact.catchUpTarget = frame.last_sequence_number;
        const wasCatchingUp = this.catchingUp();
        contact.catchingUp = frame.last_sequence_number > contact.lastSequence;
        if (!wasCatchingUp && contact.catchingUp) this.setState('open');
        this.emit('subscribed', { contact_id: frame.contact_id, last_sequence_number: frame.last_sequence_number, after: frame.after, unread: frame.unread });
        this.emit('unread', { contact_id: frame.contact_id, unread: frame.unread });
        break;
      }
      case 'event': {
        if (!contact) break;
        const seq = frame.entry.sequence_number;
        // Redeliveries of undelivered realtime entries may repeat what we already handed over.
        if (seq > contact.lastSequence) {
          contact.lastSequence = seq;
          this.emit('event', frame.entry, { contact_id: frame.contact_id, live: !contact.catchingUp });
        }
        if (this.inboxOptions.autoAck !== false) this.acks.schedule(frame.contact_id, seq);
        if (contact.catchingUp && seq >= contact.catchUpTarget) this.endCatchUp(contact);
        break;
      }
      case 'caught_up':
        if (!contact) break;
        this.endCatchUp(contact);
        this.emit('caught_up', { contact_id: frame.contact_id, last_sequence_number: frame.last_sequence_number });
        break;
      case 'unread':
        if (!contact) break;
        contact.unread = frame.unread;
        this.emit('unread', { contact_id: frame.contact_id, unread: frame.unread });
        break;
      case 'read':
        if (contact) this.emit('read', { contact_id: frame.contact_id, id: frame.id, read_at: frame.read_at });
        break;
      case 'deleted':
        if (contact) this.emit('deleted', { contact_id: frame.contact_id, id: frame.id });
        break;
      case 'presence':
        if (contact) this.emit('presence', { contact_id: frame.contact_id, agents: frame.agents });
        break;
      case 'typing':
        if (contact) this.emit('typing', { contact_id: frame.contact_id, agent_id: frame.agent_id, name: frame.name, role: frame.role });
        break;
      case 'error':
        // An error that announces a close is reported once, by the close, with its code.
        if (typeof frame.close_code === 'number') {
          this.closingWith(frame.problem);
          break;
        }
        // The answer to a pending subscribe, unless it is a 409 (already or not subscribed: about
        // another frame): the contact is not subscribed, and `subscribe` may ask again.
        if (contact?.status === 'pending' && frame.problem.status !== 409) contact.status = 'idle';
        this.emit('error', frame.contact_id ? { ...frame.problem, contact_id: frame.contact_id } : frame.problem);
        break;
      default:
        break;
    }
  }

  /** Entries past the catch-up target are live even before `caught_up` (redeliveries come in between). */
  private endCatchUp(contact: InboxContact): void {
    if (!contact.catchingUp) return;
    contact.catchingUp = false;
    if (!this.catchingUp()) this.setState('open');
  }
}
