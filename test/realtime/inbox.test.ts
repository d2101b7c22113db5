import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { agentInboxStub } from '../../src/inbox';
import type { AgentInbox } from '../../src/inbox/inbox';
import { call, eventually, json, newTenant, uuid } from '../support/api';
import { connectInbox, inboxToken, openInbox, seqsOf, subscribeAll, type InboxSocket } from '../support/inbox';
import { expectProblem } from '../support/problem';
import { appendEntries, connectAs, getEntry, issueToken, openStream, closeSocketsAfterEach } from '../support/sockets';

const { open } = closeSocketsAfterEach();
function track<T extends (typeof open)[number]>(s: T): T {
  open.push(s);
  return s;
}

/** A refused upgrade: one `error` frame, then the close code. */
async function refusal(res: Response): Promise<{ code: number; status: number }> {
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: { type: string; problem: { status: number } }[] = [];
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)));
  ws.accept();
  const code = await closed;
  expect(frames).toHaveLength(1);
  return { code, status: frames[0]!.problem.status };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('inbox tokens', () => {
  it('issues an inbox token for an agent, with the inbox stream url', async () => {
    const t = await newTenant();
    const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { role: 'agent', agent_id: 'ann', name: 'Ann', scope: 'inbox' } });
    expect(res.status).toBe(201);
    const body = await json<{ token: string; url: string }>(res);
    expect(body.url).toBe(`ws://eventline.test/api/v1/inbox/stream?token=${body.token}`);
  });

  it('refuses an inbox to a client (403) and names contact_id when scope and contact disagree (422)', async () => {
    const t = await newTenant();
    await expectProblem(await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { role: 'client', scope: 'inbox' } }), 403);
    const both = await expectProblem(await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { role: 'agent', agent_id: 'a', scope: 'inbox', contact_id: uuid() } }), 422);
    expect(both.errors?.map((e) => e.path)).toEqual(['contact_id']);
    const none = await expectProblem(await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { role: 'agent', agent_id: 'a' } }), 422);
    expect(none.errors?.map((e) => e.path)).toEqual(['contact_id']);
  });

  it('opens the inbox only with an inbox token (4403 with a contact token) and a contact stream only with a contact token', async () => {
    const t = await newTenant();
    const contact = uuid();
    const contactToken = await issueToken(t, { contact_id: contact, role: 'agent', agent_id: 'ann' });
    expect(await refusal(await openInbox({ token: contactToken }))).toEqual({ code: 4403, status: 403 });
    const clientToken = await issueToken(t, { contact_id: contact, role: 'client' });
    expect(await refusal(await openInbox({ token: clientToken }))).toEqual({ code: 4403, status: 403 });
    expect(await refusal(await openStream(contact, { token: await inboxToken(t, 'ann') }))).toEqual({ code: 4403, status: 403 });
    expect(await refusal(await openInbox())).toEqual({ code: 4401, status: 401 });
    // The API key opens it server side, for the agent it names.
    expect(await refusal(await openInbox({}, { authorization: `Bearer ${t.key}` }))).toEqual({ code: 4422, status: 422 });
    const byKey = track(await connectInbox(t, 'ann', { key: true }));
    expect(byKey.frames[0]).toEqual({ type: 'ready', role: 'agent', agent_id: 'ann', max_contacts: 500 });
  });
});

describe('inbox stream', () => {
  it('carries 30 contacts on one socket: catch-up, then live, per contact in order, agent-visible only, no duplicate', async () => {
    const t = await newTenant();
    const contacts = Array.from({ length: 30 }, () => uuid());
    // Three entries each; the second is hidden from agents.
    await Promise.all(contacts.map((c) => appendEntries(t, c, [{ title: 'a' }, { title: 'hidden', visible_to_agent: false, visible_to_client: true }, { title: 'c' }])));
    const inbox = track(await connectInbox(t, 'ann', { name: 'Ann' }));
    await subscribeAll(inbox, contacts.map((contact_id) => ({ contact_id, after: 0 })));
    for (const c of contacts) {
      expect(inbox.of('subscribed').find((f) => f.contact_id === c)).toEqual({ type: 'subscribed', contact_id: c, last_sequence_number: 3, after: 0, unread: 2 });
      expect(seqsOf(inbox, c)).toEqual([1, 3]);
    }
    // Live: entries land across all contacts while others are appended concurrently.
    await Promise.all(contacts.map((c, i) => appendEntries(t, c, [{ title: `live${i}` }, { title: 'hidden', visible_to_agent: false, visible_to_client: true }, { title: `live${i}b` }])));
    await inbox.eventsUpTo(30 * 4);
    await inbox.settle(200);
    for (const c of contacts) expect(seqsOf(inbox, c)).toEqual([1, 3, 4, 6]);
    for (const f of inbox.events()) {
      expect(f.entry.contact_id).toBe(f.contact_id);
      expect(f.entry.sequence_number).toBe(f.sequence_number);
      expect(f.entry.visible_to_agent).toBe(true);
    }
    // Each live frame came after its contact's caught_up.
    for (const c of contacts) {
      const caughtUp = inbox.frames.findIndex((f) => f.type === 'caught_up' && f.contact_id === c);
      const live = inbox.frames.findIndex((f) => f.type === 'event' && f.contact_id === c && f.sequence_number === 4);
      expect(live).toBeGreaterThan(caughtUp);
    }
  });

  it('loses and doubles nothing when appends race a catch-up of many chunks', async () => {
    const t = await newTenant();
    const [big, small] = [uuid(), uuid()];
    // 1,200 entries, of which agents see 960, with appends landing during their catch-up.
    for (let i = 0; i < 1200; i += 400) await appendEntries(t, big, Array.from({ length: 400 }, (_, j) => ({ title: `h${i + j}`, visible_to_agent: (i + j) % 5 !== 0, visible_to_client: true })));
    await appendEntries(t, small, [{ title: 's' }]);
    const inbox = track(await connectInbox(t, 'ann'));
    // Chunks of 50: the catch-up of ~960 entries takes about 20 hub calls, with room for pushes between them.
    await runInDurableObject(agentInboxStub(env, t.id, 'ann'), (i: AgentInbox) => (i.testHooks.catchUpChunk = 50));
    inbox.send({ type: 'subscribe', contact_id: big, after: 0 });
    inbox.send({ type: 'subscribe', contact_id: small, after: 0 });
    await inbox.next('subscribed');
    const racing = (async () => {
      for (let i = 0; i < 20; i += 1) await appendEntries(t, i % 2 ? big : small, [{ title: `live${i}` }]);
    })();
    // Subscribed and unsubscribed at once: nothing of it may follow the `unsubscribed` frame.
    const gone = uuid();
    await appendEntries(t, gone, [{ title: 'g' }]);
    inbox.send({ type: 'subscribe', contact_id: gone, after: 0 });
    inbox.send({ type: 'unsubscribe', contact_id: gone });
    await racing;
    await appendEntries(t, gone, [{ title: 'g2' }]);
    const visible = range(1, 1200).filter((n) => (n - 1) % 5 !== 0);
    await inbox.until(() => seqsOf(inbox, big).length >= visible.length + 10 && seqsOf(inbox, small).length >= 11, 20_000, 'every entry');
    await inbox.settle(300);
    expect(seqsOf(inbox, big)).toEqual([...visible, ...range(1201, 1210)]);
    expect(seqsOf(inbox, small)).toEqual(range(1, 11));
    const after = inbox.frames.findIndex((f) => f.type === 'unsubscribed' && f.contact_id === gone);
    expect(after).toBeGreaterThan(-1);
    expect(inbox.frames.slice(after).filter((f) => 'contact_id' in f && f.contact_id === gone && f.type !== 'unsubscribed')).toEqual([]);
    // The pushes that landed during the catch-up waited for it: none had to be repaired by a re-sync.
    expect(await runInDurableObject(agentInboxStub(env, t.id, 'ann'), (i: AgentInbox) => i.testHooks.resyncs)).toBe(0);
  });

  it('stops a contact\'s frames on unsubscribe, and keeps the others', async () => {
    const t = await newTenant();
    const [a, b] = [uuid(), uuid()];
    await appendEntries(t, a, [{ title: 'a1' }]);
    await appendEntries(t, b, [{ title: 'b1' }]);
    const inbox = track(await connectInbox(t, 'ann'));
    await subscribeAll(inbox, [{ contact_id: a }, { contact_id: b }]);
    inbox.send({ type: 'unsubscribe', contact_id: a });
    expect(await inbox.next('unsubscribed')).toEqual({ type: 'unsubscribed', contact_id: a });
    await appendEntries(t, a, [{ title: 'a2' }]);
    await appendEntries(t, b, [{ title: 'b2' }]);
    await inbox.eventsUpTo(1);
    await inbox.settle(200);
    expect(inbox.events().map((f) => [f.contact_id, f.sequence_number])).toEqual([[b, 2]]);
    // A frame about a contact the socket does not subscribe to is refused, naming it.
    inbox.send({ type: 'typing', contact_id: a });
    expect(await inbox.next('error')).toMatchObject({ contact_id: a, problem: { status: 409, errors: [{ path: 'contact_id' }] } });
  });

  it('keeps pushing a contact to the agent\'s other socket when one unsubscribes, even while the other is still subscribing', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'a' }]);
    const [one, two] = [track(await connectInbox(t, 'ann')), track(await connectInbox(t, 'ann'))];
    await subscribeAll(one, [{ contact_id: contact }]);
    two.send({ type: 'subscribe', contact_id: contact });
    one.send({ type: 'unsubscribe', contact_id: contact });
    await one.next('unsubscribed');
    await two.next('caught_up');
    await new Promise((r) => setTimeout(r, 100));
    await appendEntries(t, contact, [{ title: 'b' }]);
    await two.eventsUpTo(1);
    expect(seqsOf(two, contact)).toEqual([2]);
    expect(one.events()).toEqual([]);
  });

  it('resumes each contact from its own after, then live', async () => {
    const t = await newTenant();
    const contacts = [uuid(), uuid(), uuid()];
    await Promise.all(contacts.map((c) => appendEntries(t, c, Array.from({ length: 10 }, (_, i) => ({ title: `e${i}` })))));
    const inbox = track(await connectInbox(t, 'ann'));
    await subscribeAll(inbox, [
      { contact_id: contacts[0]!, after: 0 },
      { contact_id: contacts[1]!, after: 7 },
      { contact_id: contacts[2]! },
    ]);
    expect(seqsOf(inbox, contacts[0]!)).toEqual(range(1, 10));
    expect(seqsOf(inbox, contacts[1]!)).toEqual([8, 9, 10]);
    expect(seqsOf(inbox, contacts[2]!)).toEqual([]);
    expect(inbox.of('caught_up').map((f) => f.last_sequence_number)).toEqual([10, 10, 10]);
    await Promise.all(contacts.map((c) => appendEntries(t, c, [{ title: 'live' }])));
    await inbox.eventsUpTo(10 + 3 + 3);
    expect(seqsOf(inbox, contacts[0]!)).toEqual(range(1, 11));
    expect(seqsOf(inbox, contacts[1]!)).toEqual([8, 9, 10, 11]);
    expect(seqsOf(inbox, contacts[2]!)).toEqual([11]);
    // A resume point beyond the history: from the beginning, and the client is told to reset.
    const again = track(await connectInbox(t, 'bob'));
    await subscribeAll(again, [{ contact_id: contacts[0]!, after: 99 }]);
    expect(again.of('subscribed')[0]).toMatchObject({ after: 0, reset: true, last_sequence_number: 11 });
    expect(seqsOf(again, contacts[0]!)).toEqual(range(1, 11));
  });

  it('sends unread counts as entries arrive and are read, and read frames to every agent', async () => {
    const t = await newTenant();
    const contact = uuid();
    const [first] = await appendEntries(t, contact, [{ title: 'one' }, { title: 'client only', visible_to_agent: false, visible_to_client: true }]);
    const inbox = track(await connectInbox(t, 'ann'));
    const streamAgent = track(await connectAs(t, contact, { role: 'agent', agent_id: 'bob' }));
    await subscribeAll(inbox, [{ contact_id: contact }]);
    expect(inbox.of('subscribed')[0]!.unread).toBe(1);
    const [second] = await appendEntries(t, contact, [{ title: 'two' }]);
    await inbox.until((fs) => fs.some((f) => f.type === 'unread' && f.unread === 2), 5000, 'unread 2');
    // An entry agents cannot see changes nothing.
    await appendEntries(t, contact, [{ title: 'client only', visible_to_agent: false, visible_to_client: true }]);
    inbox.send({ type: 'read', contact_id: contact, id: first!.id });
    expect(await inbox.next('read')).toMatchObject({ type: 'read', contact_id: contact, id: first!.id });
    await inbox.until((fs) => fs.some((f) => f.type === 'unread' && f.unread === 1), 5000, 'unread 1');
    expect(await streamAgent.next('read')).toMatchObject({ id: first!.id });
    expect((await getEntry(t, contact, first!.id))?.read).toBe(true);
    inbox.send({ type: 'read', contact_id: contact, id: second!.id });
    await inbox.until((fs) => fs.some((f) => f.type === 'unread' && f.unread === 0), 5000, 'unread 0');
    expect(inbox.of('unread').map((f) => f.unread)).toEqual([2, 1, 0]);
    // An entry agents cannot see is reported like a missing one.
    const [hidden] = await appendEntries(t, contact, [{ title: 'hidden', visible_to_agent: false, visible_to_client: true }]);
    inbox.send({ type: 'read', contact_id: contact, id: hidden!.id });
    expect(await inbox.next('error')).toMatchObject({ contact_id: contact, problem: { status: 404 } });
  });

  it('marks the agent-visible realtime entries delivered on ack, never one agents cannot see', async () => {
    const t = await newTenant();
    const contact = uuid();
    const [first] = await appendEntries(t, contact, [{ title: 'rt', is_realtime: true }]);
    const inbox = track(await connectInbox(t, 'ann'));
    await subscribeAll(inbox, [{ contact_id: contact, after: 0 }]);
    const [later] = await appendEntries(t, contact, [{ title: 'rt2', is_realtime: true }]);
    await inbox.eventsUpTo(2);
    // An ack beyond the socket's place vouches only for what it was sent.
    inbox.send({ type: 'ack', contact_id: contact, sequence_number: 99 });
    await eventually(async () => (await getEntry(t, contact, later!.id))?.delivered);
    expect((await getEntry(t, contact, first!.id))?.delivered).toBe(true);
    const [unseen] = await appendEntries(t, contact, [{ title: 'rt3', is_realtime: true, visible_to_agent: false, visible_to_client: true }]);
    inbox.send({ type: 'ack', contact_id: contact, sequence_number: unseen!.sequence_number });
    await inbox.settle(200);
    expect((await getEntry(t, contact, unseen!.id))?.delivered).toBe(false);
  });

  it('shows nothing of another tenant\'s contact: an error frame, and none of its entries', async () => {
    const [mine, theirs] = [await newTenant(), await newTenant()];
    const contact = uuid();
    await appendEntries(theirs, contact, [{ title: 'secret' }]);
    const inbox = track(await connectInbox(mine, 'ann'));
    inbox.send({ type: 'subscribe', contact_id: contact, after: 0 });
    expect(await inbox.next('error')).toMatchObject({ contact_id: contact, problem: { status: 404, errors: [{ path: 'contact_id' }] } });
    await appendEntries(theirs, contact, [{ title: 'secret 2' }]);
    await inbox.settle(200);
    expect(inbox.frames.map((f) => f.type)).toEqual(['ready', 'error']);
  });

  it('counts inbox agents in a contact\'s presence, and tells the inbox who else is there', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'x' }]);
    const client = track(await connectAs(t, contact, { role: 'client' }));
    const inbox = track(await connectInbox(t, 'ann', { name: 'Ann' }));
    await subscribeAll(inbox, [{ contact_id: contact }]);
    expect(await client.next('presence', 2)).toEqual({ type: 'presence', agents: [{ agent_id: 'ann', name: 'Ann' }] });
    const bob = track(await connectAs(t, contact, { role: 'agent', agent_id: 'bob', name: 'Bob' }));
    expect(bob.of('presence')[0]!.agents.map((a) => a.agent_id)).toEqual(['ann', 'bob']);
    await inbox.until((fs) => fs.some((f) => f.type === 'presence' && f.agents.length === 2), 5000, 'presence with bob');
    // Typing crosses both ways.
    inbox.send({ type: 'typing', contact_id: contact });
    expect(await client.next('typing')).toMatchObject({ agent_id: 'ann', role: 'agent' });
    client.send({ type: 'typing' });
    expect(await inbox.next('typing')).toMatchObject({ contact_id: contact, role: 'client' });
    inbox.send({ type: 'unsubscribe', contact_id: contact });
    await client.until(() => client.of('presence').at(-1)?.agents.map((a) => a.agent_id).join() === 'bob', 5000, 'ann gone');
  });

  it('answers a frame it cannot read with an error frame and stays open; an oversized frame closes it with 4413', async () => {
    const t = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'x' }]);
    const inbox = track(await connectInbox(t, 'ann'));
    inbox.send('not json');
    expect((await inbox.next('error')).problem).toMatchObject({ status: 400 });
    await subscribeAll(inbox, [{ contact_id: contact }]);
    // 64 KiB + 1 byte.
    inbox.send(JSON.stringify({ type: 'typing', contact_id: contact, pad: 'x'.repeat(64 * 1024) }));
    const tooBig = await inbox.next('error', inbox.frames.length - 1);
    expect(tooBig).toMatchObject({ close_code: 4413, problem: { status: 413, title: 'Frame too large' } });
    expect(await inbox.closed).toBe(4413);
  });

  it('refuses the 501st contact on one socket with an error naming the limit', async () => {
    const t = await newTenant();
    const contacts = Array.from({ length: 501 }, () => uuid());
    for (let i = 0; i < contacts.length; i += 50) await Promise.all(contacts.slice(i, i + 50).map((c) => appendEntries(t, c, [{ title: 'x' }])));
    const inbox = track(await connectInbox(t, 'ann'));
    await subscribeAll(inbox, contacts.slice(0, 500).map((contact_id) => ({ contact_id })), 60_000);
    inbox.send({ type: 'subscribe', contact_id: contacts[500] });
    const err = await inbox.next('error');
    expect(err).toMatchObject({ contact_id: contacts[500], problem: { status: 422, errors: [{ path: 'contact_id' }] } });
    expect(err.problem.detail).toContain('500');
  }, 90_000);

  it('ends the subscriptions to an erased contact with an error frame, and sends nothing of it again', async () => {
    const t = await newTenant();
    const [erased, kept] = [uuid(), uuid()];
    await appendEntries(t, erased, [{ title: 'personal' }]);
    await appendEntries(t, kept, [{ title: 'k' }]);
    const inbox = track(await connectInbox(t, 'ann'));
    await subscribeAll(inbox, [{ contact_id: erased }, { contact_id: kept }]);
    expect((await call('DELETE', `/api/v1/contacts/${erased}`, { key: t.key })).status).toBeLessThan(300);
    expect(await inbox.next('error')).toMatchObject({ contact_id: erased, problem: { status: 410 } });
    await appendEntries(t, erased, [{ title: 'after erase' }]);
    await appendEntries(t, kept, [{ title: 'k2' }]);
    await inbox.eventsUpTo(1);
    await inbox.settle(200);
    expect(inbox.events().map((f) => f.contact_id)).toEqual([kept]);
    // The socket no longer subscribes to it: it may subscribe again, from the tombstone on.
    const from = inbox.frames.length;
    inbox.send({ type: 'subscribe', contact_id: erased });
    expect(await inbox.next('subscribed', from)).toMatchObject({ contact_id: erased, last_sequence_number: 2 });
  });

  it('refuses bad frames naming each bad field', async () => {
    const t = await newTenant();
    const inbox: InboxSocket = track(await connectInbox(t, 'ann'));
    inbox.send({ type: 'subscribe', contact_id: 'nope', after: -1, extra: 1 });
    const err = await inbox.next('error');
    expect(err.problem.errors?.map((e) => e.path).sort()).toEqual(['after', 'contact_id', 'extra']);
  });
});

