/**
 * The console's timeline card and contact card: one contact's entries newest first, its counts, the
 * agents present and who is typing. Both the single-contact page and the inbox show a contact
 * through it; where a "Mark read" goes (the contact socket or the inbox socket) is the caller's.
 */
import { readByRange, type PresenceAgent, type ReadRange, type Role, type TimelineEntry } from '../../packages/client/src/protocol';

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const fmt = (iso: string) => timeFmt.format(new Date(iso));

function renderEntry(entry: TimelineEntry, onMarkRead: (entry: TimelineEntry) => void): HTMLLIElement {
  const li = document.createElement('li');
  li.className = `entry${entry.read ? '' : ' unread'}`;
  li.dataset.id = entry.id;
  li.dataset.seq = String(entry.sequence_number);
  li.dataset.read = String(entry.read);

  const head = document.createElement('div');
  head.className = 'head';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = entry.title ?? entry.event_type;
  const category = document.createElement('span');
  category.className = 'badge';
  category.textContent = entry.category;
  const priority = document.createElement('span');
  priority.className = `badge priority-${entry.priority}`;
  priority.textContent = entry.priority;
  head.append(title, category, priority);
  if (!entry.read) {
    const dot = document.createElement('span');
    dot.className = 'unread-dot';
    dot.textContent = 'Unread';
    head.append(dot);
  }

  const meta = document.createElement('div');
  const time = document.createElement('time');
  time.dateTime = entry.occurred_at;
  time.textContent = fmt(entry.occurred_at);
  const seq = document.createElement('span');
  seq.className = 'seq';
  seq.textContent = ` · #${entry.sequence_number} · ${entry.event_type}`;
  meta.append(time, seq);

  li.append(head);
  if (entry.description) {
    const p = document.createElement('p');
    p.className = 'description';
    p.style.margin = '0';
    p.textContent = entry.description;
    li.append(p);
  }
  li.append(meta);

  const actions = document.createElement('div');
  actions.className = 'actions';
  if (entry.read) {
    const readAt = document.createElement('span');
    readAt.className = 'read-at';
    readAt.textContent = `Read ${entry.read_at ? fmt(entry.read_at) : ''}`;
    actions.append(readAt);
  } else {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary mark-read';
    button.textContent = 'Mark read';
    button.setAttribute('aria-label', `Mark “${entry.title ?? entry.event_type}” read`);
    button.addEventListener('click', () => {
      button.disabled = true;
      onMarkRead(entry);
    });
    actions.append(button);
  }
  li.append(actions);
  return li;
}

/** The timeline on screen: one contact at a time. */
export class TimelineView {
  private readonly entries = new Map<string, { entry: TimelineEntry; li: HTMLLIElement }>();
  private readonly list = $<HTMLOListElement>('timeline');
  private readonly typingEl = $<HTMLParagraphElement>('typing');
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  onMarkRead: (entry: TimelineEntry) => void = () => {};

  /** Shows a contact's card (id and role) over an empty timeline. */
  show(contactId: string, role: string): void {
    this.clear();
    $('contact-id').textContent = contactId;
    $('role').textContent = role;
    $('contact').hidden = false;
  }

  upsert(entry: TimelineEntry): void {
    const existing = this.entries.get(entry.id);
    const li = renderEntry(entry, (e) => this.onMarkRead(e));
    if (existing) {
      existing.li.replaceWith(li);
    } else {
      // Newest first: entries arrive in sequence order, so each new one goes on top.
      this.list.prepend(li);
    }
    this.entries.set(entry.id, { entry, li });
    this.updateCounts();
  }

  read(id: string, readAt: string): void {
    const found = this.entries.get(id);
    if (found) this.upsert({ ...found.entry, read: true, read_at: readAt });
  }

  /** A mark-read of many entries at once: the ones the hub's rule made read. */
  readRange(range: ReadRange): void {
    for (const { entry } of [...this.entries.values()]) if (readByRange(entry, range)) this.upsert({ ...entry, read: true, read_at: range.read_at });
  }

  remove(id: string): void {
    this.entries.get(id)?.li.remove();
    this.entries.delete(id);
    this.updateCounts();
  }

  clear(): void {
    this.entries.clear();
    this.list.replaceChildren();
    this.typingEl.textContent = '';
    this.updateCounts();
  }

  presence(agents: PresenceAgent[]): void {
    $('presence').textContent = agents.length ? `Agents here: ${agents.map((a) => a.name ?? a.agent_id).join(', ')}` : 'No agents connected';
  }

  typing(t: { agent_id: string | null; name: string | null; role: Role }): void {
    this.typingEl.textContent = `${t.name ?? t.agent_id ?? (t.role === 'client' ? 'The contact' : 'Someone')} is typing…`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => (this.typingEl.textContent = ''), 3000);
  }

  stopTyping(): void {
    this.typingEl.textContent = '';
  }

  updateCounts(): void {
    const all = [...this.entries.values()];
    $('counts').textContent = `${all.length} ${all.length === 1 ? 'entry' : 'entries'}`;
    $('unread-count').textContent = `${all.filter((e) => !e.entry.read).length} unread`;
    $('empty').hidden = all.length > 0;
  }
}
