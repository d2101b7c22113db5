import { allShards } from '../db/shards';
import { createRoute, z } from '@hono/zod-openapi';
import { pingD1 } from '../db/client';
import { problemResponses } from '../domain/schemas/common';
import { router } from './context';

export const health = router();

health.openapi(
  createRoute({
    operationId: 'getHealth',
    method: 'get',
    path: '/health',
    tags: ['Operations'],
    summary: 'Liveness and D1 reachability (no auth)',
    description: 'Needs no key, so load balancers and uptime checks can call it. It takes no query parameters.',
    // No key: this overrides the document-wide apiKey requirement.
    security: [],
    // Strict like every other route: an unknown parameter is a 422, not silently ignored.
    request: { query: z.object({}).strict() },
    responses: {
      200: { description: 'Healthy', content: { 'application/json': { schema: z.object({ status: z.literal('ok'), d1: z.literal('ok'), time: z.string() }) } } },
      ...problemResponses(422),
      503: { description: 'D1 unreachable', content: { 'application/json': { schema: z.object({ status: z.literal('degraded'), d1: z.string(), time: z.string() }) } } },
    },
  }),
  async (c) => {
    const time = new Date().toISOString();
    try {
      // The control database and every shard: a shard down is a degraded platform (its tenants' relays retry).
      await Promise.all([c.env.DB, ...allShards(c.env).map((s) => s.db)].map(pingD1));
      return c.json({ status: 'ok' as const, d1: 'ok' as const, time }, 200);
    } catch (e) {
      return c.json({ status: 'degraded' as const, d1: String(e), time }, 503);
    }
  },
);
