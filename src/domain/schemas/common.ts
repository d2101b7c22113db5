import { z } from '@hono/zod-openapi';
import { jsonBytes, jsonDepth } from '../json';
import { LIMITS } from '../limits';

/**
 * Every UUID the API takes (contacts, sessions, messages, entries, events; in paths, bodies and query
 * strings) goes through this one schema, which answers it in lower case: `A1B2…` and `a1b2…` name the
 * same contact, hub and rows, whoever wrote them.
 */
export const Uuid = z.uuid({ message: 'must be a UUID' }).toLowerCase();

export const IsoDateTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone' });

/**
 * A JSON object of at most `maxBytes` serialized and LIMITS.jsonDepth levels deep. Depth is checked
 * first: a deeper value is not serialized at all (JSON.stringify recurses).
 */
export const jsonObject = (maxBytes: number, what: string) =>
  z.record(z.string(), z.unknown()).superRefine((v, ctx) => {
    if (jsonDepth(v, LIMITS.jsonDepth) > LIMITS.jsonDepth) {
      ctx.addIssue({ code: 'custom', message: `${what} must be nested at most ${LIMITS.jsonDepth} levels deep (the object itself is level 1)` });
    } else if (jsonBytes(v) > maxBytes) {
      ctx.addIssue({ code: 'custom', message: `${what} must be at most ${maxBytes} bytes of JSON` });
    }
  });

export const Payload = jsonObject(LIMITS.payloadBytes, 'payload').openapi({
  description: `Event-specific data, a JSON object of at most ${LIMITS.payloadBytes} bytes.`,
  example: { channel: 'whatsapp', direction: 'outbound' },
});

/** Query-string integer within bounds, with a default. */
export const intParam = (min: number, max: number, def: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be an integer' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` })
    .default(def);

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    // Extension members (RFC 9457 §3.2) some answers carry; listed so that clients can rely on them.
    current_version: z.number().int().optional().openapi({ description: 'On a 409 from a stream or timeline append: the version the stream is at now.' }),
    expected_version: z
      .union([z.number().int(), z.string()])
      .optional()
      .openapi({ description: 'On a 409 wrong-expected-version: the expected_version the request gave.' }),
    limit: z.number().int().optional().openapi({ description: 'On a 429: the limit that was exceeded, per minute.' }),
    retry_after: z.number().int().optional().openapi({ description: 'On a 429: seconds until a retry may succeed (as the Retry-After header).' }),
  })
  .openapi('Problem');

/**
 * Problem answers of a route. A route that authenticates (401) is also rate limited: per API key, and
 * per client address after repeated failed authentications; both answer 429 with Retry-After.
 */
export const problemResponses = (...codes: number[]) =>
  Object.fromEntries(
    // Every authenticated route can be refused for a moment: 429 (rate limits), 503 (the tenant's shard is switching).
    [...codes, ...(codes.includes(401) && !codes.includes(429) ? [429] : []), ...(codes.includes(401) && !codes.includes(503) ? [503] : [])].map((code) => [
      code,
      {
        description:
          code === 429
            ? 'Too many requests (RFC 9457 problem); `Retry-After` says when to try again'
            : code === 503
              ? 'Unavailable for a moment (RFC 9457 problem), e.g. while the tenant moves to another shard; `Retry-After` says when to try again'
              : 'Problem (RFC 9457)',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  );

// ---------------------------------------------------------------- paging, the same on every list

/** `limit` of a list: 1..max, with a default. */
export const PageLimit = (max: number = LIMITS.pageSize, def: number = LIMITS.defaultPageSize) =>
  intParam(1, max, def).openapi({ type: 'integer', description: `Items per page: 1..${max}, default ${def}.` });

export const CursorParam = z
  .string()
  .min(1)
  .max(400)
  .optional()
  .openapi({ description: 'The `next_cursor` of the previous page, as given (same filters).' });

export const NextCursor = z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page; null on the last page.' });

/** `after` of a position-addressed read: exclusive. */
export const AfterParam = z.coerce
  .number({ message: 'must be a number' })
  .int({ message: 'must be an integer' })
  .min(0, { message: 'must be at least 0' });
