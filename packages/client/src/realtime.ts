/**
 * Eventline realtime client: watches one contact's timeline over a WebSocket and hands the
 * application every entry exactly once and in order, across reconnects.
 *
 * Works in browsers and in Node ≥ 20 (pass `WebSocket` from a library, or run Node with
 * `--experimental-websocket`; Node 22+ has it built in). No dependencies.
 *
 *   const client = new EventlineClient({ baseUrl: 'https://eventline.example', token });
 *   client.on('entry', (entry) => render(entry));
 *   client.on('state', (state) => indicator(state));
 *   client.connect();
 *
 * Frames are those of the realtime protocol (./protocol.ts, shared with the server).
 */

import { CLOSE, readByRange, type PresenceAgent, type Problem as WireProblem, type ReadRange, type Role, type ServerFrame, type TimelineEntry } from './protocol.js';

export type { PresenceAgent, ReadRange, Role, TimelineEntry };
export { readByRange };
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface Problem extends WireProblem {
  /** The close code that ended the connection, when the problem did. */
  close_code?: number;
}

export interface ReadyInfo {
  role: Role;
  agent_id: string | null;
  last_sequence_number: number;
  /** The resume point the hub uses. */
  after: number;
  /** The hub refused the resume point (above the contact's last sequence number) and starts from 0. */
  reset?: true;
}

export interface ClientEvents {
  /** A timeline entry, once, in sequence order. `live` is false while catching up after (re)connecting. */
  entry: (entry: TimelineEntry, info: { live: boolean }) => void;
  read: (read: { id: string; read_at: string }) => void;
  /** Many entries became read at once (mark-read up to a sequence number): apply it with `readByRange`. */
  read_range: (range: ReadRange) => void;
  deleted: (deleted: { id: string }) => void;
  presence: (agents: PresenceAgent[]) => void;
  typing: (typing: { agent_id: string | null; name: string | null; role: Role }) => void;
  state: (state: ConnectionState, detail: { attempt: number; catchingUp: boolean }) => void;
  ready: (info: ReadyInfo) => void;
  /**
   * The hub did not recognise the resume point (`after` above the contact's last sequence number):
   * whatever the application holds for this contact is not its history. Drop it; the whole visible
   * history follows, then live entries. `lastSequence` is reset to 0 before this fires.
   */
  reset: (info: { requested_after: number; last_sequence_number: number }) => void;
  /** A problem the hub reported, or why the client gave up (then state becomes `closed`). */
  error: (problem: Problem) => void;
}

type Handler<K extends keyof ClientEvents> = ClientEvents[K];

/** The subset of the WebSocket API the client uses, so that any conforming implementation works. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface BackoffOptions {
  /** First retry delay ceiling (ms). */
  initialMs: number;
  /** Largest delay ceiling (ms). */
  maxMs: number;
  factor: number;
}

export interface EventlineClientOptions {
  /** The Eventline base URL (http/https); the stream URL is derived from it and the token's contact. */
  baseUrl?: string;
  /** Or the full stream URL (ws/wss or http/https), e.g. the `url` returned with a token. */
  url?: string;
  /** A realtime token, or a function returning a fresh one (called on every (re)connect). */
  token: string | (() => string | Promise<string>);
  /** Resume after this sequence number (default 0: the whole visible history, then live). */
  after?: number;
  /** Ack received entries so that realtime ones count as delivered (default true). */
  autoAck?: boolean;
  backoff?: Partial<BackoffOptions>;
  /** A WebSocket implementation when the global one is missing (Node 20 without the flag). */
  WebSocket?: WebSocketConstructor;
  /** Replaceable for tests. */
  random?: () => number;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000, factor: 2 };
const OPEN = 1;
/**
 * Close codes after which reconnecting cannot help: the server refused us for good. A refused
 * connection closes with 4000 + its HTTP status (4401 token, 4403 another contact or tenant, 4404,
 * 4422 bad request), 4410 the contact was erased. Others (1006, 4429 throttled, 4500) are retried.
 */
const FATAL_CLOSE = new Set([4400, 4401, 4403, 4404, 4410, 4413, 4422]);
/**
 * The token expired or its key was revoked: final with a fixed token. With a token function, a socket
 * that had opened reconnects at once with a fresh token; one refused before it opened does not, as a
 * fresh token that is refused at once would only be refused again.
 */
const TOKEN_EXPIRED = CLOSE.tokenExpired;

/** Reads a token's claims without verifying them (the hub verifies); used to find the contact. */
export function tokenClaims(token: string): { tid?: string; cid?: string; role?: Role; aid?: string; name?: string; exp?: number } | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const text = atob(part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4));
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as ReturnType<typeof tokenClaims>;
  } catch {
    return null;
  }
}

/** The stream URL for a contact: ws(s)://host/api/v1/contacts/{id}/stream?token=…&after=N */
export function streamUrl(base: string, contactId: string | null, token: string, after: number): string {
  let url: URL;
  if (/\/stream(\?|$)/.test(base)) {
    url = new URL(base);
  } else {
    if (!contactId) throw new Error('cannot tell the contact: pass `url`, or a token that names its contact');
    url = new URL(`${base.replace(/\/+$/, '')}/api/v1/contacts/${encodeURIComponent(contactId)}/stream`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  url.searchParams.set('token', token);
  url.searchParams.set('after', String(after));
  return url.toString();
}

export class EventlineClient {
  private readonly options: EventlineClientOptions;
  private readonly backoff: BackoffOptions;
  private readonly handlers: { [K in keyof ClientEvents]: Set<Handler<K>> } = {
    entry: new Set(),
    read: new Set(),
    read_range: new Set(),
    deleted: new Set(),
    presence: new Set(),
    typing: new Set(),
    state: new Set(),
    ready: new Set(),
    reset: new Set(),
    error: new Set(),
  };
  private socket: WebSocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = true;
  private catchingUp = false;
  private catchUpTarget = 0;
  private pendingAck = 0;
  private lastTyping = 0;
  /** The current socket got `ready` (it was accepted, not refused). */
  private opened = false;
  /** The problem of the `error` frame that announced the current socket's close. */
  private closingProblem: Problem | null = null;
  /** The highest sequence number handed to the application: the resume point. */
  lastSequence: number;
  state: ConnectionState = 'closed';
  role: Role | null = null;

  constructor(options: EventlineClientOptions) {
    this.options = options;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.lastSequence = options.after ?? 0;
  }

  on<K extends keyof ClientEvents>(event: K, handler: Handler<K>): () => void {
    this.handlers[event].add(handler);
    return () => this.handlers[event].delete(handler);
  }

  private emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    for (const h of this.handlers[event]) (h as (...a: Parameters<ClientEvents[K]>) => void)(...args);
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.emit('state', state, { attempt: this.attempt, catchingUp: this.catchingUp });
  }

  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.open();
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.flushAck();
    this.socket?.close(1000, 'client closed');
    this.socket = null;
    this.setState('closed');
  }

  /** Drops the current socket as a network failure would; the client reconnects and resumes. */
  disconnect(): void {
    this.socket?.close(4000, 'client dropped the connection');
  }

  markRead(id: string): void {
    this.send({ type: 'read', id });
  }

  /** Tells others this user is typing (throttled to one frame per second). */
  typing(): void {
    const now = Date.now();
    if (now - this.lastTyping < 1000) return;
    this.lastTyping = now;
    this.send({ type: 'typing' });
  }

  private send(frame: Record<string, unknown>): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(frame));
  }

  private async open(): Promise<void> {
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let token: string;
    try {
      token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    } catch (e) {
      this.scheduleReconnect();
      this.emit('error', { type: 'about:blank', title: 'Token unavailable', status: 0, detail: String(e) });
      return;
    }
    if (this.stopped) return;
    const Impl = this.options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) throw new Error('no WebSocket implementation: pass options.WebSocket');
    const base = this.options.url ?? this.options.baseUrl;
    if (!base) throw new Error('pass baseUrl or url');
    const url = streamUrl(base, tokenClaims(token)?.cid ?? null, token, this.lastSequence);
    const socket = new Impl(url);
    this.socket = socket;
    this.opened = false;
    this.closingProblem = null;
    socket.onmessage = (ev) => {
      if (this.socket === socket && typeof ev.data === 'string') this.onFrame(ev.data);
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.flushAck();
      if (this.stopped) return;
      if (ev.code === TOKEN_EXPIRED && typeof this.options.token === 'function' && this.opened) {
        // The function is asked for a new token on every connect; resume where we were, at once.
        this.attempt = 0;
        this.catchingUp = false;
        this.setState('reconnecting');
        void this.open();
        return;
      }
      if (FATAL_CLOSE.has(ev.code)) {
        this.stopped = true;
        // The server's own problem when it sent one (refusals and fatal closes do), else the close itself.
        const problem = this.closingProblem ?? { type: 'about:blank', title: 'Closed by the server', status: ev.code, detail: ev.reason || `close code ${ev.code}` };
        this.emit('error', { ...problem, close_code: ev.code });
        this.setState('closed');
        return;
      }
      // Retried (throttled, internal): the application still hears why.
      if (this.closingProblem) this.emit('error', { ...this.closingProblem, close_code: ev.code });
      this.scheduleReconnect();
    };
    socket.onerror = () => {
      // onclose follows and decides what to do.
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.attempt += 1;
    this.catchingUp = false;
    this.setState('reconnecting');
    // Full jitter: a random delay up to the exponential ceiling spreads a crowd of reconnecting clients.
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * this.backoff.factor ** (this.attempt - 1));
    const delay = Math.round((this.options.random ?? Math.random)() * ceiling);
    this.timer = setTimeout(() => void this.open(), delay);
  }

  private onFrame(data: string): void {
    let frame: ServerFrame;
    try {
      // The server sends only the protocol's frames; an unknown type falls through the switch.
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'ready': {
        const info: ReadyInfo = frame;
        this.opened = true;
        this.role = info.role;
        this.attempt = 0;
        // The documented rule: the hub's `after` is the resume point. Below ours only when the hub did
        // not know ours; keeping ours would drop every entry up to it, silently.
        if (info.after < this.lastSequence) {
          const requested = this.lastSequence;
          this.lastSequence = info.after;
          this.pendingAck = 0;
          this.emit('reset', { requested_after: requested, last_sequence_number: info.last_sequence_number });
        }
        this.catchUpTarget = info.last_sequence_number;
        this.catchingUp = info.last_sequence_number > this.lastSequence;
        this.setState('open');
        this.emit('ready', info);
        break;
      }
      case 'caught_up':
        this.endCatchUp();
        break;
      case 'event': {
        const entry = frame.entry;
        const seq = entry.sequence_number;
        // Redeliveries of undelivered realtime entries may repeat what we already handed over.
        if (seq <= this.lastSequence) {
          this.scheduleAck(seq);
          break;
        }
        this.lastSequence = seq;
        this.emit('entry', entry, { live: !this.catchingUp });
        this.scheduleAck(seq);
        if (this.catchingUp && seq >= this.catchUpTarget) this.endCatchUp();
        break;
      }
      case 'read':
        this.emit('read', { id: frame.id, read_at: frame.read_at });
        break;
      case 'read_range':
        this.emit('read_range', { up_to: frame.up_to, read_at: frame.read_at, marked: frame.marked });
        break;
      case 'deleted':
        this.emit('deleted', { id: frame.id });
        break;
      case 'presence':
        this.emit('presence', frame.agents);
        break;
      case 'typing':
        this.emit('typing', frame);
        break;
      case 'error': {
        const closeCode = typeof frame.close_code === 'number' ? frame.close_code : null;
        // An error that announces a close is reported once, by the close, with its code.
        if (closeCode !== null) {
          this.closingProblem = frame.problem;
          break;
        }
        this.emit('error', frame.problem);
        break;
      }
      default:
        break;
    }
  }

  private endCatchUp(): void {
    if (!this.catchingUp) return;
    this.catchingUp = false;
    this.setState('open');
  }

  private scheduleAck(seq: number): void {
    if (this.options.autoAck === false) return;
    this.pendingAck = Math.max(this.pendingAck, seq);
    // One ack per burst: catching up 10,000 entries sends a handful of acks, not 10,000.
    if (!this.ackTimer) this.ackTimer = setTimeout(() => this.flushAck(), 25);
  }

  private flushAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.pendingAck > 0) {
      this.send({ type: 'ack', sequence_number: this.pendingAck });
      this.pendingAck = 0;
    }
  }
}
