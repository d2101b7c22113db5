import { activeSubscriptions, type NewDelivery } from '../db/webhooks';
import { eraseTombstonesStatement } from '../db/erase';
import type { ContactEventRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';
import { matchesContactEvent, matchesLogEvent } from '../domain/webhook-filters';
import type { RelayMessage } from '../queues/messages';
import { deliveryIdFor, filterOf, outgoing } from '../queues/webhooks';

/**
 * How far back a record may still be on its way through the webhooks queue when its contact is erased
 * (queue retries and delays are minutes; this leaves a wide margin).
 */
export const IN_FLIGHT_MS = 24 * 3_600_000;

/**
 * Deliveries that the webhooks queue may still create for the contact's recent records after the erase
 * (their relay messages were sent before it): each is recorded now as an `erased` delivery, with no
 * payload, under the id fan-out would give it. Fan-out then finds the row (it never overwrites one)
 * and enqueues only pending deliveries, so a late message sends nothing. The matching is fan-out's own
 * (src/queues/webhooks.ts). Answers how many were recorded.
 */
export async function closeInFlightDeliveries(
  d1: D1Database,
  tenantId: string,
  records: { events: EventRecord[]; entries: ContactEventRecord[] },
): Promise<number> {
  if (records.events.length === 0 && records.entries.length === 0) return 0;
  const subs = await activeSubscriptions(d1, tenantId);
  if (subs.length === 0) return 0;
  const messages: RelayMessage[] = [
    ...records.events.map((event): RelayMessage => ({ kind: 'event', tenant_id: tenantId, event })),
    ...records.entries.map((contact_event): RelayMessage => ({ kind: 'contact_event', tenant_id: tenantId, contact_event })),
  ];
  const rows: NewDelivery[] = [];
  for (const m of messages) {
    const out = outgoing(m);
    if (!out) continue;
    for (const sub of subs) {
      const filter = filterOf(sub);
      const match = out.contactEvent ? matchesContactEvent(filter, out.contactEvent) : matchesLogEvent(filter, out.type);
      if (!match || out.aboutSubscription === sub.id) continue;
      rows.push({ id: await deliveryIdFor(out.eventId, sub.id), subscription_id: sub.id, event_id: out.eventId, event_type: out.type, body: '{}' });
    }
  }
  let recorded = 0;
  for (let i = 0; i < rows.length; i += 500) {
    const r = await eraseTombstonesStatement(d1, tenantId, rows.slice(i, i + 500), Date.now()).run();
    recorded += r.meta.changes;
  }
  return recorded;
}
