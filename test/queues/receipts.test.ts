import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { RelayMessage } from '../../src/queues/messages';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';
import { header, hookPath, hookUrl, received, sleep, waitForRequests, type Received } from '../support/receiver';
import { connectAs } from '../support/sockets';
import { deliveriesOf, subscribe, verify } from '../support/webhooks';

// contact_event.read and contact_event.delivered, end to end through the real queues to the receiver on 127.0.0.1.

async function add(t: Tenant, contact: string, over: Record<string, unknown> = {}): Promise<TimelineEntryRecord> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, {
    key: t.key,
    body: { event_type: 'note_added', category: 'note', source: 'agent', is_realtime: true, ...over },
  });
  expect(res.status).toBe(201);
  return json<TimelineEntryRecord>(res);
}

type Body = { type: string; timestamp: string; data: TimelineEntryRecord };
const bodies = (secret: string, reqs: Received[]): Body[] => reqs.map((r) => verify(secret, r) as unknown as Body);
const ofType = (bs: Body[], type: string) => bs.filter((b) => b.type === type);

describe.concurrent('read and delivered webhooks', () => {
  it('sends contact_event.read once per entry, from each way an entry becomes read', async () => {
    const t = await newTenant();
    const path = hookPath('read');
    const sub = await subscribe(t.key, { url: hookUrl(path), subscribe_contact_events: true });
    const contact = uuid();
    const [byRoute, bySocket, r1, r2] = [await add(t, contact), await add(t, contact), await add(t, contact), await add(t, contact)];
    await waitForRequests(path, 4);

    const single = await json<{ read_at: string }>(await call('POST', `/api/v1/contact-events/${byRoute!.id}/mark-read`, { key: t.key }));
    // Replays of every kind: nothing more is sent.
    await call('POST', `/api/v1/contact-events/${byRoute!.id}/mark-read`, { key: t.key });
    const agent = await connectAs(t, contact, { role: 'agent', agent_id: 'a1' });
    try {
      await agent.next('caught_up');
      agent.send({ type: 'read', id: bySocket!.id });
      const readFrame = await agent.next('read');
      agent.send({ type: 'read', id: bySocket!.id });
      const range = await json<{ marked: number; read_at: string }>(await call('POST', `/api/v1/contacts/${contact}/events/mark-read`, { key: t.key }));
      expect(range.marked).toBe(2);
      await call('POST', `/api/v1/contacts/${contact}/events/mark-read`, { key: t.key });

      const got = bodies(sub.secret, await waitForRequests(path, 8));
      const reads = ofType(got, 'contact_event.read');
      expect(reads.map((b) => b.data.id).sort()).toEqual([byRoute!.id, bySocket!.id, r1!.id, r2!.id].sort());
      const byId = new Map(reads.map((b) => [b.data.id, b]));
      expect(byId.get(byRoute!.id)).toMatchObject({ timestamp: single.read_at, data: { read: true, read_at: single.read_at, contact_id: contact, event_type: 'note_added' } });
      expect(byId.get(bySocket!.id)!.data.read_at).toBe(readFrame.read_at);
      for (const e of [r1!, r2!]) expect(byId.get(e.id)).toMatchObject({ timestamp: range.read_at, data: { read: true, read_at: range.read_at, sequence_number: e.sequence_number } });
    } finally {
      agent.close();
    }
    await sleep(2500); // nothing else may arrive
    const all = bodies(sub.secret, await received(path));
    expect(ofType(all, 'contact_event.read')).toHaveLength(4);
    expect(all).toHaveLength(8);
    // Each delivery has its own webhook-id, and none is the entry's own delivery.
    expect(new Set((await received(path)).map((r) => header(r, 'webhook-id'))).size).toBe(8);
    const rows = await deliveriesOf(t.id, sub.id);
    expect(rows.filter((r) => r.event_type === 'contact_event.read')).toHaveLength(4);
  });

  it('sends contact_event.delivered once per entry, from a socket ack and from mark-delivered', async () => {
    const t = await newTenant();
    const path = hookPath('delivered');
    const sub = await subscribe(t.key, { url: hookUrl(path), subscribe_contact_events: true });
    const contact = uuid();
    const [acked, marked] = [await add(t, contact), await add(t, contact)];
    await waitForRequests(path, 2);
    const client = await connectAs(t, contact, { role: 'agent', agent_id: 'a1' });
    try {
      // Realtime entries the socket may see: the ack of the first makes it delivered.
      await client.next('caught_up');
      client.send({ type: 'ack', sequence_number: acked!.sequence_number });
      await eventually(async () => {
        const e = await json<TimelineEntryRecord>(await call('GET', `/api/v1/contact-events/${acked!.id}`, { key: t.key }));
        return e.delivered;
      });
      client.send({ type: 'ack', sequence_number: acked!.sequence_number });
    } finally {
      client.close();
    }
    const res = await json<{ delivered_at: string }>(await call('POST', `/api/v1/contact-events/${marked!.id}/mark-delivered`, { key: t.key }));
    await call('POST', `/api/v1/contact-events/${marked!.id}/mark-delivered`, { key: t.key });
    const got = ofType(bodies(sub.secret, await waitForRequests(path, 4)), 'contact_event.delivered');
    expect(got.map((b) => b.data.id).sort()).toEqual([acked!.id, marked!.id].sort());
    expect(got.find((b) => b.data.id === marked!.id)).toMatchObject({ timestamp: res.delivered_at, data: { delivered: true, delivered_at: res.delivered_at } });
    expect(got.find((b) => b.data.id === acked!.id)!.data.delivered_at).not.toBeNull();
    await sleep(2500);
    expect(await received(path)).toHaveLength(4);
  });

  it('filters receipts by the entry type and category, and sends none to subscriptions without contact events', async () => {
    const t = await newTenant();
    const p = { tags: hookPath('tags'), notes: hookPath('notes'), log: hookPath('log') };
    const tags = await subscribe(t.key, { url: hookUrl(p.tags), subscribe_contact_events: true, contact_event_categories: ['tag'] });
    const notes = await subscribe(t.key, { url: hookUrl(p.notes), subscribe_contact_events: true, contact_event_types: ['note_added'] });
    await subscribe(t.key, { url: hookUrl(p.log), events: ['*'] });
    const contact = uuid();
    const n = await add(t, contact);
    const tag = await add(t, contact, { event_type: 'tag_added', category: 'tag' });
    expect((await json<{ marked: number }>(await call('POST', `/api/v1/contacts/${contact}/events/mark-read`, { key: t.key }))).marked).toBe(2);
    const tagReads = ofType(bodies(tags.secret, await waitForRequests(p.tags, 2)), 'contact_event.read');
    const noteReads = ofType(bodies(notes.secret, await waitForRequests(p.notes, 2)), 'contact_event.read');
    expect(tagReads.map((b) => b.data.id)).toEqual([tag.id]);
    expect(noteReads.map((b) => b.data.id)).toEqual([n.id]);
    await sleep(2500);
    expect(await received(p.tags)).toHaveLength(2);
    expect(await received(p.notes)).toHaveLength(2);
    expect(await received(p.log)).toEqual([]);
  });

  it('a replayed receipt message lands on the same delivery, and after an erase sends nothing', async () => {
    const t = await newTenant();
    const contact = uuid();
    const e = await add(t, contact);
    await call('POST', `/api/v1/contact-events/${e.id}/mark-read`, { key: t.key });
    await call('POST', `/api/v1/contact-events/${e.id}/mark-delivered`, { key: t.key });
    const now = await json<TimelineEntryRecord>(await call('GET', `/api/v1/contact-events/${e.id}`, { key: t.key }));
    // The relay's own receipts went through fan-out while no webhook existed; the subscription exists
    // by the time the same receipts come again (as a delayed or retried queue message would).
    await sleep(1500);
    const path = hookPath('receipt-replay');
    const sub = await subscribe(t.key, { url: hookUrl(path), subscribe_contact_events: true });
    const receipt = (r: 'read' | 'delivered'): RelayMessage => ({ kind: 'contact_event_receipt', tenant_id: t.id, receipt: r, contact_event: now });
    await env.WEBHOOKS_QUEUE.send(receipt('read'));
    await env.WEBHOOKS_QUEUE.send(receipt('read'));
    const [first] = await waitForRequests(path, 1);
    await sleep(1500);
    expect(await received(path)).toHaveLength(1);
    expect(verify(sub.secret, first!)).toMatchObject({ type: 'contact_event.read', data: { id: e.id, read: true } });

    expect((await call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key })).status).toBe(200);
    await env.WEBHOOKS_QUEUE.send(receipt('delivered'));
    await env.WEBHOOKS_QUEUE.send(receipt('read'));
    await sleep(1500);
    expect(await received(path)).toHaveLength(1);
    const rows = await deliveriesOf(t.id, sub.id);
    // The read receipt's delivery (sent, then redacted); the delivered one and the entry's own, recorded
    // as erased by the erase so that their late messages find them.
    expect(rows.map((r) => [r.event_type, r.status]).sort()).toEqual([
      ['contact_event.delivered', 'erased'],
      ['contact_event.note_added', 'erased'],
      ['contact_event.read', 'erased'],
    ]);
  });
});
