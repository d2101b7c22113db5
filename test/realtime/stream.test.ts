import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHub, contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { prepareEntry } from '../../src/domain/prepare';
import { call, eventually, json, newTenant, uuid } from '../support/api';
import { Socket, appendEntries, connect, connectAs, getEntry, closeSocketsAfterEach } from '../support/sockets';

const { track } = closeSocketsAfterEach<Socket>();

const seqs = (s: Socket) => s.events().map((f) => f.sequence_number);

describe('realtime stream', () => {
  it('sends ready, then only the entries each role may see; never expired ones nor log events', async () => {
    const t = await newTenant();
    const contact = uuid();
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a-1', name: 'Ann' }));
    const client = await track(connectAs(t, contact, { role: 'client' }));
    expect(agent.frames[0]).toEqual({ type: 'ready', role: 'agent', agent_id: 'a-1', last_sequence_number: 0, after: 0 });
    expect(client.frames[0]).toEqual({ type: 'ready', role: 'client', agent_id: null, last_sequence_number: 0, after: 0 });

    const [both, agentOnly, clientOnly, expired] = await appendEntries(t, contact, [
      { title: 'both', visible_to_client: true, visible_to_agent: true },
      { title: 'agent only', visible_to_client: false, visible_to_agent: true },
      { title: 'client only', visible_to_client: true, visible_to_agent: false },
      { title: 'expired', visible_to_client: true, visible_to_agent: true, expires_at: new Date(Date.now() - 1000).toISOString() },
    ]);
    // A log event without a timeline mapping is never sent; one with a mapping arrives as its derived entry.
    const plain = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'message.sent', source: 'system', contact_id: contact } });
    expect(plain.status).toBe(201);
    const mapped = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'note.added', source: 'manual', contact_id: contact } });
    expect(mapped.status).toBe(201);

    await agent.eventsUpTo(3);
    await client.eventsUpTo(2);
    await agent.settle();
    expect(agent.events().map((f) => f.entry.title)).toEqual(['both', 'agent only', 'Note Added']);
    expect(agent.events().map((f) => f.sequence_number)).toEqual([both!.sequence_number, agentOnly!.sequence_number, 6]);
    expect(client.events().map((f) => f.entry.id)).toEqual([both!.id, clientOnly!.id]);
    for (const f of [...agent.events(), ...client.events()]) {
      expect(f.entry.sequence_number).toBe(f.sequence_number);
      expect(f.entry.id).not.toBe(expired!.id);
    }
  });

  it('resumes with after=N: every visible entry above N in order, then live, with appends landing during the catch-up', async () => {
    const t = await newTenant();
    const contact = uuid();
    // 1,000 entries, every third one hidden from clients.
    await appendEntries(t, contact, Array.from({ length: 1000 }, (_, i) => ({ title: `e${i}`, visible_to_client: i % 3 !== 0 })));
    const stub = contactHubStub(env, t.id, contact);
    const { owner } = contactHub(env, t.id, contact);
    // Small chunks: the catch-up of ~600 entries takes a dozen turns of the hub, with room for appends between.
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.setCatchUpChunk(50));
    const client = await track(connectAs(t, contact, { role: 'client' }, { after: 100 }));
    // Appends queued behind the upgrade: they run between catch-up chunks. Each one reports whether a
    // socket was still catching up when it committed, which proves they really raced the catch-up.
    const during = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runInDurableObject(stub, async (hub: StreamHub) => {
          const catching = hub.testHooks.catchingUp();
          const entry = await prepareEntry(
            { event_type: 'note_added', category: 'note', source: 'agent', title: `live${i}`, visible_to_client: i % 2 === 0 },
            { idempotencyKey: null, correlationId: null, now: Date.now() },
          );
          const out = hub.appendEntries(owner, [entry]);
          return { catching, seq: out.ok ? out.records[0]!.sequence_number : -1 };
        }),
      ),
    );
    expect(during.some((d) => d.catching > 0)).toBe(true);
    const liveVisible = during.filter((_, i) => i % 2 === 0).map((d) => d.seq);
    const expected = [...Array.from({ length: 1000 }, (_, i) => i + 1).filter((s) => s > 100 && (s - 1) % 3 !== 0), ...liveVisible].sort((a, b) => a - b);
    await client.eventsUpTo(expected.length, 10_000);
    // Then a purely live one.
    const [last] = await appendEntries(t, contact, [{ title: 'after', visible_to_client: true }]);
    await client.eventsUpTo(expected.length + 1);
    await client.settle();
    expect(seqs(client)).toEqual([...expected, last!.sequence_number]);
  });

  it('catches up from after=0 and from the live edge; a socket without after gets only new entries', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'old', visible_to_agent: true }]);
    const fromZero = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a' }, { after: 0 }));
    const live = await track(connectAs(t, contact, { role: 'agent', agent_id: 'b' }));
    expect(live.frames[0]).toMatchObject({ type: 'ready', last_sequence_number: 1, after: 1 });
    await appendEntries(t, contact, [{ title: 'new' }]);
    await fromZero.eventsUpTo(2);
    await live.eventsUpTo(1);
    await live.settle();
    expect(seqs(fromZero)).toEqual([1, 2]);
    expect(seqs(live)).toEqual([2]);
  });

  it('marks a realtime entry delivered when a socket that may see it acks it, once', async () => {
    const t = await newTenant();
    const contact = uuid();
    const client = await track(connectAs(t, contact, { role: 'client' }));
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a' }));
    const [agentOnly, forClient, notRealtime] = await appendEntries(t, contact, [
      { title: 'agent only', is_realtime: true, visible_to_client: false },
      { title: 'for client', is_realtime: true, visible_to_client: true },
      { title: 'not realtime', visible_to_client: true },
    ]);
    await client.eventsUpTo(2);
    // The client acks everything up to 3: it cannot deliver what it may not see.
    client.send({ type: 'ack', sequence_number: 3 });
    const delivered = await eventually(async () => {
      const e = await getEntry(t, contact, forClient!.id);
      return e?.delivered ? e : undefined;
    });
    expect(delivered.delivered_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect((await getEntry(t, contact, agentOnly!.id))!.delivered).toBe(false);
    expect((await getEntry(t, contact, notRealtime!.id))!.delivered).toBe(false);

    // A later ack by another audience does not move delivered_at.
    await agent.eventsUpTo(3);
    agent.send({ type: 'ack', sequence_number: 3 });
    const agentDelivered = await eventually(async () => {
      const e = await getEntry(t, contact, agentOnly!.id);
      return e?.delivered ? e : undefined;
    });
    expect(agentDelivered.delivered_at).not.toBeNull();
    expect((await getEntry(t, contact, forClient!.id))!.delivered_at).toBe(delivered.delivered_at);

    // An ack beyond the contact's last sequence number is refused with an error frame, socket kept.
    agent.send({ type: 'ack', sequence_number: 99 });
    const err = await agent.next('error');
    expect(err.problem.errors).toEqual([{ path: 'sequence_number', message: 'must be at most 3' }]);
    expect(err.close_code).toBeUndefined();
  });

  it('gives a new socket the undelivered realtime entries after its catch-up', async () => {
    const t = await newTenant();
    const contact = uuid();
    const [pending, , delivered, hidden] = await appendEntries(t, contact, [
      { title: 'pending', is_realtime: true, visible_to_client: true },
      { title: 'plain', visible_to_client: true },
      { title: 'delivered', is_realtime: true, visible_to_client: true },
      { title: 'agent only pending', is_realtime: true, visible_to_client: false },
      { title: 'recent', visible_to_client: true },
    ]);
    const { stub, owner } = contactHub(env, t.id, contact);
    await stub.markDelivered(owner, delivered!.id);
    const client = await track(connectAs(t, contact, { role: 'client' }, { after: 4 }));
    await client.eventsUpTo(2);
    await client.settle();
    // Catch-up (5), then the pending realtime entry the socket's role may see, flagged as a redelivery.
    expect(client.events().map((f) => [f.sequence_number, f.redelivery ?? false])).toEqual([
      [5, false],
      [pending!.sequence_number, true],
    ]);
    expect(client.events().some((f) => f.entry.id === hidden!.id)).toBe(false);
    // Acking the redelivered entry delivers it.
    client.send({ type: 'ack', sequence_number: 5 });
    await eventually(async () => (await getEntry(t, contact, pending!.id))?.delivered);
  });

  it('sets read on a read frame and broadcasts it to agents only; refuses entries the role cannot see', async () => {
    const t = await newTenant();
    const contact = uuid();
    const client = await track(connectAs(t, contact, { role: 'client' }));
    const agent1 = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a1' }));
    const agent2 = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a2' }));
    const [shown, hidden] = await appendEntries(t, contact, [
      { title: 'shown', visible_to_client: true },
      { title: 'hidden', visible_to_client: false },
    ]);
    await client.eventsUpTo(1);
    client.send({ type: 'read', id: shown!.id });
    const r1 = await agent1.next('read');
    const r2 = await agent2.next('read');
    expect(r1).toEqual({ type: 'read', id: shown!.id, read_at: expect.stringMatching(/^\d{4}-/) });
    expect(r2).toEqual(r1);
    const stored = await getEntry(t, contact, shown!.id);
    expect(stored).toMatchObject({ read: true, read_at: r1.read_at });

    // Reading again changes nothing and broadcasts nothing.
    agent1.send({ type: 'read', id: shown!.id });
    client.send({ type: 'read', id: hidden!.id });
    const err = await client.next('error');
    expect(err.problem).toMatchObject({ status: 404, errors: [{ path: 'id', message: 'is not an entry you can see' }] });
    expect((await getEntry(t, contact, hidden!.id))!.read).toBe(false);
    await agent1.settle();
    expect(agent1.of('read')).toHaveLength(1);
    expect(client.of('read')).toHaveLength(0);
    expect((await getEntry(t, contact, shown!.id))!.read_at).toBe(r1.read_at);
  });

  it('tracks agent presence as agents join and leave, one entry per agent however many tabs', async () => {
    const t = await newTenant();
    const contact = uuid();
    const client = await track(connectAs(t, contact, { role: 'client' }));
    expect(client.frames[1]).toEqual({ type: 'presence', agents: [] });
    const ann1 = await track(connectAs(t, contact, { role: 'agent', agent_id: 'ann', name: 'Ann' }));
    await client.until((fs) => fs.filter((f) => f.type === 'presence').length === 2);
    expect(client.of('presence')[1]).toEqual({ type: 'presence', agents: [{ agent_id: 'ann', name: 'Ann' }] });
    const bob = await track(connectAs(t, contact, { role: 'agent', agent_id: 'bob', name: 'Bob' }));
    await client.until((fs) => fs.filter((f) => f.type === 'presence').length === 3);
    const both = { type: 'presence', agents: [{ agent_id: 'ann', name: 'Ann' }, { agent_id: 'bob', name: 'Bob' }] };
    expect(client.of('presence')[2]).toEqual(both);
    expect(bob.of('presence')[0]).toEqual(both);
    // A second tab of Ann: she is already present, nobody is told.
    const ann2 = await track(connectAs(t, contact, { role: 'agent', agent_id: 'ann', name: 'Ann' }));
    expect(ann2.of('presence')[0]).toEqual(both);
    ann1.close();
    await ann1.closed;
    await client.settle(150);
    expect(client.of('presence')).toHaveLength(3);
    // Ann's last tab goes: everyone left is told.
    ann2.close();
    await client.until((fs) => fs.filter((f) => f.type === 'presence').length === 4);
    expect(client.of('presence')[3]).toEqual({ type: 'presence', agents: [{ agent_id: 'bob', name: 'Bob' }] });
    await bob.until((fs) => fs.filter((f) => f.type === 'presence').length === 2);
    expect(bob.of('presence')[1]).toEqual(client.of('presence')[3]);
  });

  it('relays typing to the others, throttled, and answers ping', async () => {
    const t = await newTenant();
    const contact = uuid();
    const client = await track(connectAs(t, contact, { role: 'client' }));
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'ann', name: 'Ann' }));
    agent.send({ type: 'typing' });
    agent.send({ type: 'typing' });
    expect(await client.next('typing')).toEqual({ type: 'typing', agent_id: 'ann', name: 'Ann', role: 'agent' });
    client.send({ type: 'typing' });
    expect(await agent.next('typing')).toEqual({ type: 'typing', agent_id: null, name: null, role: 'client' });
    client.send('{"type":"ping"}');
    client.send({ type: 'ping' });
    agent.send(' { "type" : "ping" } ');
    await client.until((fs) => fs.filter((f) => f.type === 'pong').length === 2);
    await agent.next('pong');
    await client.settle();
    expect(client.of('typing')).toHaveLength(1);
    expect(agent.of('typing')).toHaveLength(1);
  });

  it('answers malformed frames with an error frame and keeps serving; refuses frames over 64 KiB', async () => {
    const t = await newTenant();
    const contact = uuid();
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a' }));
    const other = await track(connectAs(t, contact, { role: 'agent', agent_id: 'b' }));
    const bad: [unknown, unknown][] = [
      ['not json', { detail: expect.stringContaining('not valid JSON') }],
      ['[1,2]', { detail: 'A frame is a JSON object with a "type".' }],
      [{ type: 'subscribe' }, { errors: [{ path: 'type', message: 'must be one of ack, read, typing, ping' }] }],
      [{ type: 'ack' }, { errors: [{ path: 'sequence_number', message: 'is required' }] }],
      [{ type: 'ack', sequence_number: '3' }, { errors: [{ path: 'sequence_number', message: 'must be a non-negative integer' }] }],
      [{ type: 'ack', sequence_number: -1 }, { errors: [{ path: 'sequence_number', message: 'must be a non-negative integer' }] }],
      [{ type: 'read', id: 'x' }, { errors: [{ path: 'id', message: 'must be a UUID' }] }],
      [{ type: 'typing', extra: 1 }, { errors: [{ path: 'extra', message: 'is not a known field' }] }],
      [new Uint8Array([1, 2, 3]).buffer, { detail: 'Frames are JSON text; binary frames are not accepted.' }],
    ];
    for (const [frame, expected] of bad) {
      const before = agent.frames.length;
      agent.send(frame);
      const err = await agent.next('error', before);
      expect(err.problem).toMatchObject({ type: 'https://eventline.dev/problems/invalid-frame', status: 400, ...(expected as object) });
      expect(err.close_code).toBeUndefined();
    }
    // Still served: a live entry arrives and ping is answered.
    await appendEntries(t, contact, [{ title: 'still here' }]);
    await agent.eventsUpTo(1);
    agent.send({ type: 'ping' });
    await agent.next('pong');

    // 64 KiB + 1 byte: error frame, then closed with 4413. The other socket is unaffected.
    agent.send(JSON.stringify({ type: 'typing', pad: 'x'.repeat(64 * 1024) }));
    const tooBig = await agent.next('error', agent.frames.length - 1);
    expect(tooBig).toMatchObject({ close_code: 4413, problem: { status: 413, title: 'Frame too large' } });
    expect(await agent.closed).toBe(4413);
    await appendEntries(t, contact, [{ title: 'for the other' }]);
    await other.eventsUpTo(2);
    expect(seqs(other)).toEqual([1, 2]);
  });

  it('tells every socket about deleted entries', async () => {
    const t = await newTenant();
    const contact = uuid();
    const client = await track(connectAs(t, contact, { role: 'client' }));
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a' }));
    const [entry] = await appendEntries(t, contact, [{ visible_to_client: true }]);
    const { stub, owner } = contactHub(env, t.id, contact);
    expect(await stub.deleteEntry(owner, entry!.id)).toBe(true);
    expect(await client.next('deleted')).toEqual({ type: 'deleted', id: entry!.id });
    expect(await agent.next('deleted')).toEqual({ type: 'deleted', id: entry!.id });
  });

  it('tells the sockets when purging removes expired entries', async () => {
    const t = await newTenant();
    const contact = uuid();
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'a' }));
    const expiresAt = Date.now() + 1000;
    const [entry] = await appendEntries(t, contact, [{ title: 'short-lived', expires_at: new Date(expiresAt).toISOString() }]);
    await agent.eventsUpTo(1);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
    const { stub, owner } = contactHub(env, t.id, contact);
    expect(await stub.purgeExpired(owner, Date.now())).toBe(1);
    expect(await agent.next('deleted')).toEqual({ type: 'deleted', id: entry!.id });
  });

  it('closes a socket whose token expired (4401) on its next frame or the next fan-out, before anything else', async () => {
    const t = await newTenant();
    const contact = uuid();
    const token = async (who: Record<string, unknown>, ttl: number) => {
      const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { contact_id: contact, ttl_seconds: ttl, ...who } });
      expect(res.status).toBe(201);
      return json<{ token: string; expires_at: string }>(res);
    };
    // 3 s: the hub's own expiry alarm must not close them before the test takes it away below (on a
    // loaded machine, the tokens and sockets above it can take over a second).
    const short = await token({ role: 'agent', agent_id: 'brief', name: 'Brief' }, 3);
    const idle = await track(connect(contact, { token: short.token }));
    const clientTokens = [await token({ role: 'client' }, 3), await token({ role: 'client' }, 3)];
    const talker = await track(connect(contact, { token: clientTokens[0]!.token }));
    const listener = await track(connect(contact, { token: clientTokens[1]!.token }));
    const stays = await track(connectAs(t, contact, { role: 'agent', agent_id: 'stays' }));
    const keyed = await track(connect(contact, {}, { authorization: `Bearer ${t.key}` }));
    const presenceBefore = stays.of('presence').length;
    // Take the hub's expiry alarm away, so that only the frame and fan-out checks can close them here
    // (the next test covers the alarm).
    const stub = contactHubStub(env, t.id, contact);
    await runInDurableObject(stub, (_hub: StreamHub, state) => state.storage.deleteAlarm());
    const expired = Math.max(...[short, ...clientTokens].map((x) => Date.parse(x.expires_at)));
    await new Promise((r) => setTimeout(r, expired - Date.now() + 100));

    // A frame from an expired socket is not handled: error, then close.
    talker.send({ type: 'typing' });
    expect(await talker.closed).toBe(4401);
    expect(talker.of('error').at(-1)).toMatchObject({ close_code: 4401, problem: { status: 401, title: 'Token expired' } });
    expect(stays.of('typing')).toHaveLength(0);

    // A fan-out first closes the expired sockets: the listener gets no event; the others do.
    const [entry] = await appendEntries(t, contact, [{ title: 'after expiry', visible_to_client: true }]);
    expect(await listener.closed).toBe(4401);
    expect(listener.events()).toHaveLength(0);
    expect((await stays.eventsUpTo(1))[0]!.entry.id).toBe(entry!.id);
    expect((await keyed.eventsUpTo(1))[0]!.entry.id).toBe(entry!.id);

    // The idle agent was closed by the same fan-out check, and left presence.
    expect(await idle.closed).toBe(4401);
    expect(idle.events()).toHaveLength(0);
    await stays.until((fs) => fs.filter((f) => f.type === 'presence').length > presenceBefore);
    expect(stays.of('presence').at(-1)).toEqual({ type: 'presence', agents: [{ agent_id: 'stays', name: null }] });
    // API-key sockets and sockets with a live token stay open.
    expect(stays.closeCode).toBeNull();
    expect(keyed.closeCode).toBeNull();
  });

  it('closes an idle socket when its token expires, from the hub alarm alone', async () => {
    const t = await newTenant();
    const contact = uuid();
    const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { contact_id: contact, role: 'client', ttl_seconds: 2 } });
    const { token, expires_at } = await json<{ token: string; expires_at: string }>(res);
    const idle = await track(connect(contact, { token }));
    // No frame and no append: only the alarm the hub armed at the upgrade can close it.
    const code = await Promise.race([idle.closed, new Promise((r) => setTimeout(() => r('still open'), Date.parse(expires_at) - Date.now() + 3000))]);
    expect(code).toBe(4401);
    expect(idle.of('error').at(-1)).toMatchObject({ close_code: 4401 });
  });

  it('keeps serving its sockets after the hub hibernates and is woken', async () => {
    const t = await newTenant();
    const contact = uuid();
    const agent = await track(connectAs(t, contact, { role: 'agent', agent_id: 'ann', name: 'Ann' }));
    const client = await track(connectAs(t, contact, { role: 'client' }));
    const [first] = await appendEntries(t, contact, [{ title: 'before', is_realtime: true, visible_to_client: true }]);
    await client.eventsUpTo(1);
    const stub = contactHubStub(env, t.id, contact);
    const marker = await runInDurableObject(stub, (hub: StreamHub) => {
      hub.testHooks.mark = 'old instance';
      return hub.testHooks.mark;
    });
    expect(marker).toBe('old instance');
    await evictDurableObject(stub, { webSockets: 'hibernate' });
    // Ping is answered by the runtime even before anything wakes the hub.
    client.send('{"type":"ping"}');
    await client.next('pong');
    // Woken by an append: a new instance, same sockets, same attachments.
    const [second] = await appendEntries(t, contact, [{ title: 'after', is_realtime: true, visible_to_client: true }]);
    expect(await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.mark)).toBeUndefined();
    await client.eventsUpTo(2);
    await agent.eventsUpTo(2);
    expect(seqs(client)).toEqual([first!.sequence_number, second!.sequence_number]);
    // The attachment (role) survived: the client's ack delivers, and presence still knows Ann.
    client.send({ type: 'ack', sequence_number: second!.sequence_number });
    await eventually(async () => (await getEntry(t, contact, second!.id))?.delivered);
    const bob = await track(connectAs(t, contact, { role: 'agent', agent_id: 'bob' }));
    expect(bob.of('presence')[0]).toEqual({ type: 'presence', agents: [{ agent_id: 'ann', name: 'Ann' }, { agent_id: 'bob', name: null }] });
    client.send({ type: 'read', id: first!.id });
    expect(await agent.next('read')).toMatchObject({ id: first!.id });
  });

  it('fans every entry out, in order, to 100 sockets on one contact', async () => {
    const t = await newTenant();
    const contact = uuid();
    const sockets = await track(
      Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          i % 2 === 0 ? connectAs(t, contact, { role: 'agent', agent_id: `agent-${i % 10}` }) : connectAs(t, contact, { role: 'client' }),
        ),
      ),
    );
    // 30 appends racing each other, visible to both roles.
    const appended = (await Promise.all(Array.from({ length: 30 }, (_, i) => appendEntries(t, contact, [{ title: `n${i}`, visible_to_client: true }])))).flat();
    const expected = appended.map((e) => e.sequence_number).sort((a, b) => a - b);
    expect(expected).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    await Promise.all(sockets.map((s) => s.eventsUpTo(30, 10_000)));
    for (const s of sockets) expect(seqs(s)).toEqual(expected);
  });
});

