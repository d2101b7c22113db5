import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm } from 'cloudflare:test';
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import { openSecret, sealSecret } from '../../src/domain/signing-keys';
import { call, json, newTenant, uuid, type Tenant } from '../support/api';
import { Socket, appendEntries, connect, issueToken, openStream, closeSocketsAfterEach } from '../support/sockets';

interface Problem {
  status: number;
  title: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

interface NewKey {
  id: string;
  name: string;
  secret: string;
  created_at: string;
}

const { open } = closeSocketsAfterEach<Socket>();

async function createKey(t: Tenant, body?: unknown): Promise<NewKey> {
  const res = await call('POST', '/api/v1/realtime/signing-keys', { key: t.key, ...(body === undefined ? {} : { body }) });
  expect(res.status).toBe(201);
  return json<NewKey>(res);
}

/** What a tenant's backend does: sign a JWT with jose, the key id in the header. No Eventline code involved. */
async function mint(secret: string, kid: string, claims: JWTPayload, ttl: number | null = 300, alg = 'HS256'): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuedAt();
  if (ttl !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + ttl);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** A refused upgrade: accepted, one `error` frame, closed with 4000 + status. */
async function refused(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: { type: string; problem: Problem; close_code?: number }[] = [];
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
  ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)));
  ws.accept();
  expect(await closed).toBe(4000 + status);
  expect(frames).toEqual([expect.objectContaining({ type: 'error', close_code: 4000 + status, problem: expect.objectContaining({ status }) })]);
  return frames[0]!.problem;
}

describe('realtime signing keys (routes)', () => {
  it('creates a key whose secret is shown once, lists keys without secrets (paged), revokes', async () => {
    const t = await newTenant();
    const res = await call('POST', '/api/v1/realtime/signing-keys', { key: t.key, body: { name: 'backend' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const first = await json<NewKey>(res);
    expect(first).toEqual({ id: expect.stringMatching(/^rsk_[A-Za-z0-9]{20}$/), name: 'backend', secret: expect.stringMatching(/^evlrt_[A-Za-z0-9]{43}$/), created_at: expect.any(String) });
    const second = await createKey(t);
    expect(second.name).toBe('signing key');
    expect(second.secret).not.toBe(first.secret);

    // At rest the secret is sealed: the row does not hold it.
    const row = await env.DB.prepare('SELECT * FROM realtime_signing_keys WHERE id = ?').bind(first.id).first<Record<string, unknown>>();
    expect(JSON.stringify(row)).not.toContain(first.secret);
    expect(JSON.stringify(row)).not.toContain(first.secret.slice(6));

    const page1 = await call('GET', '/api/v1/realtime/signing-keys?limit=1', { key: t.key });
    expect(page1.status).toBe(200);
    const body1 = await json<{ signing_keys: Record<string, unknown>[]; next_cursor: string | null }>(page1);
    expect(body1.signing_keys).toEqual([{ id: second.id, name: 'signing key', created_at: second.created_at, revoked_at: null }]);
    expect(body1.next_cursor).toEqual(expect.any(String));
    const page2 = await json<{ signing_keys: Record<string, unknown>[]; next_cursor: string | null }>(
      await call('GET', `/api/v1/realtime/signing-keys?limit=1&cursor=${encodeURIComponent(body1.next_cursor!)}`, { key: t.key }),
    );
    expect(page2).toEqual({ signing_keys: [{ id: first.id, name: 'backend', created_at: first.created_at, revoked_at: null }], next_cursor: null });
    const all = await call('GET', '/api/v1/realtime/signing-keys', { key: t.key });
    expect(await all.text()).not.toContain('evlrt_');

    // Another tenant neither sees nor revokes them.
    const other = await newTenant();
    expect((await json<{ signing_keys: unknown[] }>(await call('GET', '/api/v1/realtime/signing-keys', { key: other.key }))).signing_keys).toEqual([]);
    expect((await call('DELETE', `/api/v1/realtime/signing-keys/${first.id}`, { key: other.key })).status).toBe(404);

    expect((await call('DELETE', `/api/v1/realtime/signing-keys/${first.id}`, { key: t.key })).status).toBe(204);
    expect((await call('DELETE', `/api/v1/realtime/signing-keys/${first.id}`, { key: t.key })).status).toBe(404);
    const after = await json<{ signing_keys: { id: string; revoked_at: string | null }[] }>(await call('GET', '/api/v1/realtime/signing-keys', { key: t.key }));
    expect(after.signing_keys.find((k) => k.id === first.id)?.revoked_at).toEqual(expect.any(String));
    expect(after.signing_keys.find((k) => k.id === second.id)?.revoked_at).toBeNull();
  });

  it('names each bad field and writes nothing', async () => {
    const t = await newTenant();
    const cases: [unknown, { path: string; message: string }[]][] = [
      [{ name: '' }, [{ path: 'name', message: 'must not be empty' }]],
      [{ name: 'x'.repeat(201) }, [{ path: 'name', message: 'must be at most 200 characters' }]],
      [{ secret: 'mine' }, [{ path: 'secret', message: 'is not a known field' }]],
    ];
    for (const [body, errors] of cases) {
      const res = await call('POST', '/api/v1/realtime/signing-keys', { key: t.key, body });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect((await json<Problem>(res)).errors, JSON.stringify(body)).toEqual(errors);
    }
    const badQuery = await call('GET', '/api/v1/realtime/signing-keys?limit=0&sort=asc', { key: t.key });
    expect(badQuery.status).toBe(422);
    expect((await json<Problem>(badQuery)).errors?.map((e) => e.path)).toEqual(['query.sort']);
    const badLimit = await call('GET', '/api/v1/realtime/signing-keys?limit=0', { key: t.key });
    expect(badLimit.status).toBe(422);
    expect((await json<Problem>(badLimit)).errors?.map((e) => e.path)).toEqual(['query.limit']);
    expect((await call('GET', '/api/v1/realtime/signing-keys', {})).status).toBe(401);
    expect((await json<{ signing_keys: unknown[] }>(await call('GET', '/api/v1/realtime/signing-keys', { key: t.key }))).signing_keys).toEqual([]);
  });
});

describe('signing-key secrets at rest', () => {
  it('open only with the same master secret, for the same tenant and key id', async () => {
    const sealed = await sealSecret('master', 't1', 'rsk_a', 'evlrt_secret');
    expect(sealed).not.toContain('evlrt_secret');
    expect(await openSecret('master', 't1', 'rsk_a', sealed)).toBe('evlrt_secret');
    expect(await openSecret('other master', 't1', 'rsk_a', sealed)).toBeNull();
    expect(await openSecret('master', 't2', 'rsk_a', sealed)).toBeNull();
    expect(await openSecret('master', 't1', 'rsk_b', sealed)).toBeNull();
    expect(await openSecret('master', 't1', 'rsk_a', 'evlrt_secret')).toBeNull();
  });
});

describe('tokens Eventline issues are standard JWTs', () => {
  it('verifies with jose: HS256, typ JWT, registered claims and Eventline\'s', async () => {
    const t = await newTenant();
    const contact = uuid();
    const token = await issueToken(t, { contact_id: contact, role: 'agent', agent_id: 'a-7', name: 'Ann', ttl_seconds: 120 });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const { payload } = await jwtVerify(token, new TextEncoder().encode(env.TOKEN_SIGNING_SECRET), { algorithms: ['HS256'], issuer: 'eventline' });
    expect(payload).toEqual({ iss: 'eventline', sub: 'a-7', iat: expect.any(Number), exp: payload.iat! + 120, tid: t.id, cid: contact, role: 'agent', name: 'Ann', akid: expect.any(String) });
    const client = await issueToken(t, { contact_id: contact, role: 'client' });
    expect((await jwtVerify(client, new TextEncoder().encode(env.TOKEN_SIGNING_SECRET))).payload).toMatchObject({ sub: contact, role: 'client', cid: contact });
  });
});

describe('tokens a tenant\'s backend signs with jose', () => {
  it('open the streams their claims allow: agent (with presence) and client (its visibility)', async () => {
    const t = await newTenant();
    const key = await createKey(t);
    const contact = uuid();
    await appendEntries(t, contact, [{ title: 'for both', visible_to_client: true }, { title: 'agents only', visible_to_client: false }]);

    const agentToken = await mint(key.secret, key.id, { tid: t.id, cid: contact, role: 'agent', sub: 'agent-9', name: 'Nia' });
    const agent = await connect(contact, { token: agentToken, after: 0 });
    open.push(agent);
    expect(agent.frames[0]).toEqual({ type: 'ready', role: 'agent', agent_id: 'agent-9', last_sequence_number: 2, after: 0 });
    expect(agent.frames[1]).toEqual({ type: 'presence', agents: [{ agent_id: 'agent-9', name: 'Nia' }] });
    expect((await agent.eventsUpTo(2)).map((f) => f.entry.title)).toEqual(['for both', 'agents only']);

    // Upper-case contact id in the claim: the same contact (ids are canonicalized).
    const clientToken = await mint(key.secret, key.id, { tid: t.id, cid: contact.toUpperCase(), role: 'client' });
    const client = await connect(contact, { token: clientToken, after: 0 });
    open.push(client);
    await client.next('caught_up');
    expect(client.events().map((f) => f.entry.title)).toEqual(['for both']);
  });

  it('refuses a wrong key, an unknown key, an expired token, another contact, another tenant, bad claims', async () => {
    const t = await newTenant();
    const other = await newTenant();
    const key = await createKey(t);
    const otherKey = await createKey(other);
    const contact = uuid();
    const claims = { tid: t.id, cid: contact, role: 'client' };

    // Signed with another secret under this key's id.
    const wrong = await mint(otherKey.secret, key.id, claims);
    expect((await refused(await openStream(contact, { token: wrong }), 401)).detail).toBe('The realtime token signature is not valid.');
    // Eventline's own secret under the key's id is not the key either.
    expect((await refused(await openStream(contact, { token: await mint(env.TOKEN_SIGNING_SECRET, key.id, claims) }), 401)).detail).toBe('The realtime token signature is not valid.');
    // A kid nobody created.
    expect((await refused(await openStream(contact, { token: await mint(key.secret, 'rsk_nope', claims) }), 401)).detail).toBe(
      "The realtime token's signing key rsk_nope does not exist or was revoked.",
    );
    // Expired a second ago.
    const expired = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.id }).setIssuedAt(Math.floor(Date.now() / 1000) - 61).setExpirationTime(Math.floor(Date.now() / 1000) - 1).sign(new TextEncoder().encode(key.secret));
    expect((await refused(await openStream(contact, { token: expired }), 401)).detail).toBe('The realtime token has expired; ask for a new one.');
    // A good token for contact A does not open contact B.
    const good = await mint(key.secret, key.id, claims);
    expect((await refused(await openStream(uuid(), { token: good }), 403)).detail).toBe('The realtime token is for another contact.');
    // Tenant t's key cannot sign for tenant other.
    const foreign = await mint(key.secret, key.id, { ...claims, tid: other.id });
    expect((await refused(await openStream(contact, { token: foreign }), 403)).detail).toBe('The realtime token is for another tenant than its signing key.');

    // Claims Eventline cannot use are named.
    const bad: [JWTPayload, string][] = [
      [{ cid: contact, role: 'client' }, 'tid must be the tenant id'],
      [{ tid: t.id, cid: 'not-a-uuid', role: 'client' }, 'cid must be the contact id (a UUID)'],
      [{ tid: t.id, cid: contact, role: 'admin' }, 'role must be agent or client'],
      [{ tid: t.id, cid: contact, role: 'agent' }, 'sub must be the agent id (1-128 characters) for role agent'],
      [{ tid: t.id, cid: contact, role: 'client', sub: uuid() }, 'sub, when given for role client, must be the contact id (cid)'],
      [{ tid: t.id, cid: contact, role: 'client', name: 'Ann' }, 'name is for role agent only, 1-100 characters'],
    ];
    for (const [c, why] of bad) {
      expect((await refused(await openStream(contact, { token: await mint(key.secret, key.id, c) }), 401)).detail, why).toBe(`The realtime token's claims are not valid: ${why}.`);
    }
    const now = Math.floor(Date.now() / 1000);
    const sign = (c: JWTPayload, iat: number, exp: number) => new SignJWT(c).setProtectedHeader({ alg: 'HS256', kid: key.id }).setIssuedAt(iat).setExpirationTime(exp).sign(new TextEncoder().encode(key.secret));
    // Issued more than a minute ahead of our clock (a minute of skew is accepted); not yet valid (nbf).
    expect((await refused(await openStream(contact, { token: await sign(claims, now + 120, now + 600) }), 401)).detail).toBe("The realtime token's claims are not valid: iat is in the future.");
    await connect(contact, { token: await sign(claims, now + 30, now + 600) }).then((s) => open.push(s));
    const notYet = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: key.id }).setIssuedAt().setNotBefore(now + 600).setExpirationTime(now + 900).sign(new TextEncoder().encode(key.secret));
    expect((await refused(await openStream(contact, { token: notYet }), 401)).detail).toMatch(/^The realtime token's claims are not valid: .*nbf/);
    // No exp; a lifetime beyond a day; another algorithm.
    expect((await refused(await openStream(contact, { token: await mint(key.secret, key.id, claims, null) }), 401)).detail).toMatch(/^The realtime token's claims are not valid: .*exp/);
    expect((await refused(await openStream(contact, { token: await mint(key.secret, key.id, claims, 86_401) }), 401)).detail).toBe(
      "The realtime token's claims are not valid: exp must be at most 86400 seconds after iat.",
    );
    expect((await refused(await openStream(contact, { token: await mint(key.secret, key.id, claims, 300, 'HS512') }), 401)).detail).toBe('The realtime token is malformed.');

    // The good token still opens the stream.
    const s = await connect(contact, { token: good });
    open.push(s);
  });

  it('a revoked signing key: its tokens open nothing, and the hub closes the sockets they opened', async () => {
    const t = await newTenant();
    const key = await createKey(t);
    const kept = await createKey(t);
    const contact = uuid();
    const token = await mint(key.secret, key.id, { tid: t.id, cid: contact, role: 'agent', sub: 'a-1', name: 'Ann' });
    const revokedSocket = await connect(contact, { token });
    const keptSocket = await connect(contact, { token: await mint(kept.secret, kept.id, { tid: t.id, cid: contact, role: 'agent', sub: 'b-2' }) });
    const platformSocket = await connect(contact, { token: await issueToken(t, { contact_id: contact, role: 'client' }) });
    open.push(revokedSocket, keptSocket, platformSocket);

    expect((await call('DELETE', `/api/v1/realtime/signing-keys/${key.id}`, { key: t.key })).status).toBe(204);
    expect((await refused(await openStream(contact, { token }), 401)).detail).toBe(`The realtime token's signing key ${key.id} does not exist or was revoked.`);

    // The hub's key check (its alarm, armed when the sockets opened) closes the revoked key's socket only.
    expect(await runDurableObjectAlarm(contactHubStub(env, t.id, contact))).toBe(true);
    expect(await revokedSocket.closed).toBe(4401);
    expect(revokedSocket.of('error').at(-1)).toMatchObject({ close_code: 4401, problem: { status: 401, title: 'Signing key revoked' } });
    await appendEntries(t, contact, [{ title: 'after revocation', visible_to_client: true }]);
    expect((await keptSocket.eventsUpTo(1))[0]!.entry.title).toBe('after revocation');
    expect((await platformSocket.eventsUpTo(1))[0]!.entry.title).toBe('after revocation');
    expect(keptSocket.closeCode).toBeNull();
    expect(platformSocket.closeCode).toBeNull();
  });
});
