/**
 * The agent console: one contact's timeline, live, or an agent's inbox of many contacts on one socket
 * (an inbox token). Built on the realtime clients (packages/client), no framework: the page is a list
 * that grows at the top, a state indicator and a few controls.
 * Bundled by `npm run build` (esbuild) into the Worker's static assets at /console/.
 */
import type { BaseEvents } from '../../packages/client/src/connection';
import { EventlineInbox } from '../../packages/client/src/inbox';
import { EventlineClient, tokenClaims, type ConnectionState } from '../../packages/client/src/realtime';
import { InboxView } from './inbox-view';
import { $, TimelineView } from './timeline';

const form = $<HTMLFormElement>('connect');
const baseInput = $<HTMLInputElement>('base');
const tokenInput = $<HTMLTextAreaElement>('token');
const contactsInput = $<HTMLTextAreaElement>('contacts');
const openButton = $<HTMLButtonElement>('open');
const closeButton = $<HTMLButtonElement>('close');
const stateEl = $<HTMLParagraphElement>('state');
const problemEl = $<HTMLParagraphElement>('problem');

const view = new TimelineView();
/** The open connection: one contact's client, or the inbox (with its view). */
let client: EventlineClient | EventlineInbox | null = null;
let inboxView: InboxView | null = null;

/** For tests and debugging: the live client, every state the page went through, and the client classes. */
const debug = { states: [] as string[], client: null as EventlineClient | EventlineInbox | null, EventlineClient, EventlineInbox };
(window as unknown as { eventline: typeof debug }).eventline = debug;

const params = new URLSearchParams(location.hash.slice(1));
baseInput.value = params.get('base') ?? location.origin;
tokenInput.value = params.get('token') ?? '';
contactsInput.value = (params.get('contacts') ?? '').split(',').filter(Boolean).join('\n');

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

/** Why the connection failed or was closed, where the user looks first (next to the state). */
function showProblem(problem: { title: string; detail: string; close_code?: number } | null): void {
  problemEl.hidden = problem === null;
  problemEl.textContent = problem ? `${problem.title}: ${problem.detail}${problem.close_code ? ` (close code ${problem.close_code})` : ''}` : '';
  problemEl.dataset.closeCode = problem?.close_code ? String(problem.close_code) : '';
}

/** What both clients offer the page. */
interface Connection {
  on(event: 'state', handler: BaseEvents['state']): unknown;
  on(event: 'error', handler: BaseEvents['error']): unknown;
  on(event: 'ready', handler: () => void): unknown;
  close(): void;
}

/** What every connection shows: its state, its problems, and the Disconnect button. */
function wire(c: Connection & (EventlineClient | EventlineInbox)): void {
  client = c;
  debug.client = c;
  c.on('state', (state, detail) => {
    showState(state, detail.catchingUp, detail.attempt);
    // Closed for good (refused, or by the user): nothing left to disconnect.
    if (state === 'closed') closeButton.disabled = true;
  });
  c.on('error', (problem) => {
    // A refusal about one inbox contact is shown at that contact (inbox-view.ts), not for the page.
    if ((problem as { contact_id?: string }).contact_id) return;
    view.stopTyping();
    showProblem(problem);
  });
  c.on('ready', () => showProblem(null));
  openButton.textContent = 'Reopen';
  closeButton.disabled = false;
}

function open(base: string, token: string): void {
  client?.close();
  view.clear();
  showProblem(null);
  const claims = tokenClaims(token);
  const backoffMax = Number(params.get('backoff_max_ms') ?? '') || undefined;
  const backoff = backoffMax ? { maxMs: backoffMax } : {};
  inboxView = null;
  $('inbox').hidden = true;
  $('contact').hidden = true;
  if (claims?.scp === 'inbox') {
    // An inbox token names no contact: the contacts come from the form (or the link).
    inboxView = new InboxView(view, { baseUrl: base, token, backoff }, contactsInput.value.split(/[\s,]+/));
    wire(inboxView.inbox);
    inboxView.inbox.connect();
    return;
  }
  view.show(claims?.cid ?? '?', claims?.role ?? '?');
  const contact = new EventlineClient({ baseUrl: base, token, backoff });
  view.onMarkRead = (entry) => contact.markRead(entry.id);
  wire(contact);
  contact.on('entry', (entry) => view.upsert(entry));
  contact.on('read', ({ id, read_at }) => view.read(id, read_at));
  contact.on('read_range', (range) => view.readRange(range));
  contact.on('deleted', ({ id }) => view.remove(id));
  contact.on('presence', (agents) => view.presence(agents));
  contact.on('typing', (t) => view.typing(t));
  // The hub did not know our resume point: what is on screen is not this contact's history.
  contact.on('reset', () => view.clear());
  contact.connect();
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
$<HTMLInputElement>('compose').addEventListener('input', () => {
  if (inboxView) inboxView.typing();
  else if (client instanceof EventlineClient) client.typing();
});
$<HTMLFormElement>('add-contact').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('add-contact-id');
  inboxView?.watch(input.value);
  input.value = '';
});

view.updateCounts();
if (tokenInput.value) open(baseInput.value, tokenInput.value);
