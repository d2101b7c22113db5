import { createRoute } from '@hono/zod-openapi';
import { contactHubStub } from '../contact-hub';
import { SESSION_HEADER, type SocketSession } from '../contact-hub/sockets';
import { signRealtimeToken, verifyRealtimeToken, type VerifyFailure } from '../domain/realtime-token';
import { ProblemSchema, problemResponses } from '../domain/schemas/common';
import { NewRealtimeToken, RealtimeToken, StreamParams, StreamQuery } from '../domain/schemas/realtime';
import { iso } from '../domain/time';
import { router } from './context';
import { ApiError, forbidden, unauthorized, validationFailed } from './problem';

export const realtime = router();

/** The socket route, which the global API-key middleware lets through when it carries `?token=` (browsers cannot set headers on a WebSocket). */
export const isStreamPath = (path: string): boolean => /^\/api\/v1\/contacts\/[^/]+\/stream$/.test(path);

const TOKEN_FAILURE: Record<VerifyFailure, string> = {
  malformed: 'The realtime token is malformed.',
  bad_signature: 'The realtime token signature is not valid.',
  expired: 'The realtime token has expired; ask for a new one.',
};

function signingSecret(env: Env): string {
  if (!env.TOKEN_SIGNING_SECRET) {
    throw new ApiError(503, 'realtime-disabled', 'Realtime disabled', 'TOKEN_SIGNING_SECRET is not set, so realtime tokens can be neither issued nor checked.');
  }
  return env.TOKEN_SIGNING_SECRET;
}

realtime.openapi(
  createRoute({
    operationId: 'createRealtimeToken',
    method: 'post',
    path: '/realtime/tokens',
    tags: ['Realtime'],
    summary: 'Issue a short-lived token to open one contact\'s stream',
    description:
      'HMAC-SHA256 signed, for one tenant, one contact and one role: `agent` (sees `visible_to_agent` entries, appears in presence) or `client` (sees `visible_to_client` entries). Hand it to the browser; it opens `url` as a WebSocket.',
    request: { body: { required: true, content: { 'application/json': { schema: NewRealtimeToken } } } },
    responses: {
      201: { description: 'Issued', content: { 'application/json': { schema: RealtimeToken } } },
      ...problemResponses(400, 401, 413, 415, 422, 503),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const { token, claims } = await signRealtimeToken(
      signingSecret(c.env),
      { tenantId: c.get('tenantId'), contactId: body.contact_id, role: body.role, agentId: body.agent_id ?? null, name: body.name ?? null },
      body.ttl_seconds,
      Date.now(),
    );
    const url = new URL(c.req.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `/api/v1/contacts/${body.contact_id}/stream`;
    url.search = `?token=${encodeURIComponent(token)}`;
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
      'Upgrades to a WebSocket on the contact\'s hub. Authenticate with `?token=` (from POST /realtime/tokens) or, server side, with the API key (role agent). The caller is checked before the upgrade. A socket opened with a token is closed with 4401 when the token expires (reconnect with a new token and `after=`). Frames: see README "Realtime" and src/contact-hub/protocol.ts.',
    request: { params: StreamParams, query: StreamQuery },
    responses: {
      101: { description: 'Switching Protocols: the WebSocket is open; the first frame is `ready`.' },
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
      const result = await verifyRealtimeToken(signingSecret(c.env), q.token, Date.now());
      if (!result.ok) throw unauthorized(TOKEN_FAILURE[result.reason]);
      const claims = result.claims;
      if (claims.cid !== contactId) throw forbidden('The realtime token is for another contact.');
      // With both a key and a token (the middleware then checked the key), they must name one tenant.
      const keyTenant = c.get('tenantId');
      if (keyTenant !== undefined && keyTenant !== claims.tid) throw forbidden('The realtime token belongs to another tenant than the API key.');
      session = {
        tenant_id: claims.tid,
        contact_id: contactId,
        role: claims.role,
        agent_id: claims.aid ?? null,
        name: claims.name ?? null,
        after: q.after ?? null,
        // The hub closes the socket when the token expires (4401).
        expires_at: claims.exp * 1000,
      };
    } else {
      session = {
        tenant_id: c.get('tenantId'),
        contact_id: contactId,
        role: 'agent',
        agent_id: q.agent_id ?? null,
        name: q.name ?? null,
        after: q.after ?? null,
        expires_at: null,
      };
    }
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError(426, 'upgrade-required', 'Upgrade required', 'Open this URL as a WebSocket (Upgrade: websocket).', undefined, undefined, { upgrade: 'websocket' });
    }
    // RPC cannot carry a socket: the upgrade goes to the hub's fetch, with the verified session.
    const upgrade = new Request(c.req.url, { headers: { upgrade: 'websocket', [SESSION_HEADER]: JSON.stringify(session) } });
    const res = await contactHubStub(c.env, session.tenant_id, contactId).fetch(upgrade);
    if (!res.webSocket) throw new Error(`contact hub refused the upgrade: ${res.status} ${await res.text()}`);
    // A fresh response: the hub's has immutable headers, and the app middleware adds x-request-id.
    return new Response(null, { status: 101, webSocket: res.webSocket });
  },
);
