import { env, exports } from 'cloudflare:workers';
import { afterEach } from 'vitest';
import { contactHub } from '../../src/hub';
import type { ServerFrame } from '../../src/hub/protocol';
import { prepareEntry } from '../../src/domain/prepare';
import type { TimelineEntryRecord, NewContactEvent } from '../../src/domain/schemas/contact-events';
import { BASE, call, json, type Tenant } from './api';

export type Frame = ServerFrame;
export type EventFrame = Extract<ServerFrame, { type: 'event' }>;

/** A real WebSocket opened through the Worker's fetch, with its received frames queued for assertions (contact stream frames, or another protocol's). */
export class Socket<F extends { type: string } = Frame> {
  readonly frames: F[] = [];
  closeCode: number | null = null;
  private eventCount = 0;
  private waiters: (() => void)[] = [];
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    let onClose!: (code: number) => void;
    this.closed = new Promise((r) => (onClose = r));
    ws.addEventListener('message', (e) => {
      const frame = JSON.parse(e.data as string) as F;
      this.frames.push(frame);
      if (frame.type === 'event') this.eventCount += 1;
      this.wake();
    });
    ws.addEventListener('close', (e) => {
      this.closeCode = e.code;
      onClose(e.code);
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || frame instanceof ArrayBuffer ? frame : JSON.stringify(frame));
  }

  /** Waits until `check(frames)` holds, or fails after `timeoutMs`. */
  async until(check: (frames: F[]) => boolean, timeoutMs = 5000, what = 'frames'): Promise<F[]> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this.frames)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames;
  }

  /** The first frame of `type` after index `from`, waiting for it. */
  async next<T extends F['type']>(type: T, from = 0, timeoutMs = 5000): Promise<Extract<F, { type: T }>> {
    await this.until((fs) => fs.slice(from).some((f) => f.type === type), timeoutMs, `a ${type} frame`);
    return this.frames.slice(from).find((f) => f.type === type) as Extract<F, { type: T }>;
  }

  of<T extends F['type']>(type: T): Extract<F, { type: T }>[] {
    return this.frames.filter((f) => f.type === type) as Extract<F, { type: T }>[];
  }

  events(): Extract<F, { type: 'event' }>[] {
    return this.of('event' as F['type']) as Extract<F, { type: 'event' }>[];
  }

  /** Waits until at least `count` event frames arrived. */
  async eventsUpTo(count: number, timeoutMs = 5000): Promise<Extract<F, { type: 'event' }>[]> {
    await this.until(() => this.eventCount >= count, timeoutMs, `${count} event frames`);
    return this.events();
  }

  /** Lets in-flight frames arrive, for asserting that something did NOT come. */
  async settle(ms = 100): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
  }

  close(code = 1000): void {
    try {
      this.ws.close(code, 'test done');
    } catch {
      // already closed
    }
  }
}

/** GET the stream route with `Upgrade: websocket`; the raw response (for refusals). */
export function openStream(contactId: string, query: Record<string, string | number> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return exports.default.fetch(
    new Request(`${BASE}/api/v1/contacts/${contactId}/stream${qs ? `?${qs}` : ''}`, { headers: { upgrade: 'websocket', ...headers } }),
  );
}

/** Opens a socket and waits for its first two frames, `ready` and `presence`. */
export async function connect(contactId: string, query: Record<string, string | number> = {}, headers: Record<string, string> = {}): Promise<Socket> {
  const res = await openStream(contactId, query, headers);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new Socket(res.webSocket);
  await socket.next('ready');
  await socket.next('presence');
  return socket;
}

export async function issueToken(
  t: Tenant,
  body: { contact_id: string; role: 'agent' | 'client'; agent_id?: string; name?: string; ttl_seconds?: number },
): Promise<string> {
  const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body });
  if (res.status !== 201) throw new Error(`token refused: ${res.status} ${await res.text()}`);
  return (await json<{ token: string }>(res)).token;
}

export async function connectAs(
  t: Tenant,
  contactId: string,
  who: { role: 'agent'; agent_id: string; name?: string } | { role: 'client' },
  query: Record<string, string | number> = {},
): Promise<Socket> {
  const token = await issueToken(t, { contact_id: contactId, ...who });
  return connect(contactId, { token, ...query });
}

const base: NewContactEvent = { event_type: 'note_added', category: 'note', source: 'agent' };

/** Appends timeline entries through the contact's hub (RPC), as the timeline API does. */
export async function appendEntries(t: Tenant, contactId: string, entries: Partial<NewContactEvent>[]): Promise<TimelineEntryRecord[]> {
  const { stub, owner } = contactHub(env, t.id, contactId);
  const now = Date.now();
  const prepared = await Promise.all(entries.map((e, i) => prepareEntry({ ...base, ...e }, { idempotencyKey: null, correlationId: null, now }, i, true)));
  const out = await stub.appendEntries(owner, prepared);
  if (!out.ok) throw new Error(`append failed: ${out.detail}`);
  return out.records;
}

export async function getEntry(t: Tenant, contactId: string, id: string): Promise<TimelineEntryRecord | null> {
  const { stub, owner } = contactHub(env, t.id, contactId);
  return stub.getEntry(owner, id);
}

interface Closable {
  close(): void;
  closed: Promise<unknown>;
}

/**
 * The sockets a test file opens (`open.push` or `await track(…)`), closed after each test, waiting up to
 * 2 s for the server's answer, so that no close handler outlives the test file.
 */
export function closeSocketsAfterEach<S extends Closable = Closable>(): { open: S[]; track: <T extends S | S[]>(s: T | Promise<T>) => Promise<T> } {
  const open: S[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => (s.close(), Promise.race([s.closed, new Promise((r) => setTimeout(r, 2000))]))));
  });
  const track = async <T extends S | S[]>(s: T | Promise<T>): Promise<T> => {
    const v = await s;
    open.push(...((Array.isArray(v) ? v : [v]) as S[]));
    return v;
  };
  return { open, track };
}
