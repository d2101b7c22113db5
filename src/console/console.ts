/**
 * The agent console: one contact's timeline, live. Built on the realtime client (packages/client), no
 * framework: the page is a list that grows at the top, a state indicator and a few controls.
 * Bundled by `npm run build` (esbuild) into the Worker's static assets at /console/.
 */
import { EventlineClient, readByRange, tokenClaims, type ConnectionState, type PresenceAgent, type TimelineEntry } from '../../packages/client/src/realtime';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const form = $<HTMLFormElement>('connect');
const baseInput = $<HTMLInputElement>('base');
const tokenInput = $<HTMLTextAreaElement>('token');
const openButton = $<HTMLButtonElement>('open');
const closeButton = $<HTMLButtonElement>('close');
const stateEl = $<HTMLParagraphElement>('state');
const contactSection = $<HTMLElement>('contact');
const list = $<HTMLOListElement>('timeline');
const empty = $<HTMLParagraphElement>('empty');
const typingEl = $<HTMLParagraphElement>('typing');
const problemEl = $<HTMLParagraphElement>('problem');

let client: EventlineClient | null = null;
const entries = new Map<string, { entry: TimelineEntry; li: HTMLLIElement }>();
let typingTimer: ReturnType<typeof setTimeout> | undefined;

/** For tests and debugging: the live client, every state the page went through, and the client class. */
const debug = { states: [] as string[], client: null as EventlineClient | null, EventlineClient };
(window as unknown as { eventline: typeof debug }).eventline = debug;

const params = new URLSearchParams(location.hash.slice(1));
baseInput.value = params.get('base') ?? location.origin;
tokenInput.value = params.get('token') ?? '';

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const fmt = (iso: string) => timeFmt.format(new Date(iso));

function showState(state: ConnectionState, catchingUp: boolean, attempt: number): void {
  const shown = state === 'open' && catchingUp ? 'catching-up' : state;
  const text: Record<string, string> = {
    connecting: 'Connecting…',
    open: 'Live',
    'catching-up': 'Catching up…',
    reconnecting: `Reconnecting${attempt > 1 ? ` (attempt ${attempt})` : ''}…`,
    closed: 'Disconnected',
  };
  stateEl.textContent = text[shown] ?? shown;
  stateEl.className = `state state-${shown}`;
  stateEl.dataset.state = shown;
  if (debug.states.at(-1) !== shown) debug.states.push(shown);
}

function updateCounts(): void {
  const all = [...entries.values()];
  $('counts').textContent = `${all.length} ${all.length === 1 ? 'entry' : 'entries'}`;
  $('unread-count').textContent = `${all.filter((e) => !e.entry.read).length} unread`;
  empty.hidden = all.length > 0;
}

function renderEntry(entry: TimelineEntry): HTMLLIElement {
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
      client?.markRead(entry.id);
    });
    actions.append(button);
  }
  li.append(actions);
  return li;
}

function upsert(entry: TimelineEntry): void {
  const existing = entries.get(entry.id);
  const li = renderEntry(entry);
  if (existing) {
    existing.li.replaceWith(li);
  } else {
    // Newest first: entries arrive in sequence order, so each new one goes on top.
    list.prepend(li);
  }
  entries.set(entry.id, { entry, li });
  updateCounts();
}

function showPresence(agents: PresenceAgent[]): void {
  $('presence').textContent = agents.length
    ? `Agents here: ${agents.map((a) => a.name ?? a.agent_id).join(', ')}`
    : 'No agents connected';
}

function reset(): void {
  entries.clear();
  list.replaceChildren();
  typingEl.textContent = '';
  updateCounts();
}

/** Why the connection failed or was closed, where the user looks first (next to the state). */
function showProblem(problem: { title: string; detail: string; close_code?: number } | null): void {
  problemEl.hidden = problem === null;
  problemEl.textContent = problem ? `${problem.title}: ${problem.detail}${problem.close_code ? ` (close code ${problem.close_code})` : ''}` : '';
  problemEl.dataset.closeCode = problem?.close_code ? String(problem.close_code) : '';
}

function open(base: string, token: string): void {
  client?.close();
  reset();
  showProblem(null);
  const claims = tokenClaims(token);
  $('contact-id').textContent = claims?.cid ?? '?';
  $('role').textContent = claims?.role ?? '?';
  contactSection.hidden = false;
  const backoffMax = Number(params.get('backoff_max_ms') ?? '') || undefined;
  client = new EventlineClient({ baseUrl: base, token, backoff: backoffMax ? { maxMs: backoffMax } : {} });
  debug.client = client;
  client.on('state', (state, detail) => {
    showState(state, detail.catchingUp, detail.attempt);
    // Closed for good (refused, or by the user): nothing left to disconnect.
    if (state === 'closed') closeButton.disabled = true;
  });
  client.on('entry', (entry) => upsert(entry));
  client.on('read', ({ id, read_at }) => {
    const found = entries.get(id);
    if (found) upsert({ ...found.entry, read: true, read_at });
  });
  client.on('read_range', (range) => {
    for (const { entry } of [...entries.values()]) if (readByRange(entry, range)) upsert({ ...entry, read: true, read_at: range.read_at });
  });
  client.on('deleted', ({ id }) => {
    entries.get(id)?.li.remove();
    entries.delete(id);
    updateCounts();
  });
  client.on('presence', showPresence);
  client.on('typing', (t) => {
    typingEl.textContent = `${t.name ?? t.agent_id ?? (t.role === 'client' ? 'The contact' : 'Someone')} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => (typingEl.textContent = ''), 3000);
  });
  client.on('error', (problem) => {
    typingEl.textContent = '';
    showProblem(problem);
  });
  // The hub did not know our resume point: what is on screen is not this contact's history.
  client.on('reset', () => reset());
  client.on('ready', () => showProblem(null));
  client.connect();
  openButton.textContent = 'Reopen';
  closeButton.disabled = false;
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  open(baseInput.value.trim() || location.origin, token);
});
closeButton.addEventListener('click', () => {
  client?.close();
  closeButton.disabled = true;
});
$<HTMLInputElement>('compose').addEventListener('input', () => client?.typing());

updateCounts();
if (tokenInput.value) open(baseInput.value, tokenInput.value);
