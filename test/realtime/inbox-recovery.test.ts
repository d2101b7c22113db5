import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { agentInboxStub } from '../../src/inbox';
import type { AgentInbox } from '../../src/inbox/inbox';
import { call, json, newTenant, uuid, type Tenant } from '../support/api';
import { Socket, appendEntries, closeSocketsAfterEach } from '../support/sockets';
import { connectInbox, openInbox, seqsOf, subscribeAll, type InboxFrame, type InboxSocket } from '../support/inbox';

const { open, track } = closeSocketsAfterEach<InboxSocket>();

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const hubPushes = (t: Tenant, contact: string) => runInDurableObject(contactHubStub(env, t.id, contact), (hub: StreamHub) => hub.testHooks.inboxPushes());

/** Appends `n` entries one by one to each contact (so that pushes interleave with whatever the test does meanwhile). */
async function appendSerially(t: Tenant, contacts: string[], n: number, pauseMs = 5): Promise<void> {
  for (let i = 0; i < n; i += 1) {
    await Promise.all(contacts.map((c) => appendEntries(t, c, [{ title: `n${i}` }])));
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

describe('inbox fan-out cost and recovery', () => {
  it('makes no inbox call from a hub nobody watches, one push per commit while watched, none after unwatch', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'a' }]);
    await appendEntries(t, contact, [{ title: 'b' }]);
    expect(await hubPushes(t, contact)).toBe(0);
    // A new instance loads the (empty) watcher set once and still calls nobody.
    await evictDurableObject(contactHubStub(env, t.id, contact));
    await appendEntries(t, contact, [{ title: 'c' }]);
    expect(await hubPushes(t, contact)).toBe(0);

    const inbox = await track(connectInbox(t, 'ann'));
    await subscribeAll(inbox, [{ contact_id: contact }]);
    await appendEntries(t, contact, [{ title: 'd' }]);
    await inbox.eventsUpTo(1);
    const watched = await hubPushes(t, contact);
    expect(watched).toBeGreaterThanOrEqual(1);

    inbox.send({ type: 'unsubscribe', contact_id: contact });
    await inbox.next('unsubscribed');
    // The unwatch RPC follows the unsubscribed frame; wait until the hub has forgotten the inbox.
    await new Promise((r) => setTimeout(r, 200));
    await appendEntries(t, contact, [{ title: 'e' }, { title: 'f' }]);
    await appendEntries(t, contact, [{ title: 'g' }]);
    expect(await hubPushes(t, contact)).toBe(watched);
  });

  it('keeps serving after the inbox is evicted mid-stream with its sockets hibernated: no gap, no duplicate', async () => {
    const t = await newTenant();
    const contacts = [uuid(), uuid(), uuid()];
    await Promise.all(contacts.map((c) => appendEntries(t, c, [{ title: 'first' }])));
    const inbox = await track(connectInbox(t, 'ann'));
    await subscribeAll(inbox, contacts.map((contact_id) => ({ contact_id, after: 0 })));
    const stub = agentInboxStub(env, t.id, 'ann');
    await runInDurableObject(stub, (i: AgentInbox) => (i.testHooks.pushes = -1000));
    const appending = appendSerially(t, contacts, 10);
    await new Promise((r) => setTimeout(r, 30));
    await evictDurableObject(stub, { webSockets: 'hibernate' });
    await appending;
    await inbox.eventsUpTo(3 * 11, 10_000);
    await inbox.settle(200);
    // A new instance took over (the hooks of the old one are gone) and delivered the rest.
    expect(await runInDurableObject(stub, (i: AgentInbox) => i.testHooks.pushes)).toBeGreaterThanOrEqual(0);
    for (const c of contacts) expect(seqsOf(inbox, c)).toEqual(range(1, 11));
  });

  it('loses and doubles nothing when the inbox is evicted with its sockets closed and the client resumes per contact', async () => {
    const t = await newTenant();
    const contacts = [uuid(), uuid()];
    await Promise.all(contacts.map((c) => appendEntries(t, c, [{ title: 'first' }])));
    const first = await track(connectInbox(t, 'ann'));
    await subscribeAll(first, contacts.map((contact_id) => ({ contact_id, after: 0 })));
    const appending = appendSerially(t, contacts, 10);
    await new Promise((r) => setTimeout(r, 30));
    await evictDurableObject(agentInboxStub(env, t.id, 'ann'), { webSockets: 'close' });
    await first.closed;
    // What the client had, per contact, is where it resumes.
    const had = new Map(contacts.map((c) => [c, seqsOf(first, c)]));
    const second = await track(connectInbox(t, 'ann'));
    await subscribeAll(second, contacts.map((contact_id) => ({ contact_id, after: had.get(contact_id)!.at(-1) ?? 0 })));
    await appending;
    await second.until(() => contacts.every((c) => [...had.get(c)!, ...seqsOf(second, c)].length >= 11), 10_000, 'all 11 per contact');
    await second.settle(200);
    for (const c of contacts) expect([...had.get(c)!, ...seqsOf(second, c)]).toEqual(range(1, 11));
  });

  it('re-syncs from the hub after a failed push (the hub nudges), in order and without a duplicate', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'first' }]);
    const inbox = await track(connectInbox(t, 'ann'));
    await subscribeAll(inbox, [{ contact_id: contact, after: 0 }]);
    const stub = agentInboxStub(env, t.id, 'ann');
    await runInDurableObject(stub, (i: AgentInbox) => (i.testHooks.failPushes = 2));
    // The failed pushes carried entries 2 and 3; nothing else is appended, so only the nudge can bring them.
    await appendEntries(t, contact, [{ title: 'lost 1' }]);
    await appendEntries(t, contact, [{ title: 'lost 2' }]);
    await inbox.eventsUpTo(3, 10_000);
    await appendEntries(t, contact, [{ title: 'after' }]);
    await inbox.eventsUpTo(4);
    await inbox.settle(200);
    expect(seqsOf(inbox, contact)).toEqual([1, 2, 3, 4]);
    expect(await runInDurableObject(stub, (i: AgentInbox) => i.testHooks.resyncs)).toBeGreaterThanOrEqual(1);
  });

  it('keeps its watchers across a hub eviction: the new instance re-syncs the inbox, which drops the overlap', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'first' }]);
    const inbox = await track(connectInbox(t, 'ann'));
    await subscribeAll(inbox, [{ contact_id: contact, after: 0 }]);
    await appendEntries(t, contact, [{ title: 'second' }]);
    await inbox.eventsUpTo(2);
    await evictDurableObject(contactHubStub(env, t.id, contact));
    await appendEntries(t, contact, [{ title: 'third' }]);
    await appendEntries(t, contact, [{ title: 'fourth' }]);
    await inbox.eventsUpTo(4);
    await inbox.settle(200);
    expect(seqsOf(inbox, contact)).toEqual([1, 2, 3, 4]);
    expect(await hubPushes(t, contact)).toBeGreaterThanOrEqual(1);
  });

  it('closes an inbox socket with 4401 when its token expires or its API key is revoked, and unwatches its contacts', async () => {
    const t = await newTenant();
    const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
    const k = await json<{ id: string; key: string }>(await call('POST', `/api/v1/admin/tenants/${t.id}/keys`, { headers: admin, body: { name: 'inbox tokens' } }));
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'x' }]);
    const mintWithExpiry = async (key: string, ttl: number) =>
      json<{ token: string; expires_at: string }>(await call('POST', '/api/v1/realtime/tokens', { key, body: { role: 'agent', agent_id: 'ann', scope: 'inbox', ttl_seconds: ttl } }));
    const mint = async (key: string, ttl: number) => (await mintWithExpiry(key, ttl)).token;
    const connectWith = async (token: string) => {
      const res = await openInbox({ token });
      res.webSocket!.accept();
      const s = new Socket<InboxFrame>(res.webSocket!);
      open.push(s);
      await s.next('ready');
      return s;
    };
    // The short token lives 3 s and subscribes first, so a slow machine's setup of the other two sockets
    // cannot outlast it; the wait below runs to the token's own expires_at, not for a fixed sleep.
    const shortToken = await mintWithExpiry(t.key, 3);
    const short = await connectWith(shortToken.token);
    await subscribeAll(short, [{ contact_id: contact }]);
    const revoked = await connectWith(await mint(k.key, 3600));
    const kept = await connectWith(await mint(t.key, 3600));
    for (const s of [revoked, kept]) await subscribeAll(s, [{ contact_id: contact }]);
    expect(await call('DELETE', `/api/v1/admin/tenants/${t.id}/keys/${k.id}`, { headers: admin })).toHaveProperty('status', 204);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(shortToken.expires_at) + 100 - Date.now())));
    const stub = agentInboxStub(env, t.id, 'ann');
    await runDurableObjectAlarm(stub);
    expect(await short.closed).toBe(4401);
    expect(short.of('error').at(-1)?.problem.title).toBe('Token expired');
    expect(await revoked.closed).toBe(4401);
    expect(revoked.of('error').at(-1)?.problem.title).toBe('API key revoked');
    // The one socket left still subscribes, so the hub still pushes to the inbox.
    await appendEntries(t, contact, [{ title: 'y' }]);
    await kept.eventsUpTo(1);
    expect(seqsOf(kept, contact)).toEqual([2]);
    kept.send({ type: 'unsubscribe', contact_id: contact });
    await kept.next('unsubscribed');
    await new Promise((r) => setTimeout(r, 200));
    const before = await hubPushes(t, contact);
    await appendEntries(t, contact, [{ title: 'z' }]);
    expect(await hubPushes(t, contact)).toBe(before);
  });
});
