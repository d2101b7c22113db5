import { describe, expect, it } from 'vitest';
import { call, eventually, json, newTenant, uuid } from '../support/api';

interface Replay {
  target: string;
  matched: number;
  replayed: number;
  first_position: number | null;
  last_position: number | null;
  has_more: boolean;
}

async function seed(key: string): Promise<number[]> {
  const old = '2020-01-01T00:00:00.000Z';
  const r = await call('POST', `/api/v1/streams/user-${uuid()}/events?wait=position`, {
    key,
    body: {
      events: [
        { event_type: 'user.registered', payload: { n: 0 }, timestamp: old },
        { event_type: 'user.registered', payload: { n: 1 } },
        { event_type: 'user.activated', payload: { n: 2 } },
        { event_type: 'user.registered', payload: { n: 3 } },
      ],
    },
  });
  return (await json<{ events: { position: number }[] }>(r)).events.map((e) => e.position);
}

const replay = (key: string, body: unknown) => call('POST', '/api/v1/events/replay', { key, body });
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

describe('POST /events/replay', () => {
  it('sends the events of a type in a time range to the webhooks queue', async () => {
    const t = await newTenant();
    const positions = await seed(t.key);
    const r = await replay(t.key, { type: 'user.registered', from: hoursAgo(24), target: { type: 'webhooks' } });
    expect(r.status).toBe(202);
    expect(await json<Replay>(r)).toMatchObject({ target: 'webhooks', matched: 2, replayed: 2, first_position: positions[1], last_position: positions[3], has_more: false });
    const ranged = await json<Replay>(await replay(t.key, { from: '2019-12-31T00:00:00Z', to: '2020-01-02T00:00:00Z', target: { type: 'webhooks' } }));
    expect(ranged).toMatchObject({ matched: 1, replayed: 1, first_position: positions[0] });
  });

  it('moves a subscription back so that it re-reads from the first matching event', async () => {
    const t = await newTenant();
    const positions = await seed(t.key);
    await call('POST', '/api/v1/subscriptions', { key: t.key, body: { name: 'crm-sync', start: 'end' } });
    const r = await json<Replay>(await replay(t.key, { type: 'user.activated', from: hoursAgo(1), target: { type: 'subscription', name: 'crm-sync' } }));
    expect(r).toMatchObject({ matched: 1, first_position: positions[2] });
    const batch = await json<{ events: { payload: { n: number } }[] }>(await call('GET', '/api/v1/subscriptions/crm-sync/events', { key: t.key }));
    expect(batch.events.map((e) => e.payload.n)).toEqual([2, 3]);
    expect((await replay(t.key, { from: hoursAgo(1), target: { type: 'subscription', name: 'missing' } })).status).toBe(404);
    await call('GET', '/api/v1/projections', { key: t.key }); // creates the built-in consumer rows
    expect((await replay(t.key, { from: hoursAgo(1), target: { type: 'subscription', name: 'projection:contacts' } })).status).toBe(409);
  });

  it('replaying into a projection rebuilds it', async () => {
    const t = await newTenant();
    await seed(t.key);
    const r = await replay(t.key, { from: hoursAgo(1), target: { type: 'projection', name: 'contacts' } });
    expect(r.status).toBe(202);
    expect((await json<Replay>(r)).target).toBe('projection:contacts');
    await eventually(async () => {
      const p = await json<{ projections: { generation: number; status: string }[] }>(await call('GET', '/api/v1/projections', { key: t.key }));
      return p.projections[0]!.generation === 2 && p.projections[0]!.status === 'live';
    });
    expect((await replay(t.key, { from: hoursAgo(1), target: { type: 'projection', name: 'nope' } })).status).toBe(404);
  });

  it('rejects bad input naming each field', async () => {
    const t = await newTenant();
    const r = await replay(t.key, { type: 'Bad', from: 'yesterday', to: -1, target: { type: 'kafka' }, extra: 1 });
    expect(r.status).toBe(422);
    const paths = (await json<{ errors: { path: string }[] }>(r)).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['extra', 'from', 'target.type', 'to', 'type']);
    const mixed = await replay(t.key, { from: '2020-01-01T00:00:00Z', to: '2019-01-01T00:00:00Z', target: { type: 'webhooks' } });
    expect((await json<{ errors: { path: string }[] }>(mixed)).errors.map((e) => e.path)).toEqual(['to']);
    // The old names are gone: a 422 naming each, not a silent replay of everything.
    const old = await replay(t.key, { since_hours: 1, start: '2020-01-01T00:00:00Z', target: { type: 'webhooks' } });
    expect((await json<{ errors: { path: string }[] }>(old)).errors.map((e) => e.path).sort()).toEqual(['since_hours', 'start']);
    expect((await call('GET', `/api/v1/events/${uuid()}`, { key: t.key })).status).toBe(404);
  });
});
