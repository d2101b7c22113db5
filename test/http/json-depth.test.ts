import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/domain/limits';
import { call, json, newTenant, uuid, type Tenant, shardOf } from '../support/api';
import { expectNothingWritten } from '../support/log';
import { expectProblem } from '../support/problem';

/** JSON text of an object nested `depth` levels deep ({} is 1), built as text: no recursion on either side. */
const nested = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
/** An object around arrays nested `depth - 1` deep: the deepest body that fits the 1 MiB limit is of this kind. */
const deepArray = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
/** Half objects, half arrays: arrays count as levels too. */
const mixed = (depth: number) => {
  const objects = Math.ceil(depth / 2);
  const arrays = depth - objects;
  return `${'{"a":'.repeat(objects)}${'['.repeat(arrays)}${']'.repeat(arrays)}${'}'.repeat(objects)}`;
};

interface Route {
  name: string;
  method: string;
  path: (contact: string) => string;
  /** A body with `json` at the field under test. */
  body: (json: string) => string;
  field: string;
  /** Streams other than contact streams need a version before a snapshot is taken. */
  setup?: (t: Tenant) => Promise<void>;
}

const event = (payload: string) => `{"event_type":"message.sent","source":"system","payload":${payload}}`;
const entry = (field: 'payload' | 'metadata', value: string) => `{"event_type":"note_added","category":"note","source":"agent","${field}":${value}}`;

const routes: Route[] = [
  { name: 'POST /events payload', method: 'POST', path: () => '/api/v1/events', body: event, field: 'payload' },
  {
    name: 'POST /events metadata.custom',
    method: 'POST',
    path: () => '/api/v1/events',
    body: (v) => `{"event_type":"message.sent","source":"system","metadata":{"custom":${v}}}`,
    field: 'metadata.custom',
  },
  { name: 'POST /events/batch item', method: 'POST', path: () => '/api/v1/events/batch', body: (v) => `{"events":[${event('{}')},${event(v)}]}`, field: 'events.1.payload' },
  { name: 'POST /contacts/{id}/events payload', method: 'POST', path: (c) => `/api/v1/contacts/${c}/events`, body: (v) => entry('payload', v), field: 'payload' },
  { name: 'POST /contacts/{id}/events metadata', method: 'POST', path: (c) => `/api/v1/contacts/${c}/events`, body: (v) => entry('metadata', v), field: 'metadata' },
  {
    name: 'POST /contacts/{id}/events/batch item',
    method: 'POST',
    path: (c) => `/api/v1/contacts/${c}/events/batch`,
    body: (v) => `{"events":[${entry('payload', '{}')},${entry('payload', v)}]}`,
    field: 'events.1.payload',
  },
  {
    name: 'POST /streams/{id}/events payload',
    method: 'POST',
    path: (c) => `/api/v1/streams/contact-${c}/events`,
    body: (v) => `{"events":[{"event_type":"campaign.created","payload":${v}}]}`,
    field: 'events.0.payload',
  },
];

describe(`JSON nesting: at most ${LIMITS.jsonDepth} levels on every append route`, () => {
  for (const route of routes) {
    it(`${route.name}: ${LIMITS.jsonDepth + 1} levels → 422 naming ${route.field}, nothing written; ${LIMITS.jsonDepth} → accepted`, async () => {
      const t = await newTenant();
      const contact = uuid();
      for (const deep of [nested(LIMITS.jsonDepth + 1), mixed(LIMITS.jsonDepth + 1), nested(1000), deepArray(400_000)]) {
        const res = await call(route.method, route.path(contact), { key: t.key, body: route.body(deep) });
        const problem = await expectProblem(res, 422, [route.field]);
        expect(problem.errors![0]!.message).toMatch(new RegExp(`at most ${LIMITS.jsonDepth} levels`));
      }
      await expectNothingWritten(t.id, [contact]);
      for (const ok of [nested(LIMITS.jsonDepth), mixed(LIMITS.jsonDepth)]) {
        const res = await call(route.method, route.path(contact), { key: t.key, body: route.body(ok) });
        expect(res.status, await res.clone().text()).toBe(201);
      }
    });
  }

  it(`PUT /streams/{id}/snapshot state: ${LIMITS.jsonDepth + 1} levels → 422 naming state, nothing stored; ${LIMITS.jsonDepth} → stored`, async () => {
    const t = await newTenant();
    const stream = `campaign-${uuid()}`;
    const appended = await call('POST', `/api/v1/streams/${stream}/events`, { key: t.key, body: { events: [{ event_type: 'campaign.created' }] } });
    expect(appended.status).toBe(201);
    for (const deep of [nested(LIMITS.jsonDepth + 1), deepArray(400_000)]) {
      const res = await call('PUT', `/api/v1/streams/${stream}/snapshot`, { key: t.key, body: `{"version":1,"state":${deep}}` });
      await expectProblem(res, 422, ['state']);
    }
    const stored = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM stream_snapshots WHERE tenant_id = ?').bind(t.id).first<{ n: number }>();
    expect(stored!.n).toBe(0);
    const res = await call('PUT', `/api/v1/streams/${stream}/snapshot`, { key: t.key, body: `{"version":1,"state":${nested(LIMITS.jsonDepth)}}` });
    expect(res.status).toBe(200);
  });

  it('an accepted event at the limit reads back on GET /log and GET /log?after=', async () => {
    const t = await newTenant();
    const res = await call('POST', '/api/v1/events', { key: t.key, body: event(nested(LIMITS.jsonDepth)) });
    expect(res.status).toBe(201);
    const { id } = await json<{ id: string }>(res);
    const page = async (after: number) => {
      const r = await call('GET', `/api/v1/log?after=${after}`, { key: t.key });
      expect(r.status).toBe(200);
      return json<{ events: { id: string }[] }>(r);
    };
    expect((await page(0)).events.map((e) => e.id)).toContain(id);
    expect((await page(1)).events).toBeDefined();
  });
});
