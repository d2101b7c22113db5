import { describe, expect, it } from 'vitest';
import { call, json, newTenant, uuid } from '../support/api';
import { checkConformance } from '../support/conformance';

// The checker that `call` runs on every response of the HTTP suites: these tests show it rejects
// what the document does not promise, so a green suite means the document matches the answers.
const jsonResponse = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });

describe('conformance checker', () => {
  it('accepts a real answer that matches the document', async () => {
    const tenant = await newTenant('conformance');
    const res = await call('GET', '/api/v1/event-types', { key: tenant.key });
    expect(res.status).toBe(200);
    // `call` already checked it; checking again (and reading the body after) still works.
    await expect(checkConformance('GET', '/api/v1/event-types', res)).resolves.toBeUndefined();
    expect(await json(res)).toHaveProperty('pattern');
  });

  it('rejects a status the operation does not list', async () => {
    await expect(checkConformance('GET', '/api/v1/health', jsonResponse(418, { status: 'ok' }))).rejects.toThrow(/getHealth\) answered 418, a status the document does not list/);
  });

  it('rejects a body that does not match the schema, naming the field', async () => {
    const body = { status: 'ok', d1: 'ok', time: 7 };
    await expect(checkConformance('GET', '/api/v1/health', jsonResponse(200, body))).rejects.toThrow(/#\/time/);
  });

  it('follows $refs into the components: a problem without request_id is rejected', async () => {
    const problem = { type: 'about:blank', title: 'Not found', status: 404 };
    await expect(checkConformance('GET', `/api/v1/webhooks/${uuid()}`, jsonResponse(404, problem, 'application/problem+json'))).rejects.toThrow(/request_id/);
  });

  it('rejects a field the document does not name', async () => {
    const body = { status: 'ok', d1: 'ok', time: new Date().toISOString(), uptime_ms: 5 };
    await expect(checkConformance('GET', '/api/v1/health', jsonResponse(200, body))).rejects.toThrow(/#\/uptime_ms/);
  });

  it('accepts the documented extension members of a problem', async () => {
    const problem = { type: 'about:blank', title: 'Wrong expected version', status: 409, request_id: 'r1', current_version: 2, expected_version: 'no_stream' };
    await expect(checkConformance('POST', '/api/v1/streams/order-1/events', jsonResponse(409, problem, 'application/problem+json'))).resolves.toBeUndefined();
  });

  it('rejects a media type the status does not list', async () => {
    const res = new Response('ok', { status: 200, headers: { 'content-type': 'text/plain' } });
    await expect(checkConformance('GET', '/api/v1/health', res)).rejects.toThrow(/as text\/plain; the document lists application\/json/);
  });

  it('prefers a literal path segment to a parameter', async () => {
    // /events/count is its own operation; read as /events/{id} this body would be rejected.
    await expect(checkConformance('GET', '/api/v1/events/count?x=1', jsonResponse(200, { count: 3 }))).resolves.toBeUndefined();
  });

  it('leaves answers of unknown routes alone', async () => {
    await expect(checkConformance('GET', '/api/v1/no-such-route', jsonResponse(404, {}))).resolves.toBeUndefined();
  });
});
