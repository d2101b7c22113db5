import { tenantDb } from '../db/shards';
import {
  activeSubscriptions,
  insertDeliveriesStatement,
  touchTriggeredStatement,
  unstartedDeliveriesStatement,
  type NewDelivery,
} from '../db/webhooks';
import { servedEvent } from '../db/events';
import { deterministicUuid } from '../domain/ids';
import { failedBatchRetryDelaySeconds } from '../domain/queue-retry';
import { filterOf, matchesSubject, subjectOf, type WebhookSubject } from '../domain/webhook-filters';
import { isWebhookOperationalType, receiptEventId } from '../domain/webhook-mapping';
import type { DeliveryMessage } from './deliveries';
import type { RelayMessage } from '../domain/relay-message';
import { sendAll, unpackRelay, type RelayQueueBody } from './messages';

/** What a relayed record becomes on the wire, before matching: null when it never leaves (internal only). */
interface Outgoing extends WebhookSubject {
  eventId: string;
  body: string;
  kind: RelayMessage['kind'];
  /** For Eventline's own webhook.* events: the subscription they are about (never sent to it). */
  aboutSubscription?: string;
}

export async function outgoing(m: RelayMessage): Promise<Outgoing | null> {
  const subject = subjectOf(m);
  if (subject === null) return null;
  const { type } = subject;
  if (m.kind === 'event') {
    const about = isWebhookOperationalType(m.event.event_type) ? m.event.payload.subscription_id : undefined;
    return {
      eventId: m.event.id,
      type,
      // Shown as every read shows it (docs/api.md "Schema versions", "Positions"): upcast, and `position`
      // null for a hub's event, which reaches the queue alongside the log, not after it.
      body: JSON.stringify({ type, timestamp: m.event.timestamp, data: servedEvent(m.event) }),
      kind: 'event',
      ...(typeof about === 'string' ? { aboutSubscription: about } : {}),
    };
  }
  const entry = m.contact_event;
  if (m.kind === 'contact_event_receipt') {
    const at = m.receipt === 'read' ? entry.read_at : entry.delivered_at;
    return {
      // Its own event id, a function of (entry, transition): the delivery id follows from it, so a
      // replayed receipt lands on the same delivery, and it never meets the entry's own delivery.
      eventId: await receiptEventId(entry.id, m.receipt),
      type,
      body: JSON.stringify({ type, timestamp: at ?? entry.occurred_at, data: entry }),
      kind: m.kind,
      contactEvent: subject.contactEvent,
    };
  }
  return {
    eventId: entry.id,
    type,
    body: JSON.stringify({ type, timestamp: entry.occurred_at, data: entry }),
    kind: 'contact_event',
    contactEvent: subject.contactEvent,
  };
}

/** The delivery id is a function of (event, subscription): replays compute the same row. It is also the webhook-id. */
export const deliveryIdFor = (eventId: string, subscriptionId: string) => deterministicUuid(`delivery:${eventId}:${subscriptionId}`);

// Keeps one D1 statement's JSON parameter well under D1's limits.
const CHUNK_BYTES = 400_000;

function chunks(rows: NewDelivery[]): NewDelivery[][] {
  const out: NewDelivery[][] = [];
  let current: NewDelivery[] = [];
  let bytes = 0;
  for (const r of rows) {
    const size = r.body.length + 200;
    if (current.length > 0 && (bytes + size > CHUNK_BYTES || current.length >= 500)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * One tenant's part of a batch: match against its active subscriptions, record one delivery per
 * (event, endpoint) — idempotent by the unique (event id, subscription id) — and enqueue every
 * delivery not yet attempted. A replayed relay message finds its deliveries and re-enqueues only
 * those never attempted (harmless: the delivery consumer's lease lets one message attempt).
 */
export async function fanOut(env: Env, tenantId: string, messages: RelayMessage[], now = Date.now()): Promise<number> {
  const db = await tenantDb(env, tenantId);
  const subs = await activeSubscriptions(db, tenantId);
  if (subs.length === 0) return 0;
  const filters = subs.map((s) => ({ sub: s, filter: filterOf(s) }));
  const rows: NewDelivery[] = [];
  const seen = new Set<string>();
  for (const m of messages) {
    const out = await outgoing(m);
    if (!out) continue;
    for (const { sub, filter } of filters) {
      if (!matchesSubject(filter, out) || out.aboutSubscription === sub.id) continue;
      const id = await deliveryIdFor(out.eventId, sub.id);
      if (seen.has(id)) continue;
      seen.add(id);
      rows.push({ id, subscription_id: sub.id, event_id: out.eventId, event_type: out.type, body: out.body });
    }
  }
  if (rows.length === 0) return 0;
  const toSend: DeliveryMessage[] = [];
  for (const part of chunks(rows)) {
    const results = await db.batch([
      insertDeliveriesStatement(db, tenantId, part, now),
      touchTriggeredStatement(db, tenantId, [...new Set(part.map((r) => r.subscription_id))], now),
      unstartedDeliveriesStatement(db, tenantId, part.map((r) => r.id)),
    ]);
    const unstarted = (results[2]?.results ?? []) as { id: string; generation: number }[];
    for (const u of unstarted) toSend.push({ tenant_id: tenantId, delivery_id: u.id, generation: u.generation });
  }
  await sendAll(env.DELIVERIES_QUEUE, toSend);
  return rows.length;
}

export async function consumeWebhooks(batch: MessageBatch<RelayQueueBody>, env: Env, _ctx: ExecutionContext): Promise<void> {
  const byTenant = new Map<string, Message<RelayQueueBody>[]>();
  for (const msg of batch.messages) {
    const list = byTenant.get(msg.body.tenant_id) ?? [];
    list.push(msg);
    byTenant.set(msg.body.tenant_id, list);
  }
  // Tenants fail on their own: one tenant's error retries only its messages.
  await Promise.all(
    [...byTenant].map(async ([tenantId, msgs]) => {
      try {
        await fanOut(env, tenantId, msgs.flatMap((m) => unpackRelay(m.body)));
        for (const m of msgs) m.ack();
      } catch (error) {
        console.error(JSON.stringify({ msg: 'webhook fan-out failed', tenant_id: tenantId, error: String(error) }));
        for (const m of msgs) m.retry({ delaySeconds: failedBatchRetryDelaySeconds(m.attempts) });
      }
    }),
  );
}
