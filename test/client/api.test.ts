import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { createEventlineApi, type ApiProblem } from '../../packages/client/src/api';
import { BASE, newTenant, uuid } from '../support/api';
import { checkConformance } from '../support/conformance';

/** The generated client against the Worker in this runtime; every answer is also checked against /openapi.json. */
async function workerFetch(input: Request): Promise<Response> {
  const method = input.method;
  const url = new URL(input.url);
  const res = await exports.default.fetch(input);
  await checkConformance(method, url.pathname + url.search, res);
  return res;
}

describe('createEventlineApi (openapi-fetch typed by the generated schema)', () => {
  it('appends an event and reads it back, typed by the document', async () => {
    const tenant = await newTenant('api-client');
    const api = createEventlineApi({ baseUrl: BASE, apiKey: tenant.key, fetch: workerFetch });
    const contact = uuid();
    const { data, error, response } = await api.POST('/api/v1/events', {
      body: { event_type: 'client.appended', source: 'manual', contact_id: contact, payload: { name: 'Ada' } },
    });
    expect(error).toBeUndefined();
    expect(response.status).toBe(201);
    expect(data?.event_type).toBe('client.appended');
    expect(data?.contact_id).toBe(contact);

    const read = await api.GET('/api/v1/events/{event_id}', { params: { path: { event_id: data!.id } } });
    expect(read.response.status).toBe(200);
    expect(read.data?.payload).toEqual({ name: 'Ada' });
  });

  it('sends query parameters and reads a page', async () => {
    const tenant = await newTenant('api-client-list');
    const api = createEventlineApi({ baseUrl: BASE, apiKey: tenant.key, fetch: workerFetch });
    for (const n of [1, 2]) {
      const res = await api.POST('/api/v1/events', { body: { event_type: 'client.listed', source: 'manual', payload: { n } } });
      expect(res.response.status).toBe(201);
    }
    const page = await api.GET('/api/v1/events', { params: { query: { type: 'client.listed', limit: 1 } } });
    expect(page.response.status).toBe(200);
    expect(page.data?.events).toHaveLength(1);
    expect(page.data?.next_cursor).toEqual(expect.any(String));
  });

  it('hands back the problem of a refused request as `error`', async () => {
    const tenant = await newTenant('api-client-bad');
    const api = createEventlineApi({ baseUrl: BASE, apiKey: tenant.key, fetch: workerFetch });
    // A source outside the enum: the types forbid it, so this call goes around them on purpose.
    const body = { event_type: 'x.bad', source: 'nowhere' } as unknown as { event_type: string; source: 'manual' };
    const { data, error, response } = await api.POST('/api/v1/events', { body });
    expect(data).toBeUndefined();
    expect(response.status).toBe(422);
    const problem: ApiProblem | undefined = error;
    expect(problem?.errors?.map((e) => e.path)).toEqual(['source']);
  });

  it('sends the key as a bearer token (a wrong key is refused with 401)', async () => {
    const api = createEventlineApi({ baseUrl: BASE, apiKey: 'evl_not-a-key', fetch: workerFetch });
    const { error, response } = await api.GET('/api/v1/events', {});
    expect(response.status).toBe(401);
    expect(error?.type).toBe('https://eventline.dev/problems/unauthorized');
  });
});
