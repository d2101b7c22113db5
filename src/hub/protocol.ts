/**
 * The realtime protocol: JSON text frames between a contact's hub and the sockets watching it.
 * docs/realtime.md carries the same table; the browser console and client library build on these
 * exact frame names, so change them only together.
 *
 * Server → client
 * | frame      | fields                                                       | when |
 * |------------|--------------------------------------------------------------|------|
 * | `ready`    | `role`, `agent_id`, `last_sequence_number`, `after`, `reset`? | first frame after the upgrade; `after` is the resume point the hub uses. A socket that asked for `after` above `last_sequence_number` gets `after: 0` and `reset: true`: its resume point is not this contact's history, so it must drop what it holds and take the whole visible history that follows (the client library emits `reset`) |
 * | `event`    | `sequence_number`, `entry` (the timeline entry), `redelivery`? | each entry the role may see: catch-up (sequence > after, in order), then undelivered realtime entries at or below `after` (`redelivery: true`), then live |
 * | `caught_up`| `last_sequence_number`                                       | after the catch-up and redeliveries: what follows is live |
 * | `read`     | `id`, `read_at`                                              | an entry was read (agents only) |
 * | `read_range` | `up_to`, `read_at`, `marked`                               | `POST /contacts/{contact_id}/events/mark-read` marked `marked` entries read: every entry with sequence ≤ `up_to` that was unread and not expired at `read_at` (entries read before keep their time). One frame for the range, to agents only, like `read` |
 * | `deleted`  | `id`                                                         | an entry was deleted |
 * | `presence` | `agents`: [{ `agent_id`, `name` }]                           | on connect, and to everyone when an agent comes or goes |
 * | `typing`   | `agent_id` (null when the client types), `name`, `role`      | someone else on this contact is typing |
 * | `pong`     | —                                                            | answer to `ping` |
 * | `error`    | `problem` (RFC 9457 fields), `close_code`?                   | a bad frame (socket stays open), or a fatal one (then close with `close_code`, 4xxx) |
 *
 * A refused connection is a socket too: the Worker accepts the upgrade, sends one `error` frame and
 * closes with 4000 + the problem's HTTP status (4401 bad, expired or revoked token; 4403 token for
 * another contact or tenant; 4404 not found; 4422 bad query). A browser sees a refused HTTP upgrade
 * only as 1006, which cannot be told from a network failure.
 *
 * Client → server
 * | frame    | fields            | effect |
 * |----------|-------------------|--------|
 * | `ack`    | `sequence_number` | everything up to it was received: realtime entries up to it become delivered |
 * | `read`   | `id`              | marks the entry read (once) and tells the agents |
 * | `typing` | —                 | tells the others (at most one broadcast per socket per second) |
 * | `ping`   | —                 | `pong` (answered without waking a hibernated hub when sent exactly as `{"type":"ping"}`) |
 */
import { utf8Bytes } from '../domain/json';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import { CLOSE, problem, refusalCloseCode, type ClientFrame, type Problem, type ServerFrame as WireFrame, type TimelineEntry } from '../../packages/client/src/protocol';

// The frame types, close codes and problem builder live in the module the client library shares
// (it imports nothing, so the browser bundle stays free of server code); the server re-exports them.
export { CLOSE, problem, refusalCloseCode, type ClientFrame, type Problem };
export type { PresenceAgent } from '../../packages/client/src/protocol';

/** The hub sends its own timeline records; they must keep the shape the client library reads. */
export type ServerFrame = WireFrame<TimelineEntryRecord>;
type Assignable<T extends U, U> = T;
export type EntryMatchesClient = Assignable<TimelineEntryRecord, TimelineEntry>;

/** Frames larger than this are refused (error frame, then close 4413). */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Exactly what the hub auto-answers while hibernated (Durable Object WebSocket auto-response). */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

export const encode = (frame: ServerFrame): string => JSON.stringify(frame);

export const invalidFrame = (detail: string, errors?: Problem['errors']) => problem('invalid-frame', 'Invalid frame', 400, detail, errors);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FIELDS: Record<ClientFrame['type'], readonly string[]> = {
  ack: ['type', 'sequence_number'],
  read: ['type', 'id'],
  typing: ['type'],
  ping: ['type'],
};

/** Byte length of a text frame, counting UTF-8 only when the character count alone cannot decide. */
export function frameBytes(message: string): number {
  if (message.length * 3 <= MAX_FRAME_BYTES) return message.length;
  return utf8Bytes(message);
}

/**
 * The first checks of a client frame, on the contact stream and the inbox alike: JSON text, an object,
 * a known `type`, no unknown field (like the HTTP API's strict bodies, so that a client bug shows up at
 * once instead of being silently ignored). Returns the object with the unknown fields named so far, or
 * the problem that ends parsing.
 */
export function readFrame<T extends string>(
  message: string | ArrayBuffer,
  fields: Record<T, readonly string[]>,
): { ok: true; kind: T; obj: Record<string, unknown>; errors: { path: string; message: string }[] } | { ok: false; problem: Problem } {
  if (typeof message !== 'string') return { ok: false, problem: invalidFrame('Frames are JSON text; binary frames are not accepted.') };
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch (e) {
    return { ok: false, problem: invalidFrame(`The frame is not valid JSON: ${(e as Error).message}`) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: invalidFrame('A frame is a JSON object with a "type".') };
  }
  const obj = value as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string' || !Object.hasOwn(fields, type)) {
    return {
      ok: false,
      problem: invalidFrame(`Unknown frame type ${JSON.stringify(type ?? null)}.`, [{ path: 'type', message: `must be one of ${Object.keys(fields).join(', ')}` }]),
    };
  }
  const kind = type as T;
  const errors: { path: string; message: string }[] = [];
  for (const key of Object.keys(obj)) if (!fields[kind].includes(key)) errors.push({ path: key, message: 'is not a known field' });
  return { ok: true, kind, obj, errors };
}

/** Parses one client frame of the contact stream, each bad field named. */
export function parseClientFrame(message: string | ArrayBuffer): { ok: true; frame: ClientFrame } | { ok: false; problem: Problem } {
  const read = readFrame<ClientFrame['type']>(message, FIELDS);
  if (!read.ok) return read;
  const { kind, obj, errors } = read;
  if (kind === 'ack') {
    const n = obj.sequence_number;
    if (n === undefined) errors.push({ path: 'sequence_number', message: 'is required' });
    else if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) errors.push({ path: 'sequence_number', message: 'must be a non-negative integer' });
  }
  if (kind === 'read') {
    const id = obj.id;
    if (id === undefined) errors.push({ path: 'id', message: 'is required' });
    else if (typeof id !== 'string' || !UUID.test(id)) errors.push({ path: 'id', message: 'must be a UUID' });
  }
  if (errors.length) return { ok: false, problem: invalidFrame(`The ${kind} frame has invalid fields.`, errors) };
  switch (kind) {
    case 'ack':
      return { ok: true, frame: { type: 'ack', sequence_number: obj.sequence_number as number } };
    case 'read':
      return { ok: true, frame: { type: 'read', id: obj.id as string } };
    default:
      return { ok: true, frame: { type: kind } };
  }
}
