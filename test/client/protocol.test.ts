import { describe, expect, it } from 'vitest';
import { problem, refusalCloseCode } from '../../packages/client/src/protocol';
import { call, json } from '../support/api';

describe('the problem builder shared by socket frames and HTTP answers', () => {
  it('builds the RFC 9457 members, errors only when there are some', () => {
    expect(JSON.stringify(problem('invalid-frame', 'Invalid frame', 400, 'Bad.'))).toBe(
      '{"type":"https://eventline.dev/problems/invalid-frame","title":"Invalid frame","status":400,"detail":"Bad."}',
    );
    expect(problem('validation', 'Validation failed', 422, 'x', [{ path: 'a', message: 'is required' }]).errors).toEqual([{ path: 'a', message: 'is required' }]);
  });

  it('gives HTTP problem bodies the same members first, then instance, request_id, errors', async () => {
    const res = await call('GET', '/api/v1/health?verbose=1', { headers: { 'x-request-id': 'builder-check' } });
    expect(res.status).toBe(422);
    const text = await res.text();
    const body = await json<Record<string, unknown>>(new Response(text));
    expect(Object.keys(body)).toEqual(['type', 'title', 'status', 'detail', 'instance', 'request_id', 'errors']);
    const head = JSON.stringify(problem('validation', 'Validation failed', 422, String(body.detail)));
    expect(text.startsWith(head.slice(0, -1) + ',"instance":"/api/v1/health","request_id":"builder-check","errors":')).toBe(true);
  });

  it('closes a refused socket with 4000 + a 4xx status, 4500 otherwise', () => {
    expect(refusalCloseCode(401)).toBe(4401);
    expect(refusalCloseCode(503)).toBe(4500);
  });
});
