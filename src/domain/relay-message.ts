import type { TimelineEntryRecord } from './schemas/contact-events';
import type { EventRecord } from './schemas/events';

/**
 * What the relay puts on the `webhooks` and `analytics` queues: the whole committed record. In domain/
 * because the rules that read it (analytics rollups, webhook filters) must not import the queues.
 */
export type RelayMessage =
  | { kind: 'event'; tenant_id: string; event: EventRecord }
  | { kind: 'contact_event'; tenant_id: string; contact_event: TimelineEntryRecord };

export const relayMessageId = (m: RelayMessage): string => (m.kind === 'event' ? m.event.id : m.contact_event.id);
