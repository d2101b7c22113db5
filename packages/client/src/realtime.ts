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

import { readByRange, type PresenceAgent, type ReadRange, type Role, type ServerFrame, type TimelineEntry } from './protocol.js';
import { AckBatcher, SocketClient, socketUrl, tokenClaims, type BaseEvents, type SocketClientOptions } from './connection.js';

export type { PresenceAgent, ReadRange, Role, TimelineEntry };
export { readByRange, tokenClaims };
export type { BackoffOptions, ConnectionState, Problem, WebSocketConstructor, WebSocketLike } from './connection.js';

export interface ReadyInfo {
  role: Role;
  agent_id: string | null;
  last_sequence_number: number;
  /** The resume point the hub uses. */
  after: number;
  /** The hub refused the resume point (above the contact's last sequence number) and starts from 0. */
  reset?: true;
}

export interface ClientEvents extends BaseEvents {
  /** A timeline entry, once, in sequence order. `live` is false while catching up after (re)connecting. */
  entry: (entry: TimelineEntry, info: { live: boolean }) => void;
  read: (read: { id: string; read_at: string }) => void;
  /** Many entries became read at once (mark-read up to a sequence number): apply it with `readByRange`. */
  read_range: (range: ReadRange) => void;
  deleted: (deleted: { id: string }) => void;
  presence: (agents: PresenceAgent[]) => void;
  typing: (typing: { agent_id: string | null; name: string | null; role: Role }) => void;
  ready: (info: ReadyInfo) => void;
  /**
   * The hub did not recognise the resume point (`after` above the contact's last sequence number):
   * whatever the application holds for this contact is not its history. Drop it; the whole visible
   * history follows, then live entries. `lastSequence` is reset to 0 before this fires.
   */
  reset: (info: { requested_after: number; last_sequence_number: number }) => void;
}

export interface EventlineClientOptions extends SocketClientOptions {
  /** The Eventline base URL (http/https); the stream URL is derived from it and the token's contact. */
  baseUrl?: string;
  /** Or the full stream URL (ws/wss or http/https), e.g. the `url` returned with a token. */
  url?: string;
  /** Resume after this sequence number (default 0: the whole visible history, then live). */
  after?: number;
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
  socketUrl(url, token).searchParams.set('after', String(after));
  return url.toString();
}

export class EventlineClient extends SocketClient<ClientEvents> {
  private readonly clientOptions: EventlineClientOptions;
  private readonly acks = new AckBatcher((_, seq) => this.send({ type: 'ack', sequence_number: seq }));
  private catchUp = false;
  private catchUpTarget = 0;
  private lastTyping = 0;
  /** The highest sequence number handed to the application: the resume point. */
  lastSequence: number;
  role: Role | null = null;

  constructor(options: EventlineClientOptions) {
    super(options);
    this.clientOptions = options;
    this.lastSequence = options.after ?? 0;
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

  protected url(token: string): string {
    const base = this.clientOptions.url ?? this.clientOptions.baseUrl;
    if (!base) throw new Error('pass baseUrl or url');
    return streamUrl(base, tokenClaims(token)?.cid ?? null, token, this.lastSequence);
  }

  protected catchingUp(): boolean {
    return this.catchUp;
  }

  protected override onSocketGone(): void {
    this.acks.flush();
    this.catchUp = false;
  }

  protected onFrame(raw: { type: string }): void {
    const frame = raw as ServerFrame;
    switch (frame.type) {
      case 'ready': {
        const info: ReadyInfo = frame;
        this.accepted();
        this.role = info.role;
        // The documented rule: the hub's `after` is the resume point. Below ours only when the hub did
        // not know ours; keeping ours would drop every entry up to it, silently.
        if (info.after < this.lastSequence) {
          const requested = this.lastSequence;
          this.lastSequence = info.after;
          this.acks.drop('');
          this.emit('reset', { requested_after: requested, last_sequence_number: info.last_sequence_number });
        }
        this.catchUpTarget = info.last_sequence_number;
        this.catchUp = info.last_sequence_number > this.lastSequence;
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
        if (seq > this.lastSequence) {
          this.lastSequence = seq;
          this.emit('entry', entry, { live: !this.catchUp });
        }
        if (this.clientOptions.autoAck !== false) this.acks.schedule('', seq);
        if (this.catchUp && seq >= this.catchUpTarget) this.endCatchUp();
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
      case 'error':
        // An error that announces a close is reported once, by the close, with its code.
        if (typeof frame.close_code === 'number') this.closingWith(frame.problem);
        else this.reportError(frame.problem);
        break;
      default:
        break;
    }
  }

  private endCatchUp(): void {
    if (!this.catchUp) return;
    this.catchUp = false;
    this.setState('open');
  }
}
