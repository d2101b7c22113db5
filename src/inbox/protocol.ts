/**
 * The inbox protocol: JSON text frames between an agent's inbox (src/inbox/inbox.ts) and the agent's
 * sockets, many contacts on one socket. docs/realtime.md "Inbox" carries the same tables; the wire
 * types are in packages/client/src/protocol.ts (InboxServerFrame, InboxClientFrame). Per contact the
 * frames are the contact stream's (src/hub/protocol.ts), each with `contact_id`, and the same
 * guarantees hold: agent-visible entries only, in order, no gap, no duplicate across catch-up and
 * live, resume with `after`.
 *
 * Server → client
 * | frame         | fields                                                                   | when |
 * |---------------|--------------------------------------------------------------------------|------|
 * | `ready`       | `role` (`agent`), `agent_id`, `max_contacts`                             | first frame after the upgrade |
 * | `subscribed`  | `contact_id`, `last_sequence_number`, `after`, `unread`, `reset`?        | answer to `subscribe`; `after` is the resume point used (`reset: true` as on the contact stream's `ready`) |
 * | `presence`    | `contact_id`, `agents`                                                   | after `subscribed`, and when an agent comes to or leaves the contact (by socket or inbox) |
 * | `event`       | `contact_id`, `sequence_number`, `entry`, `redelivery`?                  | catch-up (sequence > after, in order), redeliveries, then live |
 * | `caught_up`   | `contact_id`, `last_sequence_number`                                     | the contact's catch-up is done: what follows is live |
 * | `unread`      | `contact_id`, `unread`                                                   | the contact's unread count (agent-visible, unread, unexpired entries) changed |
 * | `read`        | `contact_id`, `id`, `read_at`                                            | an entry was read |
 * | `read_range`  | `contact_id`, `up_to`, `read_at`, `marked`                               | entries up to `up_to` were marked read in one step (as on the contact stream) |
 * | `deleted`     | `contact_id`, `id`                                                       | an entry was deleted |
 * | `typing`      | `contact_id`, `agent_id`, `name`, `role`                                 | someone else on the contact is typing |
 * | `unsubscribed`| `contact_id`                                                             | answer to `unsubscribe`: nothing more of the contact follows |
 * | `pong`        | —                                                                        | answer to `ping` |
 * | `error`       | `problem`, `contact_id`?, `close_code`?                                  | a refused frame (names the contact it was about; 410: the contact was erased and its subscription ended), or a fatal one (then close) |
 *
 * Client → server
 * | frame         | fields                          | effect |
 * |---------------|---------------------------------|--------|
 * | `subscribe`   | `contact_id`, `after`?          | watch the contact (at most MAX_INBOX_CONTACTS per socket); `after` as on the contact stream (omitted: live from now) |
 * | `unsubscribe` | `contact_id`                    | stop watching it |
 * | `ack`         | `contact_id`, `sequence_number` | the contact's realtime entries up to it (and up to what the socket was sent) become delivered |
 * | `read`        | `contact_id`, `id`              | marks the entry read (once); every agent on the contact hears it |
 * | `typing`      | `contact_id`                    | tells the others on the contact (at most once per second per socket and contact) |
 * | `ping`        | —                               | `pong` (answered without waking a hibernated inbox when sent exactly as `{"type":"ping"}`) |
 */
import { MAX_INBOX_CONTACTS, type InboxClientFrame, type InboxServerFrame } from '../../packages/client/src/protocol';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import { invalidFrame, problem, readFrame, type Problem } from '../hub/protocol';

export { MAX_INBOX_CONTACTS, type InboxClientFrame };

export type InboxFrame = InboxServerFrame<TimelineEntryRecord>;

export const encodeInbox = (frame: InboxFrame): string => JSON.stringify(frame);

/** The `event` frame around an entry's stored JSON text (same bytes as encodeInbox({ type: 'event', … })). */
export const inboxEventText = (contactId: string, seq: number, body: string): string =>
  `{"type":"event","contact_id":${JSON.stringify(contactId)},"sequence_number":${seq},"entry":${body}}`;

export const tooManyContacts = (): Problem =>
  problem('too-many-contacts', 'Too many contacts', 422, `A socket subscribes to at most ${MAX_INBOX_CONTACTS} contacts; unsubscribe from one first, or open another socket.`, [
    { path: 'contact_id', message: `is beyond the limit of ${MAX_INBOX_CONTACTS} contacts per socket` },
  ]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FIELDS: Record<InboxClientFrame['type'], readonly string[]> = {
  subscribe: ['type', 'contact_id', 'after'],
  unsubscribe: ['type', 'contact_id'],
  ack: ['type', 'contact_id', 'sequence_number'],
  read: ['type', 'contact_id', 'id'],
  typing: ['type', 'contact_id'],
  ping: ['type'],
};

type FieldErrors = { path: string; message: string }[];

function uuidField(obj: Record<string, unknown>, key: string, errors: FieldErrors): string {
  const v = obj[key];
  if (v === undefined) errors.push({ path: key, message: 'is required' });
  else if (typeof v !== 'string' || !UUID.test(v)) errors.push({ path: key, message: 'must be a UUID' });
  // Lower case, as everywhere at the edge: one contact has one hub.
  return typeof v === 'string' ? v.toLowerCase() : '';
}

function countField(obj: Record<string, unknown>, key: string, required: boolean, errors: FieldErrors): number | undefined {
  const n = obj[key];
  if (n === undefined) {
    if (required) errors.push({ path: key, message: 'is required' });
    return undefined;
  }
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) errors.push({ path: key, message: 'must be a non-negative integer' });
  return n as number;
}

/** Parses one client frame of the inbox stream: unknown fields refused, each bad field named (as on the contact stream). */
export function parseInboxFrame(message: string | ArrayBuffer): { ok: true; frame: InboxClientFrame } | { ok: false; problem: Problem } {
  const read = readFrame<InboxClientFrame['type']>(message, FIELDS);
  if (!read.ok) return read;
  const { kind, obj, errors } = read;
  if (kind === 'ping') return errors.length ? { ok: false, problem: invalidFrame('The ping frame has invalid fields.', errors) } : { ok: true, frame: { type: 'ping' } };
  const contactId = uuidField(obj, 'contact_id', errors);
  let frame: InboxClientFrame;
  switch (kind) {
    case 'subscribe': {
      const after = countField(obj, 'after', false, errors);
      frame = { type: 'subscribe', contact_id: contactId, ...(after === undefined ? {} : { after }) };
      break;
    }
    case 'ack':
      frame = { type: 'ack', contact_id: contactId, sequence_number: countField(obj, 'sequence_number', true, errors) ?? 0 };
      break;
    case 'read':
      frame = { type: 'read', contact_id: contactId, id: uuidField(obj, 'id', errors) };
      break;
    default:
      frame = { type: kind, contact_id: contactId };
  }
  if (errors.length) return { ok: false, problem: invalidFrame(`The ${kind} frame has invalid fields.`, errors) };
  return { ok: true, frame };
}
