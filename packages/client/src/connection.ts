/**
 * What the contact client (./realtime.ts) and the inbox client (./inbox.ts) share: a WebSocket that
 * reconnects with backoff, asks for a token on every connect, tells final closes from retried ones,
 * and typed event handlers. Each client adds its own URL, frames and resume points.
 */
import { CLOSE, type Problem as WireProblem } from './protocol.js';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface Problem extends WireProblem {
  /** The close code that ended the connection, when the problem did. */
  close_code?: number;
}

/** The subset of the WebSocket API the clients use, so that any conforming implementation works. */
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

export interface SocketClientOptions {
  /** A realtime token, or a function returning a fresh one (called on every (re)connect). */
  token: string | (() => string | Promise<string>);
  /** Ack received entries so that realtime ones count as delivered (default true). */
  autoAck?: boolean;
  backoff?: Partial<BackoffOptions>;
  /** A WebSocket implementation when the global one is missing (Node 20 without the flag). */
  WebSocket?: WebSocketConstructor;
  /** Replaceable for tests. */
  random?: () => number;
}

/** The events every client has: its connection state and the problems it meets. */
export interface BaseEvents {
  state: (state: ConnectionState, detail: { attempt: number; catchingUp: boolean }) => void;
  /** A problem the server reported, or why the client gave up (then state becomes `closed`). */
  error: (problem: Problem) => void;
}

type Listener = (...args: never[]) => void;

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000, factor: 2 };
const OPEN = 1;
/**
 * Close codes after which reconnecting cannot help: the server refused us for good. A refused
 * connection closes with 4000 + its HTTP status (4401 token, 4403 another contact or tenant, 4404,
 * 4422 bad request), 4410 the contact was erased. Others (1006, 4429 throttled, 4500) are retried.
 */
const FATAL_CLOSE = new Set([4400, 4401, 4403, 4404, 4410, 4413, 4422]);

/** Reads a token's claims without verifying them (the server verifies); used to find the contact. */
export function tokenClaims(token: string): { tid?: string; cid?: string; role?: 'agent' | 'client'; aid?: string; name?: string; exp?: number; scp?: 'inbox' } | null {
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

/** `base` (http/https/ws/wss) as a WebSocket URL carrying the token. */
export function socketUrl(url: URL, token: string): URL {
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  url.searchParams.set('token', token);
  return url;
}

/**
 * Acks in bursts, one pending sequence number per key (a contact): catching up 10,000 entries sends a
 * handful of acks, not 10,000.
 */
export class AckBatcher {
  private readonly pending = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly flushOne: (key: string, sequenceNumber: number) => void) {}

  schedule(key: string, sequenceNumber: number): void {
    this.pending.set(key, Math.max(this.pending.get(key) ?? 0, sequenceNumber));
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 25);
  }

  /** Forgets what is pending for `key` (its history is being replaced, or it is no longer watched). */
  drop(key: string): void {
    this.pending.delete(key);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const [key, seq] of this.pending) this.flushOne(key, seq);
    this.pending.clear();
  }
}

/** A reconnecting WebSocket with typed events; subclasses give the URL and read the frames. */
export abstract class SocketClient<Events extends BaseEvents & { [K in keyof Events]: Listener }> {
  protected readonly options: SocketClientOptions;
  private readonly backoff: BackoffOptions;
  private readonly handlers = new Map<keyof Events, Set<Listener>>();
  private socket: WebSocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = true;
  /** The current socket was accepted (not refused): a 4401 on it is an expiry, not a refusal. */
  private opened = false;
  /** The problem of the `error` frame that announced the current socket's close. */
  private closingProblem: Problem | null = null;
  state: ConnectionState = 'closed';

  constructor(options: SocketClientOptions) {
    this.options = options;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  }

  /** The socket URL for a token; throws when it cannot be told. */
  protected abstract url(token: string): string;
  /** One parsed server frame of the current socket. */
  protected abstract onFrame(frame: { type: string }): void;
  /** Whether a catch-up is running, for the `state` event. */
  protected abstract catchingUp(): boolean;
  /** The current socket is gone (closed, failed, or replaced): flush what it owed the server. */
  protected onSocketGone(): void {}

  on<K extends keyof Events>(event: K, handler: Events[K]): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const h of this.handlers.get(event) ?? []) (h as (...a: Parameters<Events[K]>) => void)(...args);
  }

  // The base's own events, typed through BaseEvents: `Events` only promises to extend it.
  private emitBase<K extends keyof BaseEvents>(event: K, ...args: Parameters<BaseEvents[K]>): void {
    for (const h of this.handlers.get(event as keyof Events) ?? []) (h as unknown as (...a: Parameters<BaseEvents[K]>) => void)(...args);
  }

  protected reportError(problem: Problem): void {
    this.emitBase('error', problem);
  }

  protected setState(state: ConnectionState): void {
    this.state = state;
    this.emitBase('state', state, { attempt: this.attempt, catchingUp: this.catchingUp() });
  }

  /** The server accepted the socket (its first frame came): reconnects start from the first delay again. */
  protected accepted(): void {
    this.opened = true;
    this.attempt = 0;
  }

  /** An `error` frame with a close code: the close that follows reports it, once, with its code. */
  protected closingWith(problem: Problem): void {
    this.closingProblem = problem;
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
    this.onSocketGone();
    this.socket?.close(1000, 'client closed');
    this.socket = null;
    this.setState('closed');
  }

  /** Drops the current socket as a network failure would; the client reconnects and resumes. */
  disconnect(): void {
    this.socket?.close(4000, 'client dropped the connection');
  }

  protected send(frame: Record<string, unknown>): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  private async open(): Promise<void> {
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let token: string;
    try {
      token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    } catch (e) {
      this.scheduleReconnect();
      this.reportError({ type: 'about:blank', title: 'Token unavailable', status: 0, detail: String(e) });
      return;
    }
    if (this.stopped) return;
    const Impl = this.options.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) throw new Error('no WebSocket implementation: pass options.WebSocket');
    const socket = new Impl(this.url(token));
    this.socket = socket;
    this.opened = false;
    this.closingProblem = null;
    socket.onmessage = (ev) => {
      if (this.socket !== socket || typeof ev.data !== 'string') return;
      let frame: { type: string };
      try {
        // The server sends only the protocol's frames; an unknown type falls through the readers' switches.
        frame = JSON.parse(ev.data) as { type: string };
      } catch {
        return;
      }
      this.onFrame(frame);
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onSocketGone();
      if (this.stopped) return;
      if (ev.code === CLOSE.tokenExpired && typeof this.options.token === 'function' && this.opened) {
        // The function is asked for a new token on every connect; resume where we were, at once. A
        // fresh token refused before its socket opened would only be refused again: that stays final.
        this.attempt = 0;
        this.setState('reconnecting');
        void this.open();
        return;
      }
      if (FATAL_CLOSE.has(ev.code)) {
        this.stopped = true;
        // The server's own problem when it sent one (refusals and fatal closes do), else the close itself.
        const problem = this.closingProblem ?? { type: 'about:blank', title: 'Closed by the server', status: ev.code, detail: ev.reason || `close code ${ev.code}` };
        this.reportError({ ...problem, close_code: ev.code });
        this.setState('closed');
        return;
      }
      // Retried (throttled, internal): the application still hears why.
      if (this.closingProblem) this.reportError({ ...this.closingProblem, close_code: ev.code });
      this.scheduleReconnect();
    };
    socket.onerror = () => {
      // onclose follows and decides what to do.
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.attempt += 1;
    this.setState('reconnecting');
    // Full jitter: a random delay up to the exponential ceiling spreads a crowd of reconnecting clients.
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * this.backoff.factor ** (this.attempt - 1));
    const delay = Math.round((this.options.random ?? Math.random)() * ceiling);
    this.timer = setTimeout(() => void this.open(), delay);
  }
}
