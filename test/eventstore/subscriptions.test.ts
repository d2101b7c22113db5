import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, json, newTenant, uuid, shardOf } from '../support/api';
import { expectProblem, fieldPaths } from '../support/problem';

interface Sub {
  name: string;
  kind: string;
  checkpoint: number;
  status: string;
  lag: number;
  event_types: string[];
}
interface Batch {
  checkpoint: number;
  events: { position: number; event_type: string; payload: { i: number } }[];
  next_after: number;
}

async function appendMany(key: string, stream: string, n: number, offset: number, type = 'ledger.posted'): Promise<void> {
  const r = await call('POST', `/api/v1/streams/${stream}/events?wait=position`, {
    key,
    body: { events: Array.from({ length: n }, (_, i) => ({ event_type: type, payload: { i: offset + i } })) },
  });
  expect(r.status).toBe(201);
}

const post = (key: string, path: string, body?: unknown) => call('POST', `/api/v1${path}`, { key, body });

describe('subscriptions', () => {
  it('a consumer catches up across pages while events keep arriving, each event exactly once, in order', async () => {
    const t = await newTenant();
    const stream = `ledger-${uuid()}`;
    await appendMany(t.key, stream, 25, 0);
    const created = await post(t.key, '/subscriptions', { name: 'billing-sync' });
    expect(created.status).toBe(201);
    expect(await json<Sub>(created)).toMatchObject({ name: 'billing-sync', checkpoint: 0, status: 'active', lag: 25, kind: 'external' });

    const seen: number[] = [];
    for (let round = 0; round < 20; round += 1) {
      const batch = await json<Batch>(await call('GET', '/api/v1/subscriptions/billing-sync/events?limit=10', { key: t.key }));
      if (round === 1) await appendMany(t.key, stream, 7, 25); // arrives mid catch-up
      if (batch.events.length === 0) break;
      seen.push(...batch.events.map((e) => e.payload.i));
      const ack = await post(t.key, '/subscriptions/billing-sync/checkpoint', { position: batch.next_after });
      expect(ack.status).toBe(200);
    }
    expect(seen).toEqual(Array.from({ length: 32 }, (_, i) => i));
    const after = await json<Sub>(await call('GET', '/api/v1/subscriptions/billing-sync', { key: t.key }));
    expect(after.lag).toBe(0);

    // A late or repeated commit never moves the checkpoint back.
    const late = await json<Sub>(await post(t.key, '/subscriptions/billing-sync/checkpoint', { position: 1 }));
    expect(late.checkpoint).toBe(after.checkpoint);
    // Nor past the head.
    expect((await post(t.key, '/subscriptions/billing-sync/checkpoint', { position: after.checkpoint + 1_000_000 })).status).toBe(422);
  });

  it('filters by type and advances past events that do not match', async () => {
    const t = await newTenant();
    await appendMany(t.key, `ledger-${uuid()}`, 5, 0);
    await appendMany(t.key, `audit-${uuid()}`, 2, 100, 'audit.checked');
    await appendMany(t.key, `ledger-${uuid()}`, 5, 5);
    await post(t.key, '/subscriptions', { name: 'audits', event_types: ['audit.*'] });
    const b = await json<Batch>(await call('GET', '/api/v1/subscriptions/audits/events', { key: t.key }));
    expect(b.events.map((e) => e.payload.i)).toEqual([100, 101]);
    await post(t.key, '/subscriptions/audits/checkpoint', { position: b.next_after });
    const s = await json<Sub>(await call('GET', '/api/v1/subscriptions/audits', { key: t.key }));
    expect(s.lag).toBe(0);
    const next = await json<Batch>(await call('GET', '/api/v1/subscriptions/audits/events', { key: t.key }));
    expect(next.events).toHaveLength(0);
  });
});

describe('subscriptions: operating one', () => {
  /** A tenant with 6 events and the subscription `etl` from the beginning. */
  async function etl() {
    const t = await newTenant();
    await appendMany(t.key, `ledger-${uuid()}`, 6, 0);
    await post(t.key, '/subscriptions', { name: 'etl' });
    return t;
  }

  it('pause stops its batches with 409; resume starts them again', async () => {
    const t = await etl();
    expect((await json<Sub>(await post(t.key, '/subscriptions/etl/pause'))).status).toBe('paused');
    expect((await call('GET', '/api/v1/subscriptions/etl/events', { key: t.key })).status).toBe(409);
    expect((await json<Sub>(await post(t.key, '/subscriptions/etl/resume'))).status).toBe('active');
    const all = await json<Batch>(await call('GET', '/api/v1/subscriptions/etl/events', { key: t.key }));
    expect(all.events).toHaveLength(6);
  });

  it('reset moves the checkpoint to a position, and the next batch starts after it', async () => {
    const t = await etl();
    const all = await json<Batch>(await call('GET', '/api/v1/subscriptions/etl/events', { key: t.key }));
    const third = all.events[2]!.position;
    const reset = await json<Sub>(await post(t.key, '/subscriptions/etl/reset', { position: third }));
    expect(reset).toMatchObject({ checkpoint: third, lag: 3 });
    const rest = await json<Batch>(await call('GET', '/api/v1/subscriptions/etl/events', { key: t.key }));
    expect(rest.events.map((e) => e.payload.i)).toEqual([3, 4, 5]);
  });

  it('starts at the end when asked, and lists every subscription with its lag', async () => {
    const t = await etl();
    const all = await json<Batch>(await call('GET', '/api/v1/subscriptions/etl/events', { key: t.key }));
    await post(t.key, '/subscriptions/etl/reset', { position: all.events[2]!.position });
    const tail = await json<Sub>(await post(t.key, '/subscriptions', { name: 'tail', start: 'end' }));
    expect(tail.lag).toBe(0);
    await appendMany(t.key, `ledger-${uuid()}`, 2, 6);
    const list = await json<{ subscriptions: Sub[] }>(await call('GET', '/api/v1/subscriptions', { key: t.key }));
    const byName = Object.fromEntries(list.subscriptions.map((s) => [s.name, s]));
    expect(byName.tail!.lag).toBe(2);
    expect(byName.etl!.lag).toBe(5);
  });

  it('refuses a second subscription of the same name with 409', async () => {
    const t = await etl();
    expect((await post(t.key, '/subscriptions', { name: 'etl' })).status).toBe(409);
  });

  it('deletes, after which it is a 404', async () => {
    const t = await etl();
    expect((await call('DELETE', '/api/v1/subscriptions/etl', { key: t.key })).status).toBe(204);
    expect((await call('GET', '/api/v1/subscriptions/etl', { key: t.key })).status).toBe(404);
  });
});

describe('subscriptions: tenants and bad input', () => {
  it("tenant B cannot read, pause or reset tenant A's subscription", async () => {
    const a = await newTenant();
    const b = await newTenant();
    await post(a.key, '/subscriptions', { name: 'mine' });
    expect((await call('GET', '/api/v1/subscriptions/mine', { key: b.key })).status).toBe(404);
    expect((await post(b.key, '/subscriptions/mine/pause')).status).toBe(404);
    expect((await post(b.key, '/subscriptions/mine/reset', { position: 0 })).status).toBe(404);
    expect((await json<Sub>(await call('GET', '/api/v1/subscriptions/mine', { key: a.key }))).status).toBe('active');
  });

  it('names each bad field of a create and writes nothing', async () => {
    const a = await newTenant();
    await post(a.key, '/subscriptions', { name: 'mine' });
    const bad = await post(a.key, '/subscriptions', { name: 'Bad Name!', event_types: ['nope'], start: -3, extra: true });
    expect(fieldPaths(await expectProblem(bad, 422))).toEqual(['event_types.0', 'extra', 'name', 'start']);
    const rows = await (await shardOf(a.id)).prepare('SELECT count(*) AS n FROM event_subscriptions WHERE tenant_id = ?').bind(a.id).first<{ n: number }>();
    expect(rows!.n).toBe(1);
  });

  it('refuses a reset to a position that is not a number with 422', async () => {
    const a = await newTenant();
    await post(a.key, '/subscriptions', { name: 'mine' });
    expect((await post(a.key, '/subscriptions/mine/reset', { position: 'x' })).status).toBe(422);
  });
});
