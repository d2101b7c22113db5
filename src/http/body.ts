import type { RouteConfig } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { LIMITS } from '../domain/limits';
import { utf8Bytes } from '../domain/json';
import type { AppEnv } from './context';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './problem';

const WRITE_METHODS = ['POST', 'PUT', 'PATCH'];

/**
 * For requests with a body: application/json only (415), at most LIMITS.bodyBytes (413), well-formed
 * JSON (400). The parsed body is cached on the request, so validators do not read it again. An empty
 * body is no body, whatever its content type: whether the route needs one is the route's rule (bodyRule).
 */
export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  if (!WRITE_METHODS.includes(c.req.method)) return next();
  const tooLarge = () =>
    payloadTooLarge(`The body must be at most ${LIMITS.bodyBytes} bytes.`, [{ path: '(body)', message: `must be at most ${LIMITS.bodyBytes} bytes` }]);
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > LIMITS.bodyBytes) throw tooLarge();
  const text = await c.req.text();
  if (text.length > LIMITS.bodyBytes / 4 && utf8Bytes(text) > LIMITS.bodyBytes) throw tooLarge();
  if (text.trim().length === 0) return next();
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw unsupportedMediaType([{ path: 'header.content-type', message: `must be application/json, not ${type ? JSON.stringify(type) : 'missing'}` }]);
  }
  try {
    JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    throw badRequest(`The body is not valid JSON: ${message}`, [{ path: '(body)', message: `is not valid JSON: ${message}` }]);
  }
  await next();
});

/**
 * What an empty body means on one route. A route that takes no body (mark-read, test, rebuild…)
 * accepts it — a client that always sends `content-type: application/json` sends one. A route whose
 * body is optional reads it as `{}`. A route that needs a body refuses it (400) when the caller said
 * it sends JSON; without a content type the schema names the missing fields (422).
 */
export function bodyRule(route: RouteConfig) {
  const body = route.request?.body;
  return createMiddleware<AppEnv>(async (c, next) => {
    if (body === undefined || !WRITE_METHODS.includes(c.req.method)) return next();
    const text = await c.req.text();
    if (text.trim().length > 0) return next();
    const saysJson = /^application\/(.+\+)?json\s*(;|$)/i.test(c.req.header('content-type') ?? '');
    if (!saysJson) return next();
    if (body.required) throw badRequest('The body is empty; send a JSON object.', [{ path: '(body)', message: 'is empty' }]);
    // The validator of an optional body parses the text when the type says JSON: hand it an empty object.
    // (Hono keeps the pending reads in bodyCache, while its type names the values.)
    (c.req.bodyCache as unknown as { text?: Promise<string> }).text = Promise.resolve('{}');
    await next();
  });
}
