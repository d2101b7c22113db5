import { OpenAPIHono } from '@hono/zod-openapi';
import { validationFailed, zodFieldErrors } from './problem';

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    tenantId: string;
    apiKeyId: string;
  };
}

/** Every router is built here so that all share the one validation hook (→ 422 problem+json). */
export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const where = result.target === 'json' ? undefined : result.target;
        // The validator passes the raw input along (not in the hook's type): it tells a missing field from a wrong one.
        const input: unknown = 'data' in result ? result.data : undefined;
        throw validationFailed(zodFieldErrors(result.error, where, input));
      }
    },
  });
}
