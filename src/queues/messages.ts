import type { AnalyticsMessage, RelayMessage } from '../domain/relay-message';
import { utf8Bytes } from '../domain/json';

// Re-exported for the modules that take the queue's whole vocabulary from here (the relay, the append path).
export { relayMessageId, type AnalyticsMessage, type RelayMessage } from '../domain/relay-message';

/** A record on either queue: whole on `webhooks`, counted on `analytics` (where older producers sent it whole). */
export type QueueRecord = RelayMessage | AnalyticsMessage;

/**
 * Many relayed records of one tenant in one queue message. Queues limit (and bill) per message, and
 * every message costs the broker and the consumer a round of work: a relay pass of 100 records goes
 * as one or two packs instead of 100 messages. Consumers count and fan out per record, idempotently,
 * so a pack that is retried whole repeats nothing.
 */
export interface RelayPack<M extends QueueRecord = RelayMessage> {
  kind: 'pack';
  tenant_id: string;
  messages: M[];
}

/** What the `webhooks` and `analytics` queues carry: a single record (older producers, replays) or a pack. */
export type RelayQueueBody<M extends QueueRecord = RelayMessage> = M | RelayPack<M>;

/**
 * The records a queue message carries. Bodies cross the queue as JSON and are checked by the consumers
 * record by record, so anything that is not a well-formed pack comes back as one (possibly malformed)
 * record rather than throwing and failing its whole batch.
 */
export function unpackRelay<M extends QueueRecord>(body: RelayQueueBody<M>): M[] {
  const b = body as unknown;
  if (b !== null && typeof b === 'object' && (b as { kind?: unknown }).kind === 'pack' && Array.isArray((b as RelayPack<M>).messages)) {
    return (b as RelayPack<M>).messages;
  }
  return [body as M];
}

/** A pack stays well under the 128 KB message limit. */
export const PACK_BYTES = 96_000;

/** Queues refuse a message whose body is over 128,000 bytes. */
export const MESSAGE_BYTES = 128_000;
/** Room left for what the broker adds around a body. */
const MESSAGE_MARGIN = 1_000;

/**
 * The size of a record sent alone, when it cannot be sent at all (over the message limit), else
 * null. Such a record would fail every send it is part of, forever: the relay parks it instead.
 */
export function oversizedRelayMessage(m: QueueRecord): number | null {
  const bytes = utf8Bytes(JSON.stringify(m));
  return bytes + MESSAGE_MARGIN > MESSAGE_BYTES ? bytes : null;
}


/** Groups records by tenant (keeping their order) into packs of at most PACK_BYTES; a lone record goes as is. */
export function packRelayMessages<M extends QueueRecord>(messages: M[]): RelayQueueBody<M>[] {
  const out: RelayQueueBody<M>[] = [];
  const open = new Map<string, { pack: RelayPack<M>; bytes: number }>();
  const close = (tenantId: string) => {
    const current = open.get(tenantId);
    if (!current) return;
    out.push(current.pack.messages.length === 1 ? current.pack.messages[0]! : current.pack);
    open.delete(tenantId);
  };
  for (const m of messages) {
    const bytes = utf8Bytes(JSON.stringify(m)) + 1;
    const current = open.get(m.tenant_id);
    if (current && current.bytes + bytes > PACK_BYTES) close(m.tenant_id);
    const target = open.get(m.tenant_id) ?? { pack: { kind: 'pack' as const, tenant_id: m.tenant_id, messages: [] as M[] }, bytes: 64 };
    target.pack.messages.push(m);
    target.bytes += bytes;
    open.set(m.tenant_id, target);
  }
  for (const tenantId of [...open.keys()]) close(tenantId);
  return out;
}

/** Sends relayed records to the webhooks or analytics queue, packed. */
export function sendRelay(queue: Queue, messages: QueueRecord[]): Promise<void> {
  return sendAll(queue, packRelayMessages(messages));
}

/** Queue sendBatch limits: 100 messages and 256 KB per call; one message ≤ 128 KB. */
export async function sendAll(queue: Queue, bodies: unknown[]): Promise<void> {
  let chunk: MessageSendRequest[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = utf8Bytes(JSON.stringify(body)) + 100;
    if (chunk.length === 100 || (chunk.length > 0 && bytes + size > 240_000)) {
      await queue.sendBatch(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push({ body, contentType: 'json' });
    bytes += size;
  }
  if (chunk.length > 0) await queue.sendBatch(chunk);
}
