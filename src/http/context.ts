import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyRule } from './body';
import { validationFailed, zodFieldErrors } from './problem';
import { unknownQueryGuard } from './query';

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    tenantId: string;
    apiKeyId: string;
    /** The D1 database of the tenant's shard, resolved once per request by requireApiKey. */
    db: D1Database;
    /** Its shard number (the index into SHARDS). */
    shard: number;
  };
}

/**
 * Every router is built here so that all share the one validation hook (→ 422 problem+json) and the
 * request rules that depend on what a route declares: unknown query parameters are refused (422), and
 * a route that takes no body accepts an empty one. Both are derived from the route's own definition,
 * so no route can forget them.
 */
export function router() {
  const r = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const where = result.target === 'json' ? undefined : result.target;
        // The validator passes the raw input along (not in the hook's type): it tells a missing field from a wrong one.
        const input: unknown = 'data' in result ? result.data : undefined;
        throw validationFailed(zodFieldErrors(result.error, where, input));
      }
    },
  });
  const declare = r.openapi;
  const withRules = (route: RouteConfig): RouteConfig => {
    const own: MiddlewareHandler[] = route.middleware === undefined ? [] : Array.isArray(route.middleware) ? route.middleware : [route.middleware];
    // Route middleware runs before the route's validators: the rules see the raw request first.
    return { ...route, middleware: [unknownQueryGuard(route), bodyRule(route), ...own] };
  };
  r.openapi = ((route: RouteConfig, ...rest: unknown[]) => (declare as (...args: unknown[]) => unknown)(withRules(route), ...rest)) as typeof r.openapi;
  return r;
}
