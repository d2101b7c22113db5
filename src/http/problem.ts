import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { problem, type FieldError } from '../../packages/client/src/protocol';

export type { FieldError };

/**
 * The one error type handlers throw. `onError` turns it into RFC 9457 application/problem+json;
 * nothing else builds error bodies.
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly slug: string,
    readonly title: string,
    detail?: string,
    readonly errors?: FieldError[],
    readonly extra?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new ApiError(400, 'bad-request', 'Bad request', detail, errors);
export const validationFailed = (errors: FieldError[], detail = 'The request has invalid fields.') =>
  new ApiError(422, 'validation', 'Validation failed', detail, errors);
export const notFound = (what: string) => new ApiError(404, 'not-found', 'Not found', `${what} was not found.`);
export const unauthorized = (detail = 'A valid API key is required: Authorization: Bearer <key>.') =>
  new ApiError(401, 'unauthorized', 'Unauthorized', detail, undefined, undefined, { 'www-authenticate': 'Bearer' });
export const forbidden = (detail: string) => new ApiError(403, 'forbidden', 'Forbidden', detail);
export const conflict = (detail: string, extra?: Record<string, unknown>) =>
  new ApiError(409, 'conflict', 'Conflict', detail, undefined, extra);
export const payloadTooLarge = (detail: string, errors?: FieldError[]) => new ApiError(413, 'payload-too-large', 'Payload too large', detail, errors);
export const unsupportedMediaType = (errors?: FieldError[]) =>
  new ApiError(415, 'unsupported-media-type', 'Unsupported media type', 'Send the body as application/json.', errors);

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Zod issues → one entry per bad field, with a dotted path (`events.3.event_type`). `input` is what was validated. */
export function zodFieldErrors(error: ZodError, prefix?: string, input?: unknown): FieldError[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== undefined && p !== '').join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: path ? `${path}.${key}` : key, message: 'is not a known field' }));
    }
    // A missing field fails its type or enum check with input undefined: say what is really wrong.
    const absent = input === undefined ? issue.input === undefined : valueAt(input, issue.path) === undefined;
    const missing = (issue.code === 'invalid_type' || issue.code === 'invalid_value') && absent;
    const message = missing ? 'is required' : issue.message;
    return [{ path: path || '(body)', message }];
  }).flat();
}

export function problemResponse(c: Context, err: ApiError): Response {
  // The socket's error frames use the same builder; its members come first, as they always have.
  const body: Record<string, unknown> = {
    ...problem(err.slug, err.title, err.status, err.message),
    instance: new URL(c.req.url).pathname,
    request_id: c.get('requestId') ?? 'unknown',
    ...(err.errors ? { errors: err.errors } : {}),
    ...err.extra,
  };
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: {
      'content-type': 'application/problem+json',
      'x-request-id': String(body.request_id),
      ...err.headers,
    },
  });
}

/** Field errors for batch items that repeat an earlier item's client id (`events.3.id`). */
export function duplicateIdErrors(items: { id?: string | undefined }[]): FieldError[] {
  const seen = new Map<string, number>();
  return items.flatMap((item, i) => {
    if (!item.id) return [];
    const first = seen.get(item.id);
    if (first !== undefined) return [{ path: `events.${i}.id`, message: `repeats the id of events.${first}` }];
    seen.set(item.id, i);
    return [];
  });
}

export function rejectDuplicateIds(items: { id?: string | undefined }[]): void {
  const errors = duplicateIdErrors(items);
  if (errors.length) throw validationFailed(errors);
}
