/**
 * One agent's inbox (one per tenant and agent): the agent's sockets, each subscribed to up to 500
 * contacts. The contact hubs do the fan-out: a subscribe registers this inbox as a watcher of the
 * contact's hub (StreamHub.watch), which returns the catch-up in the same turn and then pushes every
 * later agent-visible change here (`push`), in order. This object only routes pushes to the sockets
 * that subscribe to the contact, dropping what a socket already has (sequence ≤ its `covered`), and
 * re-syncs a contact from the hub's storage when a push shows that one before it went missing
 * (src/hub/watchers.ts). Sockets hibernate; subscriptions live in SQLite (src/inbox/subscriptions.ts).
 */
import { DurableObject } from 'cloudflare:workers';
import { activeKeyIds } from '../db/tenants';
import { contactHub } from '../hub';
import { KEY_CHECK_MS, OPEN, TYPING_EVERY_MS, admitMessage, revokedSockets, scanGrants, send, sendErrorFrame, tokenExpired } from '../hub/socket-io';
import { CLOSE, PING_FRAME, PONG_FRAME, problem, type Problem } from '../hub/protocol';
import type { CatchUpChunk, InboxChange, InboxPush, PushAnswer } from '../hub/watchers';
import { inboxOwnerOf } from '.';
import { MAX_INBOX_CONTACTS, encodeInbox, inboxEventText, parseInboxFrame, tooManyContacts, type InboxClientFrame, type InboxFrame } from './protocol';
import { INBOX_SESSION_HEADER, parseInboxSession, type InboxSession } from './session';
import { Subscriptions } from './subscriptions';

/** Per socket, across hibernation (well under 2 KB: ids ≤ 128, name ≤ 100). */
interface Attachment extends InboxSession {
  v: 1;
  socket_id: string;
}

/** Entries per catch-up chunk (one hub RPC each). */
const CATCH_UP_CHUNK = 500;

const socketTag = (socketId: string) => `s:${socketId}`;

function sendError(ws: WebSocket, p: Problem, contactId?: string, closeCode?: number): void {
  sendErrorFrame(ws, encodeInbox({ type: 'error', problem: p, ...(contactId ? { contact_id: contactId } : {}), ...(closeCode ? { close_code: closeCode } : {}) }), p, closeCode);
}

/** Seams for tests (through runInDurableObject). */
export interface InboxTestHooks {
  /** Pushes received by this instance. */
  pushes: number;
  /** Re-syncs (catch-ups from the hub after a missing push) started by this instance. */
  resyncs: number;
  /** Refuse the next `n` pushes (as if the inbox were unreachable): the hub sees a failed push. */
  failPushes: number;
  /** Entries per catch-up chunk (lowered to make pushes land between the chunks of a catch-up). */
  catchUpChunk: number;
}

export class AgentInbox extends DurableObject<Env> {
  private readonly tenantId: string;
  private readonly agentId: string;
  private readonly subs: Subscriptions;
  /**
   * (socket, contact) pairs catching up → the pushes that arrived meanwhile, applied once the catch-up
   * is done. In memory: a catch-up awaits the hub, and an object with a pending call does not hibernate.
   */
  private readonly catching = new Map<string, InboxPush[]>();
  /**
   * (socket, contact) pairs whose subscribe awaits the hub's answer: no row is written before it, so
   * that a subscribe costs one storage write (at the end of its catch-up) and does not hold the
   * socket's next frames behind a flush. Pushes for them wait in `catching` like the others.
   */
  private readonly joining = new Set<string>();
  /** Last unread count sent per (socket, contact): `unread` frames go out only on a change. */
  private readonly unreadSent = new Map<string, number>();
  private readonly lastTyping = new Map<string, number>();
  readonly testHooks: InboxTestHooks = { pushes: 0, resyncs: 0, failPushes: 0, catchUpChunk: CATCH_UP_CHUNK };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const owner = ctx.id.name === undefined ? null : inboxOwnerOf(ctx.id.name);
    if (!owner) throw new Error('an inbox is addressed by its name (agentInbox)');
    this.tenantId = owner.tenantId;
    this.agentId = owner.agentId;
    this.subs = new Subscriptions(ctx.storage.sql);
    // Answered by the runtime without waking the inbox.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  private hub(contactId: string) {
    return contactHub(this.env, this.tenantId, contactId);
  }

  /** Only WebSocket upgrades come over fetch; the Worker verified the caller. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('The inbox only accepts WebSocket upgrades.', { status: 426 });
    const session = parseInboxSession(request.headers.get(INBOX_SESSION_HEADER));
    if (!session || session.tenant_id !== this.tenantId || session.agent_id !== this.agentId) return new Response('Missing or invalid inbox session.', { status: 400 });
    const pair = new WebSocketPair();
    const server = pair[1];
    const att: Attachment = { v: 1, socket_id: crypto.randomUUID(), ...session };
    this.ctx.acceptWebSocket(server, [socketTag(att.socket_id)]);
    server.serializeAttachment(att);
    send(server, encodeInbox({ type: 'ready', role: 'agent', agent_id: att.agent_id, max_contacts: MAX_INBOX_CONTACTS }));
    if (att.expires_at !== null) await this.wakeAt(att.expires_at);
    if (att.key_id !== null) await this.wakeAt(Date.now() + KEY_CHECK_MS);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  private async wakeAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /**
   * Closes the sockets whose token expired, or whose key was revoked (one D1 read for all of them,
   * every KEY_CHECK_MS while such sockets are open), with 4401, as the contact stream does.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const { expired, nextExpiry, byKey } = scanGrants<Attachment>(this.ctx.getWebSockets(), now);
    for (const [ws, att] of expired) await this.refuse(ws, att, tokenExpired('subscribe with after=<last sequence number> per contact'));
    let next = nextExpiry;
    if (byKey.size > 0) {
      const found = await revokedSockets(byKey, (keyIds) => activeKeyIds(this.env.DB, this.tenantId, keyIds), 'the inbox');
      for (const [ws, att, p] of found?.revoked ?? []) await this.refuse(ws, att, p);
      // D1 unreachable (null): the sockets stay, the next alarm asks again.
      if (!found || found.kept > 0) next = Math.min(next ?? Infinity, now + KEY_CHECK_MS);
    }
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  private async refuse(ws: WebSocket, att: Attachment, p: Problem): Promise<void> {
    sendError(ws, p, undefined, CLOSE.tokenExpired);
    await this.dropSocket(att.socket_id);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const admitted = admitMessage<InboxClientFrame, Attachment>(ws, message, parseInboxFrame, (p, closeCode) => sendError(ws, p, undefined, closeCode));
    if (!admitted) return;
    const { frame, att } = admitted;
    if (att.expires_at !== null && att.expires_at <= Date.now()) return this.alarm();
    try {
      await this.handle(ws, att, frame);
    } catch (e) {
      // A failing frame must not take the inbox or the other sockets down.
      console.error(JSON.stringify({ msg: 'inbox frame failed', frame: frame.type, error: String(e) }));
      sendError(ws, problem('internal', 'Internal error', 500, `The ${frame.type} frame could not be handled.`), 'contact_id' in frame ? frame.contact_id : undefined);
    }
  }

  private async handle(ws: WebSocket, att: Attachment, frame: InboxClientFrame): Promise<void> {
    if (frame.type === 'ping') {
      send(ws, PONG_FRAME);
      return;
    }
    const contactId = frame.contact_id;
    if (frame.type === 'subscribe') {
      // Not awaited: the runtime hands this object a socket's next frame only once the one before it
      // is done, so an awaited hub call per subscribe would open 200 contacts one after the other.
      void this.subscribe(ws, att, contactId, frame.after ?? null).catch((e: unknown) => {
        console.error(JSON.stringify({ msg: 'inbox subscribe failed', contact_id: contactId, error: String(e) }));
        this.forget(att.socket_id, contactId);
        sendError(ws, problem('internal', 'Internal error', 500, `The subscribe to ${contactId} failed; subscribe again.`), contactId);
      });
      return;
    }
    // A contact still joining counts as subscribed, with nothing covered yet.
    const sub = this.subs.get(att.socket_id, contactId) ?? (this.joining.has(`${att.socket_id} ${contactId}`) ? { covered: 0 } : null);
    if (!sub) {
      return sendError(ws, problem('not-subscribed', 'Not subscribed', 409, `This socket does not subscribe to contact ${contactId}.`, [{ path: 'contact_id', message: 'is not subscribed on this socket' }]), contactId);
    }
    const { stub, owner } = this.hub(contactId);
    switch (frame.type) {
      case 'unsubscribe':
        this.forget(att.socket_id, contactId);
        send(ws, encodeInbox({ type: 'unsubscribed', contact_id: contactId }));
        if (!this.watched(contactId)) await stub.unwatch(owner, this.agentId);
        return;
      case 'ack':
        // A socket vouches only for what it was sent.
        return stub.inboxAck(owner, Math.min(frame.sequence_number, sub.covered));
      case 'read':
        if (!(await stub.inboxRead(owner, frame.id))) {
          sendError(ws, problem('not-found', 'Not found', 404, `Timeline entry ${frame.id} was not found.`, [{ path: 'id', message: 'is not an entry you can see' }]), contactId);
        }
        return;
      case 'typing': {
        const key = `${att.socket_id} ${contactId}`;
        const now = Date.now();
        if ((this.lastTyping.get(key) ?? 0) + TYPING_EVERY_MS > now) return;
        this.lastTyping.set(key, now);
        return stub.inboxTyping(owner, this.agentId, att.name);
      }
    }
  }

  /** Whether a socket of this agent subscribes to the contact, or is subscribing (its watch may be on its way to the hub). */
  private watched(contactId: string): boolean {
    if (this.subs.watched(contactId)) return true;
    const suffix = ` ${contactId}`;
    for (const key of this.joining) if (key.endsWith(suffix)) return true;
    return false;
  }

  private forget(socketId: string, contactId: string): void {
    const key = `${socketId} ${contactId}`;
    this.subs.remove(socketId, contactId);
    this.joining.delete(key);
    this.catching.delete(key);
    this.unreadSent.delete(key);
    this.lastTyping.delete(key);
  }

  private async subscribe(ws: WebSocket, att: Attachment, contactId: string, after: number | null): Promise<void> {
    const key = `${att.socket_id} ${contactId}`;
    if (this.joining.has(key) || this.subs.get(att.socket_id, contactId)) {
      return sendError(ws, problem('already-subscribed', 'Already subscribed', 409, `This socket already subscribes to contact ${contactId}.`, [{ path: 'contact_id', message: 'is already subscribed on this socket' }]), contactId);
    }
    const prefix = `${att.socket_id} `;
    let joiningHere = 0;
    for (const k of this.joining) if (k.startsWith(prefix)) joiningHere += 1;
    if (this.subs.count(att.socket_id) + joiningHere >= MAX_INBOX_CONTACTS) return sendError(ws, tooManyContacts(), contactId);
    // Registered before the hub call: pushes that arrive while it runs wait in `catching`.
    this.joining.add(key);
    this.catching.set(key, []);
    const { stub, owner } = this.hub(contactId);
    const watch = await stub.watch(owner, this.agentId, att.name, after, this.testHooks.catchUpChunk);
    if (!watch.found) {
      this.forget(att.socket_id, contactId);
      // The contacts of another tenant live in other hubs: this tenant's hub of that id has no history.
      return sendError(ws, problem('not-found', 'Not found', 404, `Contact ${contactId} has no timeline in this tenant.`, [{ path: 'contact_id', message: 'is not a contact of this tenant' }]), contactId);
    }
    if (!this.catching.has(key)) {
      // Unsubscribed or closed meanwhile: an unwatch sent then may have reached the hub before this watch.
      if (!this.watched(contactId)) await stub.unwatch(owner, this.agentId);
      return;
    }
    send(ws, encodeInbox({ type: 'subscribed', contact_id: contactId, last_sequence_number: watch.last_sequence_number, after: watch.after, unread: watch.unread, ...(watch.reset ? { reset: true as const } : {}) }));
    this.unreadSent.set(key, watch.unread);
    send(ws, encodeInbox({ type: 'presence', contact_id: contactId, agents: watch.presence }));
    await this.catchUp(ws, att.socket_id, contactId, watch, watch.after);
  }

  /**
   * Sends `first` and the chunks after it, then (for a subscribe: `redeliverUpTo` not null) the
   * redeliveries and `caught_up`, stores what the socket now covers, and applies the pushes that
   * arrived meanwhile (their overlap is dropped). A re-sync passes null: the socket was already live.
   */
  private async catchUp(ws: WebSocket, socketId: string, contactId: string, first: CatchUpChunk, redeliverUpTo: number | null): Promise<void> {
    const key = `${socketId} ${contactId}`;
    let chunk = first;
    for (;;) {
      for (const row of chunk.rows) send(ws, inboxEventText(contactId, row.sequence_number, row.body));
      if (!chunk.more) break;
      const { stub, owner } = this.hub(contactId);
      chunk = await stub.catchUp(owner, chunk.last, this.testHooks.catchUpChunk, redeliverUpTo ?? 0);
      if (!this.catching.has(key)) return;
    }
    // The row's first write for a new subscription (which stops joining here); its place from then on.
    this.subs.setCovered(socketId, contactId, chunk.last);
    this.joining.delete(key);
    if (redeliverUpTo !== null) {
      for (const entry of chunk.redeliveries) send(ws, encodeInbox({ type: 'event', contact_id: contactId, sequence_number: entry.sequence_number, entry, redelivery: true }));
      send(ws, encodeInbox({ type: 'caught_up', contact_id: contactId, last_sequence_number: chunk.last }));
    }
    this.sendUnread(ws, key, contactId, chunk.unread);
    const waiting = this.catching.get(key) ?? [];
    this.catching.delete(key);
    for (const batch of waiting) this.apply(ws, socketId, contactId, batch);
  }

  /** RPC from a contact's hub (src/hub/watchers.ts): later changes of a contact this inbox watches, in order. */
  push(batch: InboxPush): PushAnswer {
    this.testHooks.pushes += 1;
    if (this.testHooks.failPushes > 0) {
      this.testHooks.failPushes -= 1;
      throw new Error('inbox push refused (test)');
    }
    if (batch.tenant_id !== this.tenantId) return { watching: false };
    let watching = false;
    for (const sub of this.subs.ofContact(batch.contact_id)) {
      const ws = this.ctx.getWebSockets(socketTag(sub.socket_id))[0];
      if (!ws || ws.readyState !== OPEN) {
        // Closed without a close event reaching this object (e.g. it was evicted): tidy up.
        this.forget(sub.socket_id, sub.contact_id);
        continue;
      }
      watching = true;
      const waiting = this.catching.get(`${sub.socket_id} ${sub.contact_id}`);
      if (waiting) waiting.push(batch);
      else this.apply(ws, sub.socket_id, sub.contact_id, batch);
    }
    const suffix = ` ${batch.contact_id}`;
    for (const key of this.joining) {
      if (!key.endsWith(suffix)) continue;
      this.catching.get(key)?.push(batch);
      watching = true;
    }
    return { watching };
  }

  /** One push to one live socket. */
  private apply(ws: WebSocket, socketId: string, contactId: string, batch: InboxPush): void {
    const key = `${socketId} ${contactId}`;
    const covered = this.subs.get(socketId, contactId)?.covered;
    if (covered === undefined) return;
    if (batch.prev === null || batch.prev > covered) {
      // A push before this one went missing (or the hub restarted): take the contact's history after
      // `covered` from the hub's storage; this push is applied after it (its overlap is dropped).
      this.testHooks.resyncs += 1;
      this.catching.set(key, [{ ...batch, prev: batch.last }]);
      void this.resync(ws, socketId, contactId, covered);
      return;
    }
    if (batch.changes.some((c) => c.type === 'erased')) {
      // Erased means erased: the subscription ends; the contact's sequence numbers are never reused, so a new subscribe later is safe.
      this.forget(socketId, contactId);
      sendError(ws, problem('erased', 'Contact erased', 410, `Contact ${contactId} was erased; its subscription ended.`), contactId);
      return;
    }
    for (const change of batch.changes) this.sendChange(ws, key, contactId, covered, change);
    if (batch.last > covered) this.subs.setCovered(socketId, contactId, batch.last);
  }

  private async resync(ws: WebSocket, socketId: string, contactId: string, covered: number): Promise<void> {
    try {
      const { stub, owner } = this.hub(contactId);
      const chunk = await stub.catchUp(owner, covered, this.testHooks.catchUpChunk, 0);
      if (!this.catching.has(`${socketId} ${contactId}`)) return;
      await this.catchUp(ws, socketId, contactId, chunk, null);
    } catch (e) {
      console.error(JSON.stringify({ msg: 'inbox resync failed', contact_id: contactId, error: String(e) }));
      // The socket cannot be brought up to date: close it, so that the client resumes with after=.
      sendError(ws, problem('internal', 'Internal error', 500, 'The inbox lost its place in a contact; reconnect and subscribe with after=<last sequence number> per contact.'), contactId, CLOSE.internal);
      await this.dropSocket(socketId);
    }
  }

  private sendChange(ws: WebSocket, key: string, contactId: string, covered: number, change: InboxChange): void {
    switch (change.type) {
      case 'event':
        if (change.entry.sequence_number > covered) send(ws, encodeInbox({ type: 'event', contact_id: contactId, sequence_number: change.entry.sequence_number, entry: change.entry }));
        return;
      case 'unread':
        return this.sendUnread(ws, key, contactId, change.unread);
      case 'erased':
        return; // handled by apply
      default: {
        const frame = { ...change, contact_id: contactId } as InboxFrame;
        send(ws, encodeInbox(frame));
      }
    }
  }

  private sendUnread(ws: WebSocket, key: string, contactId: string, unread: number): void {
    if (this.unreadSent.get(key) === unread) return;
    this.unreadSent.set(key, unread);
    send(ws, encodeInbox({ type: 'unread', contact_id: contactId, unread }));
  }

  /** Forgets a socket's subscriptions, and unwatches the contacts no other socket of this agent subscribes to. */
  private async dropSocket(socketId: string): Promise<void> {
    const contacts = this.subs.removeSocket(socketId);
    for (const key of this.joining) if (key.startsWith(`${socketId} `)) contacts.push(key.slice(socketId.length + 1));
    for (const contactId of contacts) this.forget(socketId, contactId);
    const orphaned = contacts.filter((c) => !this.watched(c));
    await Promise.allSettled(
      orphaned.map((c) => {
        const { stub, owner } = this.hub(c);
        return stub.unwatch(owner, this.agentId);
      }),
    );
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      // 1005/1006 are reserved: they can be received but not sent.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already answered.
    }
    const att = ws.deserializeAttachment() as Attachment | null;
    if (att) await this.dropSocket(att.socket_id);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    console.error(JSON.stringify({ msg: 'inbox socket error', error: String(error) }));
    await this.webSocketClose(ws, 1011, 'socket error');
  }
}
