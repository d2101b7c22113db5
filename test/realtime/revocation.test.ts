import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import { verifyRealtimeToken } from '../../src/domain/realtime-token';
import { call, json, newTenant, uuid } from '../support/api';
import { Socket, appendEntries, connect, openStream, closeSocketsAfterEach } from '../support/sockets';

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const { open } = closeSocketsAfterEach<Socket>();

async function secondKey(tenantId: string): Promise<{ id: string; key: string }> {
  const res = await call('POST', `/api/v1/admin/tenants/${tenantId}/keys`, { headers: admin, body: { name: 'browser tokens' } });
  expect(res.status).toBe(201);
  return json(res);
}

async function mint(key: string, body: Record<string, unknown>): Promise<string> {
  const res = await call('POST', '/api/v1/realtime/tokens', { key, body });
  expect(res.status).toBe(201);
  return (await json<{ token: string }>(res)).token;
}

/** The frames of a refused upgrade (the Worker accepts it, sends `error`, closes). */
async function refusal(res: Response): Promise<{ code: number; frames: { type: string; problem?: { detail: string } }[] }> {
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: { type: string; problem?: { detail: string } }[] = [];
  const code = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)));
  ws.accept();
  return { code: await code, frames };
}

describe('a realtime token lives on the API key that minted it', () => {
  it('names its key; once the key is revoked the token opens nothing, and the hub closes its sockets', async () => {
    const t = await newTenant();
    const k = await secondKey(t.id);
    const contact = uuid();
    const agentToken = await mint(k.key, { contact_id: contact, role: 'agent', agent_id: 'a-1', name: 'Ann' });
    const clientToken = await mint(k.key, { contact_id: contact, role: 'client' });
    const verified = await verifyRealtimeToken(env.TOKEN_SIGNING_SECRET, agentToken, Date.now());
    expect(verified).toMatchObject({ ok: true, claims: { apiKeyId: k.id } });

    const agent = await connect(contact, { token: agentToken });
    const client = await connect(contact, { token: clientToken });
    // Sockets of another key, and of the API key itself, are not affected.
    const otherKeyToken = await mint(t.key, { contact_id: contact, role: 'agent', agent_id: 'b-2', name: 'Bob' });
    const other = await connect(contact, { token: otherKeyToken });
    const keyed = await connect(contact, {}, { authorization: `Bearer ${t.key}` });
    open.push(agent, client, other, keyed);

    const revoked = await call('DELETE', `/api/v1/admin/tenants/${t.id}/keys/${k.id}`, { headers: admin });
    expect(revoked.status).toBe(204);

    // Opening: refused at once in this isolate (the revoke route forgets the key here).
    const again = await refusal(await openStream(contact, { token: clientToken }));
    expect(again.code).toBe(4401);
    expect(again.frames).toEqual([expect.objectContaining({ type: 'error', problem: expect.objectContaining({ detail: 'The API key that issued this realtime token was revoked.' }) })]);

    // Open sockets: the hub's alarm (armed when the sockets opened) checks the keys and closes them.
    const presenceBefore = other.of('presence').length;
    expect(await runDurableObjectAlarm(contactHubStub(env, t.id, contact))).toBe(true);
    expect(await agent.closed).toBe(4401);
    expect(await client.closed).toBe(4401);
    expect(agent.of('error').at(-1)).toMatchObject({ close_code: 4401, problem: { status: 401, title: 'API key revoked' } });
    // The revoked agent left presence.
    await other.until((fs) => fs.filter((f) => f.type === 'presence').length > presenceBefore);
    expect(other.of('presence').at(-1)).toEqual({ type: 'presence', agents: [{ agent_id: 'b-2', name: 'Bob' }] });

    await appendEntries(t, contact, [{ title: 'after revocation', visible_to_client: true }]);
    expect((await other.eventsUpTo(1))[0]!.entry.title).toBe('after revocation');
    expect((await keyed.eventsUpTo(1))[0]!.entry.title).toBe('after revocation');
    expect(agent.events()).toHaveLength(0);
    expect(other.closeCode).toBeNull();
    expect(keyed.closeCode).toBeNull();
  });
});

describe('resume point above the last sequence number', () => {
  it('answers ready with the true last number, after 0 and reset, then the whole visible history', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'one' }, { title: 'two' }, { title: 'three' }]);
    const token = await mint(t.key, { contact_id: contact, role: 'agent', agent_id: 'a' });
    const s = await connect(contact, { token, after: 10 });
    open.push(s);
    expect(s.frames[0]).toEqual({ type: 'ready', role: 'agent', agent_id: 'a', last_sequence_number: 3, after: 0, reset: true });
    await s.eventsUpTo(3);
    await s.next('caught_up');
    const [live] = await appendEntries(t, contact, [{ title: 'four' }]);
    const events = await s.eventsUpTo(4);
    expect(events.map((f) => f.sequence_number)).toEqual([1, 2, 3, live!.sequence_number]);
    // A resume point the hub knows is taken as it is, without reset.
    const known = await connect(contact, { token, after: 4 });
    open.push(known);
    expect(known.frames[0]).toEqual({ type: 'ready', role: 'agent', agent_id: 'a', last_sequence_number: 4, after: 4 });
  });
});
