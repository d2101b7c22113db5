import { describe, expect, it } from 'vitest';
import { EventlineInbox } from '../../packages/client/src/inbox';
import { signRealtimeToken } from '../../packages/client/src/tokens';
import { BASE, call, eventually, json, newTenant, uuid } from '../support/api';
import { FetchWebSocket } from '../support/fetch-websocket';
import { appendEntries, connect, openStream } from '../support/sockets';

async function signingKey(key: string): Promise<{ id: string; secret: string }> {
  const res = await call('POST', '/api/v1/realtime/signing-keys', { key, body: { name: 'backend' } });
  expect(res.status).toBe(201);
  return json<{ id: string; secret: string }>(res);
}

describe('signRealtimeToken (@eventline/client/tokens)', () => {
  it("signs a token a tenant's signing key opens, for an agent and for the contact's client", async () => {
    const t = await newTenant();
    const contact = uuid();
    const key = await signingKey(t.key);
    await appendEntries(t, contact, [{ title: 'for agents' }, { title: 'for both', visible_to_client: true }]);

    const agentToken = await signRealtimeToken(key, { tenantId: t.id, contactId: contact, role: 'agent', agentId: 'agent-7', name: 'Ada' });
    const agent = await connect(contact, { token: agentToken, after: 0 });
    expect((await agent.next('event')).entry.title).toBe('for agents');
    agent.close();

    const clientToken = await signRealtimeToken(key, { tenantId: t.id, contactId: contact, role: 'client', ttlSeconds: 60 });
    const client = await connect(contact, { token: clientToken, after: 0 });
    expect((await client.next('event')).entry.title).toBe('for both');
    client.close();
  });

  it("opens nothing once the key is revoked, and another contact's stream never", async () => {
    const t = await newTenant();
    const contact = uuid();
    const key = await signingKey(t.key);
    const token = await signRealtimeToken(key, { tenantId: t.id, contactId: contact, role: 'client' });
    const other = await openStream(uuid(), { token });
    expect(other.status).toBe(101);
    other.webSocket!.accept();
    const otherClosed = await new Promise<number>((resolve) => other.webSocket!.addEventListener('close', (e) => resolve(e.code)));
    expect(otherClosed).toBe(4403);

    expect((await call('DELETE', `/api/v1/realtime/signing-keys/${key.id}`, { key: t.key })).status).toBe(204);
    const res = await openStream(contact, { token });
    res.webSocket!.accept();
    expect(await new Promise<number>((resolve) => res.webSocket!.addEventListener('close', (e) => resolve(e.code)))).toBe(4401);
  });

  it("signs an agent's inbox token (scp inbox, no contact) that opens the inbox stream", async () => {
    const t = await newTenant();
    const contact = uuid();
    const key = await signingKey(t.key);
    await appendEntries(t, contact, [{ title: 'in the inbox' }]);
    const token = await signRealtimeToken(key, { tenantId: t.id, scope: 'inbox', role: 'agent', agentId: 'agent-9', name: 'Ada' });
    const inbox = new EventlineInbox({ baseUrl: BASE, token, contacts: [contact], WebSocket: FetchWebSocket });
    const titles: (string | null)[] = [];
    inbox.on('event', (e) => titles.push(e.title));
    inbox.connect();
    await eventually(async () => titles.length === 1);
    expect(titles).toEqual(['in the inbox']);
    inbox.close();
  });

  it('refuses a lifetime the server would refuse, before signing', async () => {
    await expect(signRealtimeToken({ id: 'rsk_x', secret: 'evlrt_x' }, { tenantId: 't', contactId: uuid(), role: 'client', ttlSeconds: 86_401 })).rejects.toThrow(RangeError);
  });
});
