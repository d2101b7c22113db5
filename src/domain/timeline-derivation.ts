import type { TimelineSource } from './contact-event-types';
import type { EventSource } from './event-types';
import { fitDerivedText } from './limits';
import type { TimelineEntryRecord } from './schemas/contact-events';
import type { EventRecord } from './schemas/events';
import { iso } from './time';
import { timelineMappingFor } from './timeline-mapping';

/** Who a derived timeline entry says made it, by the source of the log event it came from. */
export const LOG_TO_TIMELINE_SOURCE: Record<EventSource, TimelineSource> = {
  system: 'system',
  webhook: 'webhook',
  manual: 'agent',
  cron: 'automation',
  workflow: 'workflow',
};

/**
 * The timeline entry a log event derives (null: its type maps to none, or it names no contact). The
 * entry shares the event's sequence number; the hub commits both in one transaction, so each event
 * derives its entry exactly once.
 */
export function deriveTimelineEntry(event: EventRecord, sequenceNumber: number, now: number, id: string): TimelineEntryRecord | null {
  const mapping = timelineMappingFor(event.event_type);
  if (!mapping || !event.contact_id) return null;
  const payload = event.payload;
  const description = typeof payload.description === 'string' ? payload.description : null;
  const userId = typeof event.metadata.user_id === 'string' && /^[0-9a-f-]{36}$/i.test(event.metadata.user_id) ? event.metadata.user_id : null;
  // The copied title and description are cut so that the entry stays within the record limit.
  return fitDerivedText({
    id,
    contact_id: event.contact_id,
    sequence_number: sequenceNumber,
    session_id: event.session_id,
    event_type: mapping.type,
    category: mapping.category,
    priority: mapping.priority ?? 'normal',
    title: typeof payload.title === 'string' ? payload.title : mapping.title,
    description,
    payload,
    metadata: { origin_event_type: event.event_type },
    source: LOG_TO_TIMELINE_SOURCE[event.source],
    triggered_by: userId,
    integration_source: null,
    is_realtime: false,
    delivered: false,
    delivered_at: null,
    read: false,
    read_at: null,
    visible_to_client: mapping.visibleToClient ?? false,
    visible_to_agent: true,
    expires_at: null,
    occurred_at: event.timestamp,
    created_at: iso(now),
    origin_event_id: event.id,
  });
}
