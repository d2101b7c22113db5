import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { runInDurableObject } from 'cloudflare:test';
import { contactHubStub } from '../../src/hub';
import { signRealtimeToken, verifyRealtimeToken } from '../../src/domain/realtime-token';
import { call, json, newTenant, uuid } from '../support/api';
import { expectProblem } from '../support/problem';
import { appendEntries, connect, connectAs, issueToken, openStream } from '../support/sockets';

const SECRET = env.TOKEN_SIGNING_SECRET;

interface Problem {
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

/**
 * A refused upgrade, as a browser sees it: the upgrade is accepted, one `error` frame carries the
 * problem, and the socket closes with 4000 + its status; the hub never saw a connection.
 */
async function refused(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  expect(ws).toBeTruthy();
  const frames: { type: string; problem: Problem; close_code?: number }[] = [];
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)));
  ws.accept();
  expect(await closed).toBe(4000 + status);
  expect(frames).toHaveLength(1);
  expect(frames[0]).toMatchObject({ type: 'error', close_code: 4000 + status, problem: { status } });
  return frames[0]!.problem;
}

/** Sockets the contact's hub holds: a refused upgrade must never reach it. */
function hubSockets(tenantId: string, contactId: string): Promise<number> {
  return runInDurableObject(contactHubStub(env, tenantId, contactId), (_hub, state) => state.getWebSockets().length);
}

describe('realtime tokens', () => {
  it('issues a signed token with defaults and a ws:// url to the contact stream', async () => {
    const t = await newTenant();
    const contact = uuid();
    const before = Date.now();
    const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { contact_id: contact, role: 'agent', agent_id: 'a-7', name: 'Ann' } });
    expect(res.status).toBe(201);
    const body = await json<{ token: string; expires_at: string; url: string }>(res);
    const ttl = Date.parse(body.expires_at) - before;
    expect(ttl).toBeGreaterThan(3599_000);
    expect(ttl).toBeLessThanOrEqual(3601_000);
    expect(body.url).toBe(`ws://eventline.test/api/v1/contacts/${contact}/stream?token=${body.token}`);
    const verified = await verifyRealtimeToken(SECRET, body.token, Date.now());
    expect(verified).toEqual({ ok: true, claims: expect.objectContaining({ tenantId: t.id, contactId: contact, role: 'agent', agentId: 'a-7', name: 'Ann' }) });

    const max = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body: { contact_id: contact, role: 'client', ttl_seconds: 86_400 } });
    expect(max.status).toBe(201);
    const maxBody = await json<{ token: string; expires_at: string }>(max);
    expect(Date.parse(maxBody.expires_at) - Date.now()).toBeGreaterThan(86_398_000);
    expect(await verifyRealtimeToken(SECRET, maxBody.token, Date.now())).toMatchObject({ ok: true, claims: { role: 'client' } });
  });

  it('documents both routes in the OpenAPI document', async () => {
    const doc = await json<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(await call('GET', '/openapi.json'));
    expect(Object.keys(doc.paths['/api/v1/realtime/tokens']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/api/v1/contacts/{contact_id}/stream']!.get!.responses)).toEqual(expect.arrayContaining(['101', '401', '403', '426']));
  });

  it('names each bad field of a token request', async () => {
    const t = await newTenant();
    const cases: [unknown, { path: string; message: string }[]][] = [
      [{ role: 'client' }, [{ path: 'contact_id', message: 'is required' }]],
      [{ contact_id: 'nope', role: 'client' }, [{ path: 'contact_id', message: 'must be a UUID' }]],
      [{ contact_id: uuid(), role: 'admin' }, [{ path: 'role', message: 'must be agent or client' }]],
      [{ contact_id: uuid(), role: 'agent' }, [{ path: 'agent_id', message: 'is required for role agent' }]],
      [{ contact_id: uuid(), role: 'client', agent_id: 'x', name: 'y' }, [
        { path: 'agent_id', message: 'is only for role agent' },
        { path: 'name', message: 'is only for role agent' },
      ]],
      [{ contact_id: uuid(), role: 'client', ttl_seconds: 86_401 }, [{ path: 'ttl_seconds', message: 'must be at most 86400' }]],
      [{ contact_id: uuid(), role: 'client', ttl_seconds: 0 }, [{ path: 'ttl_seconds', message: 'must be at least 1' }]],
      [{ contact_id: uuid(), role: 'client', ttl_seconds: 1.5 }, [{ path: 'ttl_seconds', message: 'must be an integer' }]],
      [{ contact_id: uuid(), role: 'client', tenant_id: 'other' }, [{ path: 'tenant_id', message: 'is not a known field' }]],
      [{ contact_id: uuid(), role: 'agent', agent_id: 'x'.repeat(129) }, [{ path: 'agent_id', message: 'must be at most 128 characters' }]],
    ];
    for (const [body, errors] of cases) {
      const res = await call('POST', '/api/v1/realtime/tokens', { key: t.key, body });
      expect((await expectProblem(res, 422, undefined, JSON.stringify(body))).errors, JSON.stringify(body)).toEqual(errors);
    }
    const noKey = await call('POST', '/api/v1/realtime/tokens', { body: { contact_id: uuid(), role: 'client' } });
    expect(noKey.status).toBe(401);
  });

  it('signs and verifies; refuses tampered, foreign, expired and malformed tokens', async () => {
    const now = Date.now();
    const c = uuid();
    const { token } = await signRealtimeToken('s3cret', { tenantId: 't', contactId: c, role: 'client' }, 60, now);
    expect(await verifyRealtimeToken('s3cret', token, now)).toMatchObject({ ok: true, claims: { tenantId: 't', contactId: c, role: 'client' } });
    expect(await verifyRealtimeToken('other', token, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifyRealtimeToken('s3cret', token, now + 60_000)).toEqual({ ok: false, reason: 'expired' });
    const [p, body, sig] = token.split('.');
    const forged = btoa(JSON.stringify({ tid: 'other-tenant', cid: c, role: 'client', iat: 1, exp: 9_999_999_999 })).replace(/=+$/, '');
    expect(await verifyRealtimeToken('s3cret', `${p}.${forged}.${sig}`, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(await verifyRealtimeToken('s3cret', `${p}.${body}`, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(await verifyRealtimeToken('s3cret', `ert0.${body}.${sig}`, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(await verifyRealtimeToken('s3cret', 'x'.repeat(5000), now)).toEqual({ ok: false, reason: 'malformed' });
    expect(await verifyRealtimeToken('s3cret', `${p}.${body}.${sig!.slice(0, -2)}`, now)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('stream authentication (checked before the upgrade)', () => {
  it('refuses each bad token with an error frame and close 4401/4403/4422, and opens no hub socket', async () => {
    const t = await newTenant();
    const other = await newTenant();
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'secret', visible_to_client: true }]);
    const good = await issueToken(t, { contact_id: contact, role: 'client' });
    const [prefix, body, sig] = good.split('.');

    const expired = (await signRealtimeToken(SECRET, { tenantId: t.id, contactId: contact, role: 'client' }, 60, Date.now() - 61_000)).token;
    expect((await refused(await openStream(contact, { token: expired }), 401)).detail).toBe('The realtime token has expired; ask for a new one.');

    const foreign = (await signRealtimeToken('not-our-secret', { tenantId: t.id, contactId: contact, role: 'agent', agentId: 'x' }, 60, Date.now())).token;
    expect((await refused(await openStream(contact, { token: foreign }), 401)).detail).toBe('The realtime token signature is not valid.');

    // Claims rewritten to another contact, signature kept: the signature no longer holds.
    const rewritten = btoa(JSON.stringify({ tid: t.id, cid: uuid(), role: 'agent', sub: 'x', iat: 1, exp: 9_999_999_999 })).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    expect((await refused(await openStream(contact, { token: `${prefix}.${rewritten}.${sig}` }), 401)).detail).toBe('The realtime token signature is not valid.');

    expect((await refused(await openStream(contact, { token: 'garbage' }), 401)).detail).toBe('The realtime token is malformed.');
    expect((await refused(await openStream(contact, { token: `${prefix}.${body}` }), 401)).detail).toBe('The realtime token is malformed.');
    expect((await refused(await openStream(contact, { token: '' }), 401)).detail).toBe('The realtime token is malformed.');

    // A valid token for contact A cannot open contact B.
    const contactB = uuid();
    expect((await refused(await openStream(contactB, { token: good }), 403)).detail).toBe('The realtime token is for another contact.');

    // A valid token of tenant t presented with tenant other's API key.
    const mixed = await openStream(contact, { token: good }, { authorization: `Bearer ${other.key}` });
    expect((await refused(mixed, 403)).detail).toBe('The realtime token belongs to another tenant than the API key.');

    // Neither token nor key; a revoked-looking key.
    await refused(await openStream(contact), 401);
    // A server-side caller with a bad API key gets the HTTP problem (no browser sends that header).
    const badKey = await openStream(contact, {}, { authorization: 'Bearer evl_AAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(badKey.webSocket).toBeNull();
    await expectProblem(badKey, 401);

    // Not a WebSocket request, even with a good token.
    const plain = await call('GET', `/api/v1/contacts/${contact}/stream?token=${good}`);
    await expectProblem(plain, 426);

    // Query errors are named.
    const badQuery = await refused(await openStream(contact, { token: good, after: -1, agent_id: 'x' }), 422);
    expect(badQuery.errors).toEqual([{ path: 'query.after', message: 'must be a non-negative integer' }]);
    const agentWithToken = await refused(await openStream(contact, { token: good, agent_id: 'x' }), 422);
    expect(agentWithToken.errors).toEqual([{ path: 'query.agent_id', message: 'is only for API-key callers; a token names its agent' }]);
    await refused(await openStream('not-a-uuid', { token: good }), 422);

    expect(await hubSockets(t.id, contact)).toBe(0);
    expect(await hubSockets(t.id, contactB)).toBe(0);
    expect(await hubSockets(other.id, contact)).toBe(0);

    // The good token still works, and sees the entry.
    const s = await connect(contact, { token: good, after: 0 });
    await s.eventsUpTo(1);
    expect(s.events()[0]!.entry.title).toBe('secret');
    expect(await hubSockets(t.id, contact)).toBe(1);
    s.close();
    await s.closed;
  });

  it('lets server-side callers connect with the API key as an agent', async () => {
    const t = await newTenant();
    const contact = uuid();
    const s = await connect(contact, { after: 0, agent_id: 'svc', name: 'Backend' }, { authorization: `Bearer ${t.key}` });
    expect(s.frames[0]).toEqual({ type: 'ready', role: 'agent', agent_id: 'svc', last_sequence_number: 0, after: 0 });
    expect(s.frames[1]).toEqual({ type: 'presence', agents: [{ agent_id: 'svc', name: 'Backend' }] });
    await appendEntries(t, contact, [{ title: 'agent only', visible_to_client: false }]);
    await s.eventsUpTo(1);
    s.close();
    await s.closed;
  });

  it('keeps tenants apart: a socket of tenant A never sees tenant B\'s entries on the same contact id', async () => {
    const a = await newTenant();
    const b = await newTenant();
    const contact = uuid();
    const sa = await connectAs(a, contact, { role: 'agent', agent_id: 'x' });
    const sb = await connectAs(b, contact, { role: 'agent', agent_id: 'x' });
    await appendEntries(b, contact, [{ title: 'b1' }, { title: 'b2' }]);
    await appendEntries(a, contact, [{ title: 'a1' }]);
    await sb.eventsUpTo(2);
    await sa.eventsUpTo(1);
    await sa.settle();
    expect(sa.events().map((f) => f.entry.title)).toEqual(['a1']);
    expect(sb.events().map((f) => f.entry.title)).toEqual(['b1', 'b2']);
    sa.close();
    sb.close();
    await Promise.all([sa.closed, sb.closed]);
  });
});
