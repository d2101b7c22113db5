import type { RouteConfig } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { z } from '@hono/zod-openapi';
import { validationFailed } from './problem';

/**
 * Unknown query parameters are a 422 naming each one (`query.<name>`), on every route: a misspelt
 * filter (`event_type=` for `type=`) must not silently mean "everything". The known names are those
 * the route declares in its query schema, which is also what /openapi.json documents.
 */
export function unknownQueryGuard(route: RouteConfig) {
  const query = route.request?.query;
  if (query !== undefined && !(query instanceof z.ZodObject)) {
    // A refined or piped schema hides its keys; refuse it at startup rather than skip the rule.
    throw new Error(`${route.method.toUpperCase()} ${route.path}: the query schema must be a z.object`);
  }
  const known = new Set(query ? Object.keys(query.shape) : []);
  return createMiddleware(async (c, next) => {
    const names = [...new Set(new URL(c.req.url).searchParams.keys())].filter((name) => !known.has(name));
    if (names.length) {
      const allowed = known.size ? `; this route takes ${[...known].join(', ')}` : '; this route takes none';
      throw validationFailed(
        names.map((name) => ({ path: `query.${name}`, message: 'is not a known field' })),
        `Unknown query parameter${names.length > 1 ? 's' : ''}: ${names.join(', ')}${allowed}.`,
      );
    }
    await next();
  });
}
