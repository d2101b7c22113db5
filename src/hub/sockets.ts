/**
 * The hub's WebSockets (hibernation API). The Worker has already verified the caller (token or API
 * key) and passes the verified session in SESSION_HEADER on the internal upgrade request; a hub is
 * reachable only through its namespace binding, so that header cannot come from outside.
 *
 * Ordering (guarantee 5, resume): the hub runs one event at a time, and every change is committed to
 * its storage BEFORE `announce` is called. A new socket is "catching up" until a read of the storage
 * returns fewer rows than a chunk; while it catches up, live announcements skip it, because anything
 * committed meanwhile has a sequence above the socket's cursor and the next chunk read finds it in
 * storage. The read that ends the catch-up and the switch to live delivery happen in the same
 * synchronous turn, so no commit can fall between them: no gap, no duplicate. Chunks are separated by a
 * macrotask so that a long catch-up does not hold up appends to the contact.
 */
import { isVisibleTo } from '../domain/contact-event-types';
import type { RealtimeRole } from '../domain/realtime-token';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import {
  CLOSE,
  PING_FRAME,
  PONG_FRAME,
  encode,
  invalidFrame,
  parseClientFrame,
  problem,
  type ClientFrame,
  type PresenceAgent,
  type Problem,
  type ServerFrame,
} from './protocol';
import { KEY_CHECK_MS, OPEN, TYPING_EVERY_MS, admitMessage, revokedSockets, scanGrants, send, sendErrorFrame, tokenExpired } from './socket-io';
import { SESSION_HEADER, parseSession } from './socket-session';
import type { TimelineChange } from './types';

// The Worker's side of the upgrade (src/http/realtime.ts) takes these from here.
export { SESSION_HEADER, type SocketSession } from './socket-session';

/** What the socket layer needs of its hub (all of the hub's sockets are of the hub's contact). */
export interface SocketHost {
  undelivered(): TimelineEntryRecord[];
  /** One chunk of a catch-up, as stored JSON text (TimelineStore.catchUpRows). */
  catchUpRows(role: RealtimeRole, after: number, limit: number): { sequence_number: number; body: string }[];
  getEntry(id: string): TimelineEntryRecord | null;
  markRead(id: string): TimelineEntryRecord | null;
  markDelivered(id: string): TimelineEntryRecord | null;
  version(): number;
  /** Have the hub's alarm fire no later than `at` (ms): a socket's token expires then. */
  wakeAt(at: number): void;
  /** Which of the tenant's API keys are still active (a D1 read). */
  activeKeys(tenantId: string, keyIds: string[]): Promise<string[]>;
  /** Agents present through an inbox rather than a socket here (src/hub/watchers.ts). */
  inboxAgents(): PresenceAgent[];
  /** Presence changed, or someone typed: the inboxes watching the contact hear it too. */
  relay(frame: Extract<ServerFrame, { type: 'presence' | 'typing' }>, exceptAgent?: string): void;
}

/**
 * Per-socket state kept across hibernation (serializeAttachment, at most 2 KB: ids ≤ 128, name ≤ 100,
 * so about 600 bytes at most). Only sockets accepted by this code read it: a deploy restarts the hub
 * and disconnects its sockets, so no attachment of an older shape is ever read back.
 */
interface Attachment {
  v: 2;
  tenant_id: string;
  contact_id: string;
  role: RealtimeRole;
  agent_id: string | null;
  name: string | null;
  /** The effective resume point the socket connected with. */
  after: number;
  /** Highest sequence number the socket acknowledged. */
  acked: number;
  connected_at: number;
  /** Token expiry (ms); null: never (API-key sockets). */
  expires_at: number | null;
  /** The API key that minted the token; null: none to check. */
  key_id: string | null;
}

const CATCH_UP_CHUNK = 1000;
/** The `event` frame around an entry's stored JSON text (same bytes as encode({ type: 'event', … })). */
const eventFrameText = (seq: number, body: string): string => `{"type":"event","sequence_number":${seq},"entry":${body}}`;

function sendError(ws: WebSocket, p: Problem, closeCode?: number): void {
  sendErrorFrame(ws, encode({ type: 'error', problem: p, ...(closeCode ? { close_code: closeCode } : {}) }), p, closeCode);
}

export class HubSockets {
  /** Sockets still catching up → the last sequence number read for them. In memory: a hub cannot hibernate while a catch-up timer is pending. */
  private readonly catchingUp = new Map<WebSocket, number>();
  private readonly lastTyping = new WeakMap<WebSocket, number>();
  /** Rows per catch-up chunk. Lowered by tests (StreamHub.testHooks) to make appends race a catch-up of a few hundred entries. */
  catchUpChunk = CATCH_UP_CHUNK;
  /** The earliest token expiry among the sockets; undefined until computed (e.g. after hibernation), null when none expires. */
  private earliestExp: number | null | undefined = undefined;
  /** No key check before this (ms); 0 after hibernation, so the first alarm checks. */
  private keysCheckedUntil = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly host: SocketHost,
  ) {
    // Answered by the runtime without waking the hub: idle sockets cost nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /** Sockets still catching up (StreamHub.testHooks). */
  catchingUpCount(): number {
    return this.catchingUp.size;
  }

  /** The hub's `fetch`: the only thing it serves over fetch is the WebSocket upgrade. */
  upgrade(request: Request): Response {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      return new Response('The contact hub only accepts WebSocket upgrades.', { status: 426 });
    }
    const session = parseSession(request.headers.get(SESSION_HEADER));
    if (!session) return new Response('Missing or invalid socket session.', { status: 400 });

    const pair = new WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    const tags = session.role === 'agent' ? ['agent', ...(session.agent_id ? [`agent:${session.agent_id}`] : [])] : ['client'];
    this.ctx.acceptWebSocket(server, tags);

    const att: Attachment = {
      v: 2,
      tenant_id: session.tenant_id,
      contact_id: session.contact_id,
      role: session.role,
      agent_id: session.agent_id,
      name: session.name,
      after: 0,
      acked: 0,
      connected_at: Date.now(),
      expires_at: session.expires_at,
      key_id: session.key_id,
    };
    const last = this.host.version();
    // A resume point above the last number was not handed out by this contact's history (a client's
    // stale state, a store lost): resuming from it would silently drop every entry up to it. The hub
    // says so and starts the socket from the beginning instead; the client must reset.
    const reset = session.after !== null && session.after > last;
    att.after = reset ? 0 : (session.after ?? last);
    server.serializeAttachment(att);

    send(server, encode({ type: 'ready', role: att.role, agent_id: att.agent_id, last_sequence_number: last, after: att.after, ...(reset ? { reset: true as const } : {}) }));
    if (att.role === 'agent' && att.agent_id && this.ctx.getWebSockets(`agent:${att.agent_id}`).length === 1) this.announcePresence();
    else send(server, encode({ type: 'presence', agents: this.presence() }));

    this.catchingUp.set(server, att.after);
    this.pump(server, att);
    if (att.expires_at !== null) {
      // (While undefined, the next expire() scans every socket anyway.)
      if (this.earliestExp !== undefined) this.earliestExp = this.earliestExp === null ? att.expires_at : Math.min(this.earliestExp, att.expires_at);
      this.host.wakeAt(att.expires_at);
    }
    if (att.key_id) this.host.wakeAt(Date.now() + KEY_CHECK_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Sends the next chunk of the catch-up; the last (short) chunk switches the socket to live. */
  private pump(ws: WebSocket, att: Attachment): void {
    const cursor = this.catchingUp.get(ws);
    if (cursor === undefined) return;
    if (ws.readyState !== OPEN) {
      this.catchingUp.delete(ws);
      return;
    }
    let next = cursor;
    let count = 0;
    try {
      for (const row of this.host.catchUpRows(att.role, cursor, this.catchUpChunk)) {
        send(ws, eventFrameText(row.sequence_number, row.body));
        next = row.sequence_number;
        count += 1;
      }
    } catch (e) {
      this.catchingUp.delete(ws);
      console.error(JSON.stringify({ msg: 'socket catch-up failed', tenant_id: att.tenant_id, contact_id: att.contact_id, error: String(e) }));
      sendError(ws, problem('internal', 'Internal error', 500, 'The catch-up failed; reconnect with the last sequence number you received.'), CLOSE.internal);
      return;
    }
    if (count < this.catchUpChunk) {
      this.catchingUp.delete(ws);
      this.redeliver(ws, att);
      // Tells the client that history is done and what follows is live (a UI's "catching up" ends here).
      send(ws, encode({ type: 'caught_up', last_sequence_number: Math.max(next, att.after) }));
      return;
    }
    this.catchingUp.set(ws, next);
    setTimeout(() => this.pump(ws, att), 0);
  }

  /** After its catch-up a socket gets the undelivered realtime entries at or below its resume point. */
  private redeliver(ws: WebSocket, att: Attachment): void {
    if (att.after === 0) return;
    const now = Date.now();
    for (const entry of this.host.undelivered()) {
      if (entry.sequence_number > att.after || !isVisibleTo(entry, att.role, now)) continue;
      send(ws, encode({ type: 'event', sequence_number: entry.sequence_number, entry, redelivery: true }));
    }
  }

  /**
   * Closes the sockets whose token expired by `now` (error frame, then close 4401; the client gets a
   * new token and resumes with after=). Called from the hub's alarm, before a fan-out and on every
   * incoming frame, so an expired socket neither receives nor sends. Returns the next expiry, if any.
   */
  expire(now = Date.now()): number | null {
    if (this.earliestExp === null || (this.earliestExp !== undefined && this.earliestExp > now)) return this.earliestExp;
    const { expired, nextExpiry } = scanGrants<Attachment>(this.ctx.getWebSockets(), now);
    this.close4401(expired.map(([ws, att]) => [ws, att, tokenExpired('after=<last sequence number>')]));
    this.earliestExp = nextExpiry;
    return nextExpiry;
  }

  /**
   * Closes the sockets whose token's API key was revoked (error frame, then 4401), from the hub's
   * alarm. One D1 read for all of the hub's keys; when D1 fails the sockets stay and the next alarm
   * asks again. Returns when to check next, or null when no open socket lives on a key.
   */
  async checkKeys(now = Date.now()): Promise<number | null> {
    const { byKey } = scanGrants<Attachment>(this.ctx.getWebSockets(), now);
    const tenantId = [...byKey.values()][0]?.[0]?.[1].tenant_id;
    if (tenantId === undefined) return null;
    if (now < this.keysCheckedUntil) return this.keysCheckedUntil;
    const found = await revokedSockets(byKey, (keyIds) => this.host.activeKeys(tenantId, keyIds), 'this stream');
    if (!found) return now + KEY_CHECK_MS;
    this.keysCheckedUntil = now + KEY_CHECK_MS;
    this.close4401(found.revoked);
    return found.kept > 0 ? this.keysCheckedUntil : null;
  }

  /** Ends these sockets' grants (error frame, close 4401); presence follows when an agent left. */
  private close4401(sockets: [WebSocket, Attachment, Problem][]): void {
    let agentLeft = false;
    for (const [ws, att, p] of sockets) {
      this.catchingUp.delete(ws);
      if (att.role === 'agent') agentLeft = true;
      sendError(ws, p, CLOSE.tokenExpired);
    }
    // presence() counts open sockets only, so the closed ones are already gone from it.
    if (agentLeft) this.announcePresence();
  }

  /** Called by the hub after every committed change. */
  /**
   * Tells the sockets what one commit changed, in commit order. Each role's sockets are looked up once
   * per commit, not per change, and a frame is encoded only when a socket is there to get it: a batch
   * commits up to 1,000 entries, usually with nobody watching.
   */
  announce(changes: TimelineChange[]): void {
    this.expire();
    const now = Date.now();
    const found = new Map<'agent' | 'client', WebSocket[]>();
    const sockets = (role: 'agent' | 'client') => {
      let list = found.get(role);
      if (!list) found.set(role, (list = this.ctx.getWebSockets(role)));
      return list;
    };
    for (const change of changes) {
      switch (change.type) {
        case 'event': {
          const entry = change.entry;
          for (const role of ['agent', 'client'] as const) {
            const live = sockets(role).filter((ws) => !this.catchingUp.has(ws));
            if (live.length === 0 || !isVisibleTo(entry, role, now)) continue;
            const frame = encode({ type: 'event', sequence_number: entry.sequence_number, entry });
            for (const ws of live) send(ws, frame);
          }
          break;
        }
        case 'read':
          this.sendAll(sockets('agent'), () => encode({ type: 'read', id: change.id, read_at: change.read_at }));
          break;
        case 'read_range':
          // One frame for the whole range: a mark-all of thousands of entries would otherwise send
          // thousands of frames to every agent. Who hears it is who hears `read`.
          this.sendAll(sockets('agent'), () => encode({ type: 'read_range', up_to: change.up_to, read_at: change.read_at, marked: change.marked }));
          break;
        case 'deleted':
          // Only the id is known once the entry is gone; ids are opaque, so every socket hears of it.
          this.broadcast(encode({ type: 'deleted', id: change.id }));
          break;
        case 'delivered':
          // Not part of the protocol: delivery is the hub's bookkeeping of acks.
          break;
      }
    }
  }

  private sendAll(list: WebSocket[], frame: () => string): void {
    if (list.length === 0) return;
    const text = frame();
    for (const ws of list) send(ws, text);
  }

  message(ws: WebSocket, message: string | ArrayBuffer): void {
    this.expire();
    const admitted = admitMessage<ClientFrame, Attachment>(ws, message, parseClientFrame, (p, closeCode) => sendError(ws, p, closeCode));
    if (!admitted) return;
    const { frame, att } = admitted;
    try {
      this.handle(ws, att, frame);
    } catch (e) {
      // A failing frame must not take the hub or the other sockets down.
      console.error(JSON.stringify({ msg: 'socket frame failed', frame: frame.type, error: String(e) }));
      sendError(ws, problem('internal', 'Internal error', 500, `The ${frame.type} frame could not be handled.`));
    }
  }

  private handle(ws: WebSocket, att: Attachment, frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        send(ws, PONG_FRAME);
        return;
      case 'ack': {
        // A socket can only vouch for what it was sent: up to its catch-up cursor, or everything when live.
        const last = this.host.version();
        if (frame.sequence_number > last) {
          sendError(ws, invalidFrame(`sequence_number ${frame.sequence_number} is beyond the contact's last sequence number ${last}.`, [
            { path: 'sequence_number', message: `must be at most ${last}` },
          ]));
          return;
        }
        const upTo = Math.min(frame.sequence_number, this.catchingUp.get(ws) ?? last);
        if (upTo <= att.acked) return;
        const now = Date.now();
        for (const entry of this.host.undelivered()) {
          if (entry.sequence_number <= upTo && isVisibleTo(entry, att.role, now)) this.host.markDelivered(entry.id);
        }
        att.acked = upTo;
        ws.serializeAttachment(att);
        return;
      }
      case 'read': {
        const entry = this.host.getEntry(frame.id);
        // An entry the role may not see is reported exactly like a missing one.
        if (!entry || !isVisibleTo(entry, att.role, Date.now())) {
          sendError(ws, problem('not-found', 'Not found', 404, `Timeline entry ${frame.id} was not found.`, [{ path: 'id', message: 'is not an entry you can see' }]));
          return;
        }
        this.host.markRead(entry.id);
        return;
      }
      case 'typing': {
        const now = Date.now();
        if ((this.lastTyping.get(ws) ?? 0) + TYPING_EVERY_MS > now) return;
        this.lastTyping.set(ws, now);
        this.typing({ type: 'typing', agent_id: att.agent_id, name: att.name, role: att.role }, ws);
        return;
      }
    }
  }

  close(ws: WebSocket, code: number, reason: string): void {
    this.catchingUp.delete(ws);
    try {
      // 1005/1006 are reserved: they can be received but not sent.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // The runtime already answered the close.
    }
    const att = ws.deserializeAttachment() as Attachment | null;
    if (att?.role !== 'agent' || !att.agent_id) return;
    const stillHere = this.ctx.getWebSockets(`agent:${att.agent_id}`).some((s) => s !== ws && s.readyState === OPEN);
    if (!stillHere) this.announcePresence(ws);
  }

  /** Someone typed (a socket here, or an agent's inbox): agents see everyone typing, the client sees the agents typing. */
  typing(frame: Extract<ServerFrame, { type: 'typing' }>, from?: WebSocket): void {
    const out = encode(frame);
    for (const other of this.ctx.getWebSockets(frame.role === 'agent' ? undefined : 'agent')) if (other !== from) send(other, out);
    // Inbox agents are agents: they see everyone typing.
    if (from) this.host.relay(frame);
  }

  /**
   * Tells every socket here, and the inboxes, who is present now (`leaving`: a socket that is closing;
   * `exceptAgent`: an inbox that just subscribed, which got presence in its answer).
   */
  announcePresence(leaving?: WebSocket, exceptAgent?: string): void {
    const frame = { type: 'presence' as const, agents: this.presence(leaving) };
    this.broadcast(encode(frame), leaving);
    this.host.relay(frame, exceptAgent);
  }

  error(ws: WebSocket, err: unknown): void {
    console.error(JSON.stringify({ msg: 'socket error', error: String(err) }));
    this.close(ws, 1011, 'socket error');
  }

  /** The agents connected now, by socket or by inbox (one entry per agent id, however many tabs), by agent id. */
  presence(exclude?: WebSocket): PresenceAgent[] {
    const agents = new Map<string, PresenceAgent>();
    for (const a of this.host.inboxAgents()) agents.set(a.agent_id, a);
    for (const ws of this.ctx.getWebSockets('agent')) {
      if (ws === exclude || ws.readyState !== OPEN) continue;
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att?.agent_id && !agents.has(att.agent_id)) agents.set(att.agent_id, { agent_id: att.agent_id, name: att.name });
    }
    return [...agents.values()].sort((a, b) => (a.agent_id < b.agent_id ? -1 : a.agent_id > b.agent_id ? 1 : 0));
  }

  private broadcast(frame: string, exclude?: WebSocket): void {
    for (const ws of this.ctx.getWebSockets()) if (ws !== exclude) send(ws, frame);
  }
}
