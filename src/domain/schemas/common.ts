import { z } from '@hono/zod-openapi';
import { jsonBytes } from '../json';
import { LIMITS } from '../limits';

/**
 * Every UUID the API takes (contacts, sessions, messages, entries, events; in paths, bodies and query
 * strings) goes through this one schema, which answers it in lower case: `A1B2…` and `a1b2…` name the
 * same contact, hub and rows, whoever wrote them.
 */
export const Uuid = z.uuid({ message: 'must be a UUID' }).toLowerCase();

export const IsoDateTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone' });

/** A JSON object of at most `maxBytes` serialized. */
export const jsonObject = (maxBytes: number, what: string) =>
  z
    .record(z.string(), z.unknown())
    .refine((v) => jsonBytes(v) <= maxBytes, { message: `${what} must be at most ${maxBytes} bytes of JSON` });

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
  })
  .openapi('Problem');

export const problemResponses = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      code,
      { description: 'Problem (RFC 9457)', content: { 'application/problem+json': { schema: ProblemSchema } } },
    ]),
  );
