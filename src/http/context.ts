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
        throw validationFailed(zodFieldErrors(result.error, where));
      }
    },
  });
}
