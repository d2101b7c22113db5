import { createMiddleware } from 'hono/factory';
import { LIMITS } from '../domain/limits';
import type { AppEnv } from './context';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './problem';

/**
 * For requests with a body: application/json only (415), at most LIMITS.bodyBytes (413), well-formed
 * JSON (400). The parsed body is cached on the request, so validators do not read it again.
 */
export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  if (!['POST', 'PUT', 'PATCH'].includes(c.req.method)) return next();
  const tooLarge = () =>
    payloadTooLarge(`The body must be at most ${LIMITS.bodyBytes} bytes.`, [{ path: '(body)', message: `must be at most ${LIMITS.bodyBytes} bytes` }]);
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > LIMITS.bodyBytes) throw tooLarge();
  const text = await c.req.text();
  if (text.length > LIMITS.bodyBytes / 4 && new TextEncoder().encode(text).byteLength > LIMITS.bodyBytes) throw tooLarge();
  const type = c.req.header('content-type') ?? '';
  // No body and no type: a route whose body is optional gets none; one that needs a body says so (422).
  if (text.length === 0 && !type) return next();
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw unsupportedMediaType([{ path: 'header.content-type', message: `must be application/json, not ${type ? JSON.stringify(type) : 'missing'}` }]);
  }
  if (text.trim().length === 0) throw badRequest('The body is empty; send a JSON object.', [{ path: '(body)', message: 'is empty' }]);
  try {
    JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    throw badRequest(`The body is not valid JSON: ${message}`, [{ path: '(body)', message: `is not valid JSON: ${message}` }]);
  }
  await next();
});
