import type { Context } from 'hono';
import type { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { problem, type FieldError } from '../../packages/client/src/protocol';

export type { FieldError };

/**
 * Every problem the HTTP API answers, by code: its status and title, in this one table. The code is
 * the last segment of the problem's `type` (https://eventline.dev/problems/<code>).
 */
export const PROBLEMS = {
  'bad-request': { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  'wrong-expected-version': { status: 409, title: 'Wrong expected version' },
  erased: { status: 410, title: 'Gone' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  validation: { status: 422, title: 'Validation failed' },
  'upgrade-required': { status: 426, title: 'Upgrade required' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'auth-throttled': { status: 429, title: 'Too many failed authentications' },
  internal: { status: 500, title: 'Internal error' },
  'realtime-disabled': { status: 503, title: 'Realtime disabled' },
  // The tenant's data is being switched to another shard (a few seconds); `Retry-After` says when to retry.
  'tenant-moving': { status: 503, title: 'Tenant moving' },
  // Thrown by the framework itself (HTTPException): its status and message are taken as they come.
  'http-error': { status: 500, title: 'Request failed' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

export interface ApiErrorInit {
  code: ProblemCode;
  /** The problem's `detail`; the title when absent. */
  message?: string;
  /** One entry per bad field. */
  errors?: FieldError[];
  /** Members added to the problem body (`current_version`, `retry_after` …). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * The one error type handlers throw, built with named fields: `new ApiError({ code, message })`.
 * Status and title come from PROBLEMS. `onError` turns it into RFC 9457 application/problem+json;
 * nothing else builds error bodies.
 */
export class ApiError extends Error {
  readonly code: ProblemCode;
  readonly status: ContentfulStatusCode;
  readonly title: string;
  readonly errors?: FieldError[];
  readonly extra?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  /** `framework` only for fromHttpException: a status and title the framework chose. */
  constructor(init: ApiErrorInit, framework?: { status: ContentfulStatusCode; title: string }) {
    const { status, title } = framework ?? PROBLEMS[init.code];
    super(init.message ?? title);
    this.code = init.code;
    this.status = status;
    this.title = title;
    if (init.errors) this.errors = init.errors;
    if (init.extra) this.extra = init.extra;
    if (init.headers) this.headers = init.headers;
  }

  /**
   * An exception of the framework (malformed JSON, an oversized body) as a problem: its status is
   * kept and its message is both title and detail, as the framework wrote it.
   */
  static fromHttpException(err: HTTPException): ApiError {
    const code: ProblemCode = err.status === 413 ? 'payload-too-large' : err.status === 400 ? 'bad-request' : 'http-error';
    return new ApiError({ code, message: err.message }, { status: err.status, title: err.message || PROBLEMS['http-error'].title });
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) => new ApiError({ code: 'bad-request', message: detail, errors });
export const validationFailed = (errors: FieldError[], detail = 'The request has invalid fields.') =>
  new ApiError({ code: 'validation', message: detail, errors });
export const notFound = (what: string) => new ApiError({ code: 'not-found', message: `${what} was not found.` });
export const unauthorized = (detail = 'A valid API key is required: Authorization: Bearer <key>.') =>
  new ApiError({ code: 'unauthorized', message: detail, headers: { 'www-authenticate': 'Bearer' } });
export const forbidden = (detail: string) => new ApiError({ code: 'forbidden', message: detail });
export const conflict = (detail: string, extra?: Record<string, unknown>) => new ApiError({ code: 'conflict', message: detail, extra });
export const payloadTooLarge = (detail: string, errors?: FieldError[]) => new ApiError({ code: 'payload-too-large', message: detail, errors });
export const unsupportedMediaType = (errors?: FieldError[]) =>
  new ApiError({ code: 'unsupported-media-type', message: 'Send the body as application/json.', errors });

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
    ...problem(err.code, err.title, err.status, err.message),
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
