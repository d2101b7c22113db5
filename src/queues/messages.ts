import type { ContactEventRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';

/** What the relay puts on the `webhooks` and `analytics` queues: the whole committed record. */
export type RelayMessage =
  | { kind: 'event'; tenant_id: string; event: EventRecord }
  | { kind: 'contact_event'; tenant_id: string; contact_event: ContactEventRecord };

export const relayMessageId = (m: RelayMessage): string => (m.kind === 'event' ? m.event.id : m.contact_event.id);

/** Queue sendBatch limits: 100 messages and 256 KB per call; one message ≤ 128 KB. */
export async function sendAll(queue: Queue, bodies: unknown[]): Promise<void> {
  let chunk: MessageSendRequest[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = JSON.stringify(body).length + 100;
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
