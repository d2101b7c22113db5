import { isFenced } from './db/moves';
import { forgetTenantShard } from './db/shards';
import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { admin } from './http/admin';
import { adminMoves } from './http/admin-moves';
import { requireApiKey } from './http/auth';
import { jsonBody } from './http/body';
import { contactEventQueries } from './http/contact-event-queries';
import { contactEvents } from './http/contact-events';
import type { AppEnv } from './http/context';
import { docsPage } from './http/docs';
import { DOCS_SECURITY_HEADERS } from './http/security-headers';
import { eventTypes } from './http/event-types';
import { events } from './http/events';
import { log } from './http/log';
import { projections } from './http/projections';
import { streams } from './http/streams';
import { subscriptions } from './http/subscriptions';
import { health } from './http/health';
import { analytics } from './http/analytics';
import { archives } from './http/archives';
import { opsStats } from './http/ops-stats';
import { settings } from './http/settings';
import { ApiError, problemResponse } from './http/problem';
import { webhooks } from './http/webhooks';
import { rateLimit } from './http/rate-limit';
import { isStreamPath, realtime } from './http/realtime';
import { signingKeys } from './http/signing-keys';

export const app = new OpenAPIHono<AppEnv>();

app.use('*', async (c, next) => {
  const given = c.req.header('x-request-id');
  const requestId = given && /^[A-Za-z0-9._-]{1,128}$/.test(given) ? given : crypto.randomUUID();
  c.set('requestId', requestId);
  const started = Date.now();
  await next();
  c.res.headers.set('x-request-id', requestId);
  // One JSON line per request (Workers Logs indexes the fields). LOG_REQUESTS=false keeps only 5xx.
  if (c.res.status >= 500 || c.env.LOG_REQUESTS !== 'false') {
    const line = {
      msg: 'request',
      request_id: requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Date.now() - started,
      tenant_id: c.get('tenantId') ?? null,
      api_key_id: c.get('apiKeyId') ?? null,
    };
    console.log(JSON.stringify(line));
  }
});

app.use('/api/v1/*', jsonBody);

// Everything under /api/v1 needs an API key except health and the admin routes (admin token).
app.use('/api/v1/*', async (c, next) => {
  const path = c.req.path;
  if (path === '/api/v1/health' || path.startsWith('/api/v1/admin/')) return next();
  // A browser's WebSocket cannot send headers: the stream route checks its signed ?token= (or the
  // lack of one) itself, so that a refusal reaches the browser as a socket close it can read.
  if (isStreamPath(path) && !c.req.header('authorization')) return next();
  return requireApiKey(c, next);
});
app.use('/api/v1/*', rateLimit);

app.route('/api/v1', health);
app.route('/api/v1', admin);
app.route('/api/v1', adminMoves);
app.route('/api/v1', streams);
app.route('/api/v1', log);
app.route('/api/v1', subscriptions);
app.route('/api/v1', projections);
app.route('/api/v1', events);
app.route('/api/v1', eventTypes);
app.route('/api/v1', webhooks);
app.route('/api/v1', analytics);
app.route('/api/v1', settings);
app.route('/api/v1', archives);
app.route('/api/v1', opsStats);
app.route('/api/v1', realtime);
app.route('/api/v1', signingKeys);
app.route('/api/v1', contactEventQueries);
app.route('/api/v1', contactEvents);

app.get('/', (c) => c.redirect('/docs'));
app.get('/__noop', (c) => c.text('ok'));

app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer', description: 'A tenant API key (evl_…).' });
app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer', description: 'The ADMIN_TOKEN secret.' });

const openApiConfig = {
  openapi: '3.1.0',
  info: {
    title: 'Eventline',
    version: '0.1.0',
    description: 'The event platform of a CRM: event log, contact timelines, realtime, webhooks and analytics on Cloudflare Workers.',
    // Not published under an open licence; SPDX's LicenseRef- form names a licence of one's own.
    license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
  },
  // Relative: the document is served by each deployment itself, so its own origin is the server.
  servers: [{ url: '/', description: 'The deployment that serves this document' }],
  security: [{ apiKey: [] }],
};
app.doc31('/openapi.json', openApiConfig);
app.get('/docs', (c) => {
  for (const [name, value] of Object.entries(DOCS_SECURITY_HEADERS)) c.header(name, value);
  return c.html(docsPage(openApiConfig.info));
});

app.notFound((c) => problemResponse(c, new ApiError({ code: 'not-found', message: `No route for ${c.req.method} ${c.req.path}.` })));

app.onError((err, c) => {
  if (err instanceof ApiError) return problemResponse(c, err);
  if (err instanceof HTTPException) return problemResponse(c, ApiError.fromHttpException(err));
  if (isFenced(err)) {
    // The tenant moved (or is switching) shards: this isolate's directory entry is stale or the switch
    // is under way; the next request resolves the shard afresh.
    const tenantId = c.get('tenantId');
    if (tenantId) forgetTenantShard(tenantId);
    return problemResponse(c, new ApiError({ code: 'tenant-moving', message: "The tenant's data is moving to another shard; try again in a moment.", headers: { 'retry-after': '1' } }));
  }
  console.error(JSON.stringify({ msg: 'unhandled error', request_id: c.get('requestId'), path: c.req.path, error: String(err), stack: (err as Error).stack }));
  return problemResponse(c, new ApiError({ code: 'internal', message: 'Something went wrong; the request id identifies it in the logs.' }));
});
