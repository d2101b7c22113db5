import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { prepareEvent } from '../../src/domain/prepare';
import { appendLog } from '../../src/append/log';
import { sweepRelayOutbox } from '../../src/jobs/relay-sweep';
import { relayMessageId, unpackRelay, type RelayQueueBody } from '../../src/queues/messages';
import { call, eventually, json, newTenant, uuid, type Tenant, shardOf } from '../support/api';
import { Recorder, drainByAlarm, outbox, recordedHub } from '../support/relay';

interface Acked {
  /** Log events whose type derives a timeline entry. */
  deriving: number;
  events: string[];
  entries: string[];
  seqs: number[];
}

/** Mixed appends to one contact: timeline entries, log events without a mapping, and log events that derive an entry. */
async function appendMixed(t: Tenant, contact: string, n: number): Promise<Acked> {
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const kind = i % 3;
      const res =
        kind === 0
          ? await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body: { event_type: 'note_added', category: 'note', source: 'agent', title: `n${i}` } })
          : await call('POST', '/api/v1/events', {
              key: t.key,
              body: { event_type: kind === 1 ? 'message.sent' : 'note.added', source: 'system', contact_id: contact, payload: { i } },
            });
      expect(res.status).toBe(201);
      const body = await json<{ id: string; sequence_number: number }>(res);
      return { kind, id: body.id, seq: body.sequence_number };
    }),
  );
  return {
    deriving: results.filter((r) => r.kind === 2).length,
    events: results.filter((r) => r.kind !== 0).map((r) => r.id),
    entries: results.filter((r) => r.kind === 0).map((r) => r.id),
    seqs: results.map((r) => r.seq),
  };
}

/** Every entry the hub holds for the contact (including the derived ones). */
async function hubEntries(t: Tenant, contact: string): Promise<{ id: string; sequence_number: number; origin_event_id: string | null }[]> {
  const page = await json<{ events: { id: string; sequence_number: number; origin_event_id: string | null }[] }>(
    await call('GET', `/api/v1/contacts/${contact}/events?limit=1000&include_expired=true`, { key: t.key }),
  );
  return page.events;
}

async function d1Ids(table: 'events' | 'contact_events', tenantId: string, contact: string): Promise<string[]> {
  const { results } = await (await shardOf(tenantId)).prepare(`SELECT id FROM ${table} WHERE tenant_id = ? AND contact_id = ?`).bind(tenantId, contact).all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Guarantees 2 and 3: every acknowledged event and entry is in D1 exactly once and went to both queues. */
async function expectDelivered(t: Tenant, contact: string, acked: Acked, rec: Recorder): Promise<void> {
  const entries = await hubEntries(t, contact);
  const derived = entries.filter((e) => e.origin_event_id !== null);
  expect(derived.length).toBe(acked.deriving);
  const allEntries = entries.map((e) => e.id);
  expect(allEntries).toEqual(expect.arrayContaining(acked.entries));

  const events = await d1Ids('events', t.id, contact);
  expect(events.length).toBe(acked.events.length);
  expect(new Set(events)).toEqual(new Set(acked.events));
  const timeline = await d1Ids('contact_events', t.id, contact);
  expect(timeline.length).toBe(allEntries.length);
  expect(new Set(timeline)).toEqual(new Set(allEntries));

  for (const id of [...acked.events, ...allEntries]) {
    expect(rec.counts.webhooks.get(id) ?? 0, `webhooks got ${id}`).toBeGreaterThanOrEqual(1);
    expect(rec.counts.analytics.get(id) ?? 0, `analytics got ${id}`).toBeGreaterThanOrEqual(1);
  }
}

describe('StreamHub ordering', () => {
  it('numbers 200 concurrent mixed appends (timeline entries and log events) to one contact exactly 1..200', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    const acked = await appendMixed(t, contact, 200);
    expect([...acked.seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    // Derived entries share the number of the log event they came from; no two entries share one.
    const entries = await hubEntries(t, contact);
    expect(new Set(entries.map((e) => e.sequence_number)).size).toBe(entries.length);
    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 10_000 });
    await expectDelivered(t, contact, acked, rec);
    const { results } = await (await shardOf(t.id)).prepare('SELECT stream_version AS v FROM events WHERE tenant_id = ? AND contact_id = ? ORDER BY v')
      .bind(t.id, contact)
      .all<{ v: number }>();
    const timelineSeqs = entries.filter((e) => e.origin_event_id === null).map((e) => e.sequence_number);
    expect([...results.map((r) => r.v), ...timelineSeqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });
});

describe('StreamHub relay under faults', () => {
  it('keeps acknowledged appends while D1 fails, then relays each exactly once from the alarm', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    rec.fail.d1 = true;

    const acked = await appendMixed(t, contact, 30);
    await eventually(async () => rec.attempts.d1 > 0);
    expect(await d1Ids('events', t.id, contact)).toEqual([]);
    expect(await d1Ids('contact_events', t.id, contact)).toEqual([]);
    expect((await outbox(stub)).pending).toBeGreaterThan(0);
    // The queues did not wait for D1.
    await eventually(async () => acked.events.every((id) => rec.counts.webhooks.get(id) === 1), { timeoutMs: 10_000 });
    // Still failing: an alarm run retries and keeps the rows.
    await runDurableObjectAlarm(stub);
    expect((await outbox(stub)).pending).toBeGreaterThan(0);

    rec.fail.d1 = false;
    await drainByAlarm(stub);
    await expectDelivered(t, contact, acked, rec);
    // Rows already sent to a queue were not sent again while D1 was retried.
    for (const id of acked.events) expect(rec.counts.analytics.get(id)).toBe(1);
  });

  it('keeps rows whose queue send failed, retries only that queue, and never rewrites D1', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    rec.fail.webhooks = true;

    const acked = await appendMixed(t, contact, 30);
    await eventually(async () => (await d1Ids('events', t.id, contact)).length === acked.events.length);
    expect(rec.attempts.webhooks).toBeGreaterThan(0);
    expect((await outbox(stub)).pending).toBeGreaterThan(0);

    rec.fail.webhooks = false;
    await drainByAlarm(stub);
    await expectDelivered(t, contact, acked, rec);
    for (const [id, n] of rec.counts.d1) expect(n, `D1 writes of ${id}`).toBe(1);
    for (const [id, n] of rec.counts.analytics) expect(n, `analytics sends of ${id}`).toBe(1);
  });

  it('finishes the relay after the hub is evicted between commit and relay', async () => {
    const { t, contact, stub, rec: before } = await recordedHub();
    // As if the instance crashed before relaying: nothing is relayed and nothing runs in the
    // background (eviction waits for running work, which a real crash does not).
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallRelay());

    const acked = await appendMixed(t, contact, 30);
    expect(await d1Ids('events', t.id, contact)).toEqual([]);
    expect((await outbox(stub)).pending).toBeGreaterThan(0);
    expect(before.attempts).toEqual({ d1: 0, webhooks: 0, analytics: 0 });

    await evictDurableObject(stub);
    // A new instance: only the alarm (armed at the first commit) brings the outbox through.
    const rec = new Recorder();
    await rec.install(stub);
    await drainByAlarm(stub);
    await expectDelivered(t, contact, acked, rec);
    for (const [id, n] of rec.counts.d1) expect(n, `D1 writes of ${id}`).toBe(1);
    expect(before.attempts).toEqual({ d1: 0, webhooks: 0, analytics: 0 });
  });
});

describe('Clearing relayed outbox rows', () => {
  const storedRows = (stub: DurableObjectStub<StreamHub>) =>
    runInDurableObject(stub, (_hub: StreamHub, state) => state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n);

  it('never relays a row twice while it waits to be deleted, and deletes it without another write', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    const acked = await appendMixed(t, contact, 20);
    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 10_000 });
    // Relayed, maybe not deleted yet: an alarm run now (the safety alarm, a retry) must not send them again.
    await runDurableObjectAlarm(stub);
    await expectDelivered(t, contact, acked, rec);
    for (const dest of ['d1', 'webhooks', 'analytics'] as const) {
      for (const [id, n] of rec.counts[dest]) expect(n, `${dest} sends of ${id}`).toBe(1);
    }
    // With no further append, the rows are deleted about a second later.
    await eventually(async () => (await storedRows(stub)) === 0, { timeoutMs: 5_000 });
  });

  it('while the hub keeps writing, each write deletes the rows relayed before it; the timer deletes only after a second without a write', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stub = contactHubStub(env, t.id, contact);
    const clears = () => runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.timerClears());
    // An append about every half second, each relayed before the next: the timer, armed at the first
    // relay pass, fires while the last append's rows are relayed and not deleted yet, finds that write
    // less than a second old, and waits again instead of committing a delete of its own.
    for (let i = 0; i < 5; i += 1) {
      await appendMixed(t, contact, 1);
      await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 5_000 });
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await clears()).toBe(0);
    // Then the hub goes quiet: about a second later the timer deletes what the last write left.
    await eventually(async () => (await storedRows(stub)) === 0, { timeoutMs: 5_000 });
    expect(await clears()).toBe(1);
  });

  it('relays again, without a duplicate in D1, what an evicted instance relayed but had not deleted', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    // As if the instance died before its clear timer ran (eviction in tests waits for timers, a crash
    // does not): a timer that never fires.
    await runInDurableObject(stub, (hub: StreamHub) => hub.testHooks.stallClearTimer());
    const acked = await appendMixed(t, contact, 20);
    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 10_000 });
    const waiting = await storedRows(stub);
    expect(waiting).toBeGreaterThan(0);
    await evictDurableObject(stub);
    // The new instance sends the stored rows again (the same Recorder counts both instances).
    await rec.install(stub);
    const sentBefore = rec.attempts.d1;
    await drainByAlarm(stub);
    expect(rec.attempts.d1).toBeGreaterThan(sentBefore);
    // D1 still holds each event and entry once; both queues got everything.
    await expectDelivered(t, contact, acked, rec);
    await eventually(async () => (await storedRows(stub)) === 0, { timeoutMs: 5_000 });
  });
});

describe('GDPR erase racing with appends', () => {
  it('leaves D1 and the hub in agreement: no erased row survives in D1, no survivor is missing there', async () => {
    const t = await newTenant();
    const contact = uuid();
    const stub = contactHubStub(env, t.id, contact);
    await appendMixed(t, contact, 30);
    // Four lanes append one after another for a while; the erase lands in the middle of them.
    const until = Date.now() + 400;
    const lane = async () => {
      while (Date.now() < until) await appendMixed(t, contact, 3);
    };
    const [, , , , erase] = await Promise.all([
      lane(),
      lane(),
      lane(),
      lane(),
      (async () => {
        await new Promise((r) => setTimeout(r, 150));
        return call('DELETE', `/api/v1/contacts/${contact}`, { key: t.key });
      })(),
    ]);
    expect(erase.status).toBe(200);
    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 10_000 });
    const hub = await runInDurableObject(stub, (h: StreamHub) => {
      const owner = { tenantId: t.id, kind: 'contact' as const, id: contact };
      return {
        log: h.readStream(owner, 1, 10_000, 'forward').events.map((e) => `${e.id}@${e.sequence_number}`),
        timeline: h.listTimeline(owner, { limit: 10_000, offset: 0, includeExpired: true }).events.map((e) => `${e.id}@${e.sequence_number}`),
      };
    });
    const { results: events } = await (await shardOf(t.id)).prepare('SELECT id, stream_version AS v FROM events WHERE tenant_id = ? AND contact_id = ?')
      .bind(t.id, contact)
      .all<{ id: string; v: number }>();
    const { results: entries } = await (await shardOf(t.id)).prepare('SELECT id, sequence_number AS v FROM contact_events WHERE tenant_id = ? AND contact_id = ?')
      .bind(t.id, contact)
      .all<{ id: string; v: number }>();
    expect(new Set(events.map((r) => `${r.id}@${r.v}`))).toEqual(new Set(hub.log));
    expect(new Set(entries.map((r) => `${r.id}@${r.v}`))).toEqual(new Set(hub.timeline));
  });
});

describe('Worker-side relay sweep', () => {
  it('sends what a failed queue send left in relay_outbox, then clears it', async () => {
    const t = await newTenant();
    // A subscription the events match: the relay sends the webhooks queue only what one matches.
    const hook = await call('POST', '/api/v1/webhooks', { key: t.key, body: { name: 'h', url: 'http://127.0.0.1:9/hook', events: ['invoice.*'], retry_count: 0 } });
    expect(hook.status).toBe(201);
    const failing = {
      send: () => Promise.reject(new Error('injected: queue down')),
      sendBatch: () => Promise.reject(new Error('injected: queue down')),
    } as unknown as Queue;
    const pending: Promise<unknown>[] = [];
    const prepared = await Promise.all(
      [0, 1, 2].map((i) => prepareEvent({ event_type: 'invoice.paid', source: 'system', payload: { i } }, { idempotencyKey: null, correlationId: null, now: Date.now() })),
    );
    const result = await appendLog({ ...env, WEBHOOKS_QUEUE: failing } as Env, { waitUntil: (p) => pending.push(p) }, t.id, prepared);
    await Promise.all(pending);
    if (!result.ok) throw new Error(result.detail);
    const ids = result.events.map((e) => e.id);
    const outboxRows = async () =>
      (await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM relay_outbox WHERE tenant_id = ?').bind(t.id).first<{ n: number }>())!.n;
    expect(await outboxRows()).toBe(3);

    const sent: Record<'webhooks' | 'analytics', string[]> = { webhooks: [], analytics: [] };
    const recording = (queue: Queue, list: string[]) =>
      ({
        send: (body: RelayQueueBody) => queue.send(body).then(() => void list.push(...unpackRelay(body).map(relayMessageId))),
        sendBatch: async (messages: MessageSendRequest<RelayQueueBody>[]) => {
          await queue.sendBatch(messages);
          list.push(...messages.flatMap((m) => unpackRelay(m.body)).map(relayMessageId));
        },
      }) as unknown as Queue;
    // Rows younger than the sweep's staleness window are left to the append's own relay.
    await sweepRelayOutbox(env, Date.now());
    expect(await outboxRows()).toBe(3);

    await sweepRelayOutbox(
      { ...env, WEBHOOKS_QUEUE: recording(env.WEBHOOKS_QUEUE, sent.webhooks), ANALYTICS_QUEUE: recording(env.ANALYTICS_QUEUE, sent.analytics) } as Env,
      Date.now() + 60_000,
    );
    expect(await outboxRows()).toBe(0);
    expect(sent.webhooks).toEqual(expect.arrayContaining(ids));
    expect(sent.analytics).toEqual(expect.arrayContaining(ids));
    const { results } = await (await shardOf(t.id)).prepare('SELECT id FROM events WHERE tenant_id = ?').bind(t.id).all<{ id: string }>();
    expect(results.map((r) => r.id).sort()).toEqual([...ids].sort());
  });
});
