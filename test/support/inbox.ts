import { exports } from 'cloudflare:workers';
import type { InboxServerFrame } from '../../packages/client/src/protocol';
import { BASE, call, json, type Tenant } from './api';
import { Socket } from './sockets';

export type InboxFrame = InboxServerFrame;
export type InboxSocket = Socket<InboxFrame>;

/** GET /inbox/stream with `Upgrade: websocket`; the raw response (for refusals). */
export function openInbox(query: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Response> {
  const qs = new URLSearchParams(query).toString();
  return exports.default.fetch(new Request(`${BASE}/api/v1/inbox/stream${qs ? `?${qs}` : ''}`, { headers: { upgrade: 'websocket', ...headers } }));
}

export async function inboxToken(t: Tenant, agentId: string, name?: string): Promise<string> {
  const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { role: 'agent', scope: 'inbox', agent_id: agentId, ...(name ? { name } : {}) } });
  if (res.status !== 201) throw new Error(`inbox token refused: ${res.status} ${await res.text()}`);
  return (await json<{ token: string }>(res)).token;
}

/** Opens an agent's inbox (with an inbox token, or `{ key }` for the API-key way) and waits for `ready`. */
export async function connectInbox(t: Tenant, agentId: string, how: { name?: string; key?: true } = {}): Promise<InboxSocket> {
  const res = how.key
    ? await openInbox({ agent_id: agentId, ...(how.name ? { name: how.name } : {}) }, { authorization: `Bearer ${t.key}` })
    : await openInbox({ token: await inboxToken(t, agentId, how.name) });
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new Socket<InboxFrame>(res.webSocket);
  await socket.next('ready');
  return socket;
}

/** Subscribes to contacts (with their `after`, if any) and waits for each one's `caught_up`. */
export async function subscribeAll(s: InboxSocket, contacts: { contact_id: string; after?: number }[], timeoutMs = 10_000): Promise<void> {
  for (const c of contacts) s.send({ type: 'subscribe', ...c });
  const want = new Set(contacts.map((c) => c.contact_id));
  await s.until((fs) => [...want].every((id) => fs.some((f) => f.type === 'caught_up' && f.contact_id === id)), timeoutMs, `caught_up for ${want.size} contacts`);
}

/** The sequence numbers of the event frames the socket got for one contact, in arrival order. */
export const seqsOf = (s: InboxSocket, contactId: string): number[] =>
  s.events().filter((f) => f.contact_id === contactId).map((f) => f.sequence_number);
