import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { ApiError, PROBLEMS, conflict, notFound, validationFailed } from '../../src/http/problem';
import { call, newTenant } from '../support/api';

describe('typed errors', () => {
  it('take status and title from the one code table, and the detail from message', () => {
    const e = new ApiError({ code: 'wrong-expected-version', message: 'Stream s is at version 3.', extra: { current_version: 3 } });
    expect({ code: e.code, status: e.status, title: e.title, detail: e.message, extra: e.extra }).toEqual({
      code: 'wrong-expected-version',
      status: 409,
      title: 'Wrong expected version',
      detail: 'Stream s is at version 3.',
      extra: { current_version: 3 },
    });
    for (const [code, { status, title }] of Object.entries(PROBLEMS)) {
      const built = new ApiError({ code: code as keyof typeof PROBLEMS });
      expect([built.status, built.title, built.message]).toEqual([status, title, title]);
    }
    expect([notFound('The webhook').status, conflict('x').status, validationFailed([]).status]).toEqual([404, 409, 422]);
  });

  it('keep a framework exception as the framework wrote it: its status, its message as title and detail', () => {
    const e = ApiError.fromHttpException(new HTTPException(400, { message: 'Malformed JSON in request body' }));
    expect([e.code, e.status, e.title, e.message]).toEqual(['bad-request', 400, 'Malformed JSON in request body', 'Malformed JSON in request body']);
    const other = ApiError.fromHttpException(new HTTPException(405, { message: '' }));
    expect([other.code, other.status, other.title, other.message]).toEqual(['http-error', 405, 'Request failed', '']);
  });
});

describe('problem bodies', () => {
  it('are written byte for byte in one layout: type, title, status, detail, instance, request_id', async () => {
    const res = await call('GET', '/no-such-route', { headers: { 'x-request-id': 'req-layout-1' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.text()).toBe(
      '{"type":"https://eventline.dev/problems/not-found","title":"Not found","status":404,"detail":"No route for GET /no-such-route.","instance":"/no-such-route","request_id":"req-layout-1"}',
    );
  });

  it('carry the field errors after request_id, and the headers of the error', async () => {
    const t = await newTenant();
    const res = await call('POST', '/api/v1/events', { key: t.key, body: { source: 'system' }, headers: { 'x-request-id': 'req-layout-2' } });
    expect(res.status).toBe(422);
    expect(await res.text()).toBe(
      '{"type":"https://eventline.dev/problems/validation","title":"Validation failed","status":422,"detail":"The request has invalid fields.","instance":"/api/v1/events","request_id":"req-layout-2","errors":[{"path":"event_type","message":"is required"}]}',
    );
    const unauthorized = await call('GET', '/api/v1/events');
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toBe('Bearer');
  });
});
