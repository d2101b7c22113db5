/**
 * The console's inbox: an agent's contacts on one socket (an inbox token), each with its unread
 * badge; the open contact's timeline below. The agent enters the contact ids (or the link carries
 * them): the console holds only a realtime token, never an API key, so it cannot list a tenant's
 * contacts. Opening a contact marks its unread entries read with `read` frames on the same socket;
 * the badge follows the server's `unread` frames, so it clears when the server has counted the reads.
 */
import { EventlineInbox, type EventlineInboxOptions } from '../../packages/client/src/inbox';
import type { PresenceAgent, TimelineEntry } from '../../packages/client/src/protocol';
import { $, TimelineView } from './timeline';

interface Watched {
  /** The contact's entries by id, in sequence order (the order they arrive in). */
  entries: Map<string, TimelineEntry>;
  /** Entries a `read` was sent for: opening the contact twice does not send them again. */
  readSent: Set<string>;
  presence: PresenceAgent[];
  li: HTMLLIElement;
  badge: HTMLSpanElement;
  /** Why the server refused to subscribe the contact (e.g. no timeline in this tenant yet). */
  problem: HTMLParagraphElement;
}

export class InboxView {
  readonly inbox: EventlineInbox;
  private readonly watched = new Map<string, Watched>();
  private readonly list = $<HTMLUListElement>('inbox-contacts');
  private selected: string | null = null;

  constructor(
    private readonly view: TimelineView,
    options: EventlineInboxOptions,
    contactIds: string[],
  ) {
    this.inbox = new EventlineInbox(options);
    view.onMarkRead = (entry) => this.markRead(entry.contact_id, [entry]);
    this.list.replaceChildren();
    $('inbox').hidden = false;
    for (const id of contactIds) this.watch(id);
    this.listen();
  }

  /** Adds a contact to the inbox (subscribed at once on an open socket); a refused one is asked for again. */
  watch(contactId: string): void {
    const id = contactId.trim().toLowerCase();
    if (!id) return;
    if (this.watched.has(id)) {
      this.inbox.subscribe(id);
      return;
    }
    const li = document.createElement('li');
    li.className = 'inbox-contact';
    li.dataset.contactId = id;
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'secondary open-contact';
    const label = document.createElement('code');
    label.textContent = id;
    const badge = document.createElement('span');
    badge.className = 'unread-badge';
    badge.hidden = true;
    open.append(label, badge);
    open.addEventListener('click', () => this.open(id));
    const stop = document.createElement('button');
    stop.type = 'button';
    stop.className = 'secondary stop-watching';
    stop.textContent = 'Stop';
    stop.setAttribute('aria-label', `Stop watching ${id}`);
    stop.addEventListener('click', () => this.unwatch(id));
    const problem = document.createElement('p');
    problem.className = 'contact-problem';
    problem.hidden = true;
    li.append(open, stop, problem);
    this.list.append(li);
    this.watched.set(id, { entries: new Map(), readSent: new Set(), presence: [], li, badge, problem });
    this.setBadge(id, null);
    this.inbox.subscribe(id);
  }

  private unwatch(id: string): void {
    const w = this.watched.get(id);
    if (!w) return;
    this.inbox.unsubscribe(id);
    w.li.remove();
    this.watched.delete(id);
    if (this.selected === id) {
      this.selected = null;
      this.view.clear();
      $('contact').hidden = true;
    }
  }

  /** Shows a contact's timeline and marks what it has unread as read. */
  open(id: string): void {
    const w = this.watched.get(id);
    if (!w) return;
    this.selected = id;
    for (const [other, o] of this.watched) o.li.querySelector('.open-contact')?.setAttribute('aria-current', String(other === id));
    this.view.show(id, 'agent');
    for (const entry of w.entries.values()) this.view.upsert(entry);
    this.view.presence(w.presence);
    this.markRead(id, [...w.entries.values()]);
  }

  private markRead(contactId: string, entries: TimelineEntry[]): void {
    const w = this.watched.get(contactId);
    if (!w) return;
    for (const entry of entries) {
      if (entry.read || w.readSent.has(entry.id)) continue;
      w.readSent.add(entry.id);
      this.inbox.markRead(contactId, entry.id);
    }
  }

  private setBadge(id: string, unread: number | null): void {
    const w = this.watched.get(id);
    if (!w) return;
    w.badge.hidden = !unread;
    w.badge.textContent = unread ? String(unread) : '';
    w.li.dataset.unread = unread === null ? '' : String(unread);
    w.li.querySelector('.open-contact')?.setAttribute('aria-label', `Open ${id}${unread ? `, ${unread} unread` : ''}`);
  }

  private listen(): void {
    const inbox = this.inbox;
    inbox.on('event', (entry, { contact_id }) => {
      const w = this.watched.get(contact_id);
      if (!w) return;
      w.entries.set(entry.id, entry);
      if (this.selected !== contact_id) return;
      this.view.upsert(entry);
      // The agent is looking at this contact: what arrives is seen as it arrives.
      this.markRead(contact_id, [entry]);
    });
    inbox.on('unread', ({ contact_id, unread }) => this.setBadge(contact_id, unread));
    inbox.on('subscribed', ({ contact_id }) => this.showProblem(contact_id, null));
    inbox.on('error', (p) => {
      if (p.contact_id) this.showProblem(p.contact_id, `${p.title}: ${p.detail}`);
    });
    inbox.on('read', ({ contact_id, id, read_at }) => {
      const w = this.watched.get(contact_id);
      const entry = w?.entries.get(id);
      if (!w || !entry) return;
      w.entries.set(id, { ...entry, read: true, read_at });
      if (this.selected === contact_id) this.view.read(id, read_at);
    });
    inbox.on('deleted', ({ contact_id, id }) => {
      this.watched.get(contact_id)?.entries.delete(id);
      if (this.selected === contact_id) this.view.remove(id);
    });
    inbox.on('presence', ({ contact_id, agents }) => {
      const w = this.watched.get(contact_id);
      if (w) w.presence = agents;
      if (this.selected === contact_id) this.view.presence(agents);
    });
    inbox.on('typing', (t) => {
      if (this.selected === t.contact_id) this.view.typing(t);
    });
    // The server did not know the contact's resume point: what is held for it is not its history.
    inbox.on('reset', ({ contact_id }) => {
      const w = this.watched.get(contact_id);
      if (!w) return;
      w.entries.clear();
      w.readSent.clear();
      if (this.selected === contact_id) this.view.clear();
    });
  }

  private showProblem(id: string, text: string | null): void {
    const w = this.watched.get(id);
    if (!w) return;
    w.problem.hidden = text === null;
    w.problem.textContent = text ?? '';
    w.li.dataset.problem = text ? 'true' : '';
  }

  /** Typing in the compose box goes to the open contact. */
  typing(): void {
    if (this.selected) this.inbox.typing(this.selected);
  }
}
