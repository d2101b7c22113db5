import { tenantDb } from '../db/shards';
import { activeSubscriptions, type NewDelivery } from '../db/webhooks';
import { eraseContactRows, eraseStreamRows, eraseTombstonesStatement } from '../db/erase';
import type { OwnedId } from '../db/owners';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';
import { filterOf, matchesSubject } from '../domain/webhook-filters';
import type { RelayMessage } from '../domain/relay-message';
import { HOUR_MS, iso } from '../domain/time';
import { deliveryIdFor, outgoing } from '../queues/webhooks';
import type { AlarmScheduler } from './alarms';
import type { LogStore } from './log-store';
import type { HubMeta } from './meta';
import type { Outbox } from './outbox';
import type { RecordIds } from './record-ids';
import { applyHubSchema } from './storage';
import type { TimelineStore } from './timeline-store';
import { NOTHING_ERASED, type HubEraseCounts, type HubOwner } from './types';

/**
 * How far back a record may still be on its way through the webhooks queue when its contact is erased
 * (queue retries and delays are minutes; this leaves a wide margin).
 */
export const IN_FLIGHT_MS = 24 * HOUR_MS;

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
  records: { events: EventRecord[]; entries: TimelineEntryRecord[]; receipts?: TimelineEntryRecord[] },
): Promise<number> {
  const receipts = records.receipts ?? [];
  if (records.events.length === 0 && records.entries.length === 0 && receipts.length === 0) return 0;
  const subs = await activeSubscriptions(d1, tenantId);
  if (subs.length === 0) return 0;
  const messages: RelayMessage[] = [
    ...records.events.map((event): RelayMessage => ({ kind: 'event', tenant_id: tenantId, event })),
    ...records.entries.map((contact_event): RelayMessage => ({ kind: 'contact_event', tenant_id: tenantId, contact_event })),
    ...receiptMessages(tenantId, receipts),
  ];
  const rows: NewDelivery[] = [];
  for (const m of messages) {
    const out = await outgoing(m);
    if (!out) continue;
    for (const sub of subs) {
      if (!matchesSubject(filterOf(sub), out) || out.aboutSubscription === sub.id) continue;
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

/** The read and delivered receipts these entries sent. */
function receiptMessages(tenantId: string, entries: TimelineEntryRecord[]): RelayMessage[] {
  return entries.flatMap((contact_event) =>
    (['read', 'delivered'] as const)
      .filter((receipt) => (receipt === 'read' ? contact_event.read : contact_event.delivered))
      .map((receipt): RelayMessage => ({ kind: 'contact_event_receipt', tenant_id: tenantId, receipt, contact_event })),
  );
}

/** The parts of a hub that an erase empties. */
export interface ErasableHub {
  ctx: DurableObjectState;
  env: Env;
  owner: HubOwner;
  streamId: string;
  ids: RecordIds;
  log: LogStore;
  timeline: TimelineStore;
  outbox: Outbox;
  meta: HubMeta;
  alarms: AlarmScheduler;
  lastSequence: number;
}

/**
 * Erases a hub's owner everywhere but R2 (the Worker rewrites archives after this answers): its D1
 * rows, then the hub's storage. Answers with counts per store.
 * The relay is stopped and drained first, then the erase runs under blockConcurrencyWhile: an append
 * delivered during the D1 delete would otherwise commit here, be relayed to D1 after the delete
 * (surviving the erase there) and then be wiped from the hub. (The drain happens outside the block:
 * the completion of a D1 call the relay made before the block would itself wait for the block to end.)
 * The counter survives as a tombstone: sequence numbers are never reused, so a client resuming with
 * `after=N` from before the erase never skips a new entry that would otherwise reuse N.
 */
export async function eraseHub(hub: ErasableHub): Promise<HubEraseCounts> {
  const { ctx, env, owner, streamId, ids, log, timeline, outbox, meta, alarms } = hub;
  await outbox.pause();
  try {
    return await ctx.blockConcurrencyWhile(async () => {
      const db = await tenantDb(env, owner.tenantId);
      const hubEvents = log.count();
      const hubEntries = timeline.count(true, Date.now());
      if (owner.kind === 'contact') {
        // Before the D1 delete: a late fan-out between the two would otherwise create a live delivery.
        const since = iso(Date.now() - IN_FLIGHT_MS);
        await closeInFlightDeliveries(db, owner.tenantId, {
          events: log.committedSince(since),
          entries: timeline.committedSince(since),
          receipts: timeline.receiptsSince(since),
        });
      }
      // Even a hub that holds nothing deletes in D1 (scoped to the caller's tenant): the request is
      // idempotent, and a retry after a crash between the D1 delete and deleteAll must still finish.
      const hubIds: OwnedId[] = [...log.ids().map((id) => ({ kind: 'event' as const, id })), ...timeline.ids().map((id) => ({ kind: 'entry' as const, id }))];
      const d1 =
        owner.kind === 'contact'
          ? await eraseContactRows(db, owner.tenantId, owner.id, streamId, hubIds)
          : { ...NOTHING_ERASED, events: await eraseStreamRows(db, owner.tenantId, streamId, hubIds) };
      await outbox.clearBacklog(true);
      for (const ws of ctx.getWebSockets()) ws.close(4410, 'contact erased');
      const highWater = hub.lastSequence;
      // First, in one transaction, everything but the counter: should the instance die before the
      // tombstone is written back below, the rows are gone and the counter is still stored.
      ctx.storage.transactionSync(() => {
        log.deleteAll();
        timeline.deleteAll();
        ids.deleteAll();
        outbox.deleteAll();
        meta.deleteAllButSequence();
        meta.saveSequence(highWater);
      });
      await alarms.cancel();
      // Then all of the storage (freed pages included), with the tombstone written back in the same
      // turn, before any await: deleteAll takes effect at once, and writes made in one turn are
      // committed together (write coalescing), so no window leaves a storage without its counter.
      const cleared = ctx.storage.deleteAll();
      ids.adopt(applyHubSchema(ctx.storage.sql));
      if (highWater > 0) meta.saveSequence(highWater);
      await cleared;
      outbox.forget();
      return { ...d1, hub_events: hubEvents, hub_entries: hubEntries, sequence_number: meta.lastSequence() };
    });
  } finally {
    outbox.resume();
  }
}
