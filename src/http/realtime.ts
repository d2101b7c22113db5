import { createRoute } from '@hono/zod-openapi';
import { contactHubStub } from '../hub';
import { agentInboxStub } from '../inbox';
import { INBOX_SESSION_HEADER, type InboxSession } from '../inbox/inbox';
import { encode, problem, refusalCloseCode } from '../hub/protocol';
import { SESSION_HEADER, type SocketSession } from '../hub/sockets';
import { signRealtimeToken, tokenKeyId, verifyRealtimeToken, type RealtimeGrant, type VerifyFailure } from '../domain/realtime-token';
import { ProblemSchema, problemResponses } from '../domain/schemas/common';
import { InboxStreamQuery, NewRealtimeToken, RealtimeToken, StreamParams, StreamQuery } from '../domain/schemas/realtime';
import { iso } from '../domain/time';
import { apiKeyActive } from './auth';
import type { Context } from 'hono';
import { router, type AppEnv } from './context';
import { ApiError, forbidden, unauthorized, validationFailed } from './problem';
import { assertAuthNotThrottled, noteAuthFailure } from './rate-limit';
import { signingKeyFor, tokenSigningSecret } from './signing-keys';

export const realtime = router();

/** PUBLIC_URL is optional and not in wrangler.toml: the origin clients reach the API at, when a proxy sits in front. */
type RealtimeEnv = Env & { PUBLIC_URL?: string };

/**
 * A refused WebSocket upgrade as a socket: accept it, send one `error` frame, close with 4000 + the
 * HTTP status. A browser reports a refused HTTP upgrade only as close code 1006 (like a network cut),
 * so a client could not tell "never again" from "try again" and would retry a dead token for ever.
 */
function refusalSocket(err: ApiError): Response {
  const pair = new WebSocketPair();
  const server = pair[1];
  server.accept();
  const code = refusalCloseCode(err.status);
  server.send(encode({ type: 'error', problem: problem(err.code, err.title, err.status, err.message, err.errors), close_code: code }));
  // A close reason is at most 123 bytes.
  server.close(code, err.title.slice(0, 120));
  return new Response(null, { status: 101, webSocket: pair[0] });
}

for (const path of ['/contacts/:contact_id/stream', '/inbox/stream']) {
  realtime.use(path, async (c, next) => {
    await next();
    const err = c.error;
    if (!(err instanceof ApiError) || c.req.header('upgrade')?.toLowerCase() !== 'websocket') return;
    // Unset first: assigning over a response merges its headers into a copy, which would lose the socket.
    c.res = undefined;
    c.res = refusalSocket(err);
  });
}

/** The socket routes, which the global API-key middleware lets through when they carry `?token=` (browsers cannot set headers on a WebSocket). */
export const isStreamPath = (path: string): boolean => /^\/api\/v1\/(contacts\/[^/]+\/stream|inbox\/stream)$/.test(path);

const TOKEN_FAILURE: Record<VerifyFailure, string> = {
  malformed: 'The realtime token is malformed.',
  bad_signature: 'The realtime token signature is not valid.',
  expired: 'The realtime token has expired; ask for a new one.',
  invalid_claims: 'The realtime token\'s claims are not valid',
};

const signingSecret = tokenSigningSecret;

/**
 * Checks a realtime token as both socket routes need it: its signing key (a tenant's, by `kid`, or
 * Eventline's own secret), signature and claims, the API key it lives on, and — with an API key on
 * the request as well — that both name one tenant. Returns the claims and the key the socket lives on.
 */
async function verifyToken(c: Context<AppEnv>, token: string): Promise<{ claims: RealtimeGrant; keyId: string | null }> {
  assertAuthNotThrottled(c);
  // The `kid` header picks the key: a tenant's signing key, or (none) Eventline's own secret.
  const kid = tokenKeyId(token);
  const signingKey = kid ? await signingKeyFor(c.env, kid) : null;
  if (kid && !signingKey) {
    await noteAuthFailure(c);
    throw unauthorized(`The realtime token's signing key ${kid} does not exist or was revoked.`);
  }
  const result = kid === undefined ? ({ ok: false, reason: 'malformed' } as const) : await verifyRealtimeToken(signingKey?.secret ?? signingSecret(c.env), token, Date.now());
  if (!result.ok) {
    await noteAuthFailure(c);
    throw unauthorized(result.reason === 'invalid_claims' ? `${TOKEN_FAILURE.invalid_claims}: ${result.detail}.` : TOKEN_FAILURE[result.reason]);
  }
  const claims = result.claims;
  // A signing key signs for its own tenant only.
  if (signingKey && claims.tenantId !== signingKey.tenantId) throw forbidden('The realtime token is for another tenant than its signing key.');
  // A token Eventline issued lives on the API key that asked for it: a revoked key's tokens open nothing.
  if (!signingKey && claims.apiKeyId !== null && !(await apiKeyActive(c.env, claims.tenantId, claims.apiKeyId))) {
    await noteAuthFailure(c);
    throw unauthorized('The API key that issued this realtime token was revoked.');
  }
  // With both a key and a token (the middleware then checked the key), they must name one tenant.
  const keyTenant = c.get('tenantId');
  if (keyTenant !== undefined && keyTenant !== claims.tenantId) throw forbidden('The realtime token belongs to another tenant than the API key.');
  return { claims, keyId: signingKey && kid ? kid : claims.apiKeyId };
}

realtime.openapi(
  createRoute({
    operationId: 'createRealtimeToken',
    method: 'post',
    path: '/realtime/tokens',
    tags: ['Realtime'],
    summary: 'Issue a short-lived token to open one contact\'s stream, or an agent\'s inbox',
    description:
      'A JWT (HS256; claims in docs/realtime-tokens.md) for one tenant, one contact and one role: `agent` (sees `visible_to_agent` entries, appears in presence) or `client` (sees `visible_to_client` entries). With `scope: "inbox"` and no `contact_id`, the token opens the agent\'s inbox stream instead (GET /inbox/stream: many contacts on one socket, docs/realtime.md "Inbox"); a `client` cannot have an inbox (403). Hand it to the browser; it opens `url` as a WebSocket. Your backend can also sign such tokens itself with a signing key (POST /realtime/signing-keys).',
    request: { body: { required: true, content: { 'application/json': { schema: NewRealtimeToken } } } },
    responses: {
      201: { description: 'Issued', content: { 'application/json': { schema: RealtimeToken } } },
      ...problemResponses(400, 401, 403, 413, 415, 422, 503),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const inbox = body.scope === 'inbox';
    // A client sees one contact: an inbox spans an agent's many.
    if (inbox && body.role === 'client') throw forbidden('A client cannot have an inbox: scope inbox is for role agent only.');
    const { token, claims } = await signRealtimeToken(
      signingSecret(c.env),
      {
        tenantId: c.get('tenantId'),
        contactId: inbox ? null : body.contact_id!,
        role: body.role,
        agentId: body.agent_id ?? null,
        name: body.name ?? null,
        keyId: c.get('apiKeyId'),
      },
      body.ttl_seconds,
      Date.now(),
    );
    // The configured public origin, else the origin of the request URL; never a Host header a caller
    // could set to make the answer point browsers at another server.
    const configured = (c.env as RealtimeEnv).PUBLIC_URL;
    const url = new URL(inbox ? '/api/v1/inbox/stream' : `/api/v1/contacts/${body.contact_id}/stream`, configured ? new URL(configured).origin : new URL(c.req.url).origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = `?token=${encodeURIComponent(token)}`;
    // The token opens the contact's stream until it expires: no cache may keep it.
    c.header('cache-control', 'no-store');
    return c.json({ token, expires_at: iso(claims.exp * 1000), url: url.toString() }, 201);
  },
);

realtime.openapi(
  createRoute({
    operationId: 'openContactStream',
    method: 'get',
    path: '/contacts/{contact_id}/stream',
    tags: ['Realtime'],
    summary: 'Watch a contact\'s timeline over a WebSocket',
    description:
      'Upgrades to a WebSocket on the contact\'s hub. Authenticate with `?token=` (from POST /realtime/tokens, or signed by your backend with a signing key) or, server side, with the API key (role agent). The caller is checked before the upgrade; a refused WebSocket request still gets a socket, which carries one `error` frame and closes with 4000 + the HTTP status (4401 bad or expired token, revoked API or signing key, 4403 another contact or tenant, 4422 bad query), so that a browser can tell why. A socket opened with a token is closed with 4401 when the token expires or its API key or signing key is revoked (reconnect with a new token and `after=`). Frames: see docs/realtime.md "Protocol" and packages/client/src/protocol.ts.',
    request: { params: StreamParams, query: StreamQuery },
    responses: {
      101: { description: 'Switching Protocols: the WebSocket is open; the first frame is `ready` (or, for a refused caller, `error` and a 4xxx close).' },
      ...problemResponses(401, 403, 422, 426, 503),
      // A WebSocket route has no 2xx: `default` covers what else it can answer (429, 500), and
      // gives generated clients a success-or-problem shape to expect.
      default: { description: 'Problem (RFC 9457)', content: { 'application/problem+json': { schema: ProblemSchema } } },
    },
  }),
  async (c) => {
    const { contact_id: contactId } = c.req.valid('param');
    const q = c.req.valid('query');
    let session: SocketSession;
    if (q.token !== undefined) {
      const extra = (['agent_id', 'name'] as const).filter((k) => q[k] !== undefined);
      if (extra.length) throw validationFailed(extra.map((path) => ({ path: `query.${path}`, message: 'is only for API-key callers; a token names its agent' })));
      const { claims, keyId } = await verifyToken(c, q.token);
      if (claims.scope !== 'contact' || claims.contactId !== contactId) throw forbidden(claims.scope === 'inbox' ? 'An inbox token opens the inbox stream (GET /inbox/stream), not a contact\'s stream.' : 'The realtime token is for another contact.');
      session = {
        tenant_id: claims.tenantId,
        contact_id: contactId,
        role: claims.role,
        agent_id: claims.agentId,
        name: claims.name,
        after: q.after ?? null,
        // The hub closes the socket when the token expires (4401), or when its key is revoked.
        expires_at: claims.exp * 1000,
        key_id: keyId,
      };
    } else {
      if (c.get('tenantId') === undefined) {
        assertAuthNotThrottled(c);
        await noteAuthFailure(c);
        throw unauthorized('Open the stream with ?token= (POST /realtime/tokens), or server side with the API key.');
      }
      session = {
        tenant_id: c.get('tenantId'),
        contact_id: contactId,
        role: 'agent',
        agent_id: q.agent_id ?? null,
        name: q.name ?? null,
        after: q.after ?? null,
        expires_at: null,
        key_id: null,
      };
    }
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError({ code: 'upgrade-required', message: 'Open this URL as a WebSocket (Upgrade: websocket).', headers: { upgrade: 'websocket' } });
    }
    // RPC cannot carry a socket: the upgrade goes to the hub's fetch, with the verified session.
    const upgrade = new Request(c.req.url, { headers: { upgrade: 'websocket', [SESSION_HEADER]: JSON.stringify(session) } });
    const res = await contactHubStub(c.env, session.tenant_id, contactId).fetch(upgrade);
    if (!res.webSocket) throw new Error(`contact hub refused the upgrade: ${res.status} ${await res.text()}`);
    // A fresh response: the hub's has immutable headers, and the app middleware adds x-request-id.
    return new Response(null, { status: 101, webSocket: res.webSocket });
  },
);

realtime.openapi(
  createRoute({
    operationId: 'openInboxStream',
    method: 'get',
    path: '/inbox/stream',
    tags: ['Realtime'],
    summary: 'Watch many contacts on one WebSocket: an agent\'s inbox',
    description:
      'Upgrades to a WebSocket on the agent\'s inbox. Authenticate with `?token=` (POST /realtime/tokens with `scope: "inbox"`, or signed by your backend with a signing key and `scp: "inbox"`) or, server side, with the API key and `agent_id`. The socket then subscribes to up to 500 contacts (`subscribe {contact_id, after?}`), each with the guarantees of the contact stream. A refused WebSocket request still gets a socket, which carries one `error` frame and closes with 4000 + the HTTP status (4401 bad or expired token, 4403 a contact token or another tenant, 4422 bad query). A socket opened with a token is closed with 4401 when the token expires. Frames: see docs/realtime.md "Inbox" and packages/client/src/protocol.ts.',
    request: { query: InboxStreamQuery },
    responses: {
      101: { description: 'Switching Protocols: the WebSocket is open; the first frame is `ready` (or, for a refused caller, `error` and a 4xxx close).' },
      ...problemResponses(401, 403, 422, 426, 503),
      default: { description: 'Problem (RFC 9457)', content: { 'application/problem+json': { schema: ProblemSchema } } },
    },
  }),
  async (c) => {
    const q = c.req.valid('query');
    let session: InboxSession;
    if (q.token !== undefined) {
      const extra = (['agent_id', 'name'] as const).filter((k) => q[k] !== undefined);
      if (extra.length) throw validationFailed(extra.map((path) => ({ path: `query.${path}`, message: 'is only for API-key callers; a token names its agent' })));
      const { claims, keyId } = await verifyToken(c, q.token);
      if (claims.scope !== 'inbox' || claims.agentId === null) throw forbidden('A contact\'s token opens that contact\'s stream, not the inbox: ask for a token with scope inbox.');
      session = { tenant_id: claims.tenantId, agent_id: claims.agentId, name: claims.name, expires_at: claims.exp * 1000, key_id: keyId };
    } else {
      if (c.get('tenantId') === undefined) {
        assertAuthNotThrottled(c);
        await noteAuthFailure(c);
        throw unauthorized('Open the inbox with ?token= (POST /realtime/tokens, scope inbox), or server side with the API key and agent_id.');
      }
      if (q.agent_id === undefined) throw validationFailed([{ path: 'query.agent_id', message: 'is required with an API key: it names the agent whose inbox to open' }]);
      session = { tenant_id: c.get('tenantId'), agent_id: q.agent_id, name: q.name ?? null, expires_at: null, key_id: null };
    }
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError({ code: 'upgrade-required', message: 'Open this URL as a WebSocket (Upgrade: websocket).', headers: { upgrade: 'websocket' } });
    }
    const upgrade = new Request(c.req.url, { headers: { upgrade: 'websocket', [INBOX_SESSION_HEADER]: JSON.stringify(session) } });
    const res = await agentInboxStub(c.env, session.tenant_id, session.agent_id).fetch(upgrade);
    if (!res.webSocket) throw new Error(`agent inbox refused the upgrade: ${res.status} ${await res.text()}`);
    return new Response(null, { status: 101, webSocket: res.webSocket });
  },
);
