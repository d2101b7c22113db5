import { entriesCountMessages, entryCountMessage, eventCountMessage, eventsCountMessages, type AnalyticsMessage, type RelayMessage } from '../domain/relay-message';
import type { RelayBatcher } from '../relay-batcher/batcher';
import { outboxItems, type OutboxItem, type OutboxRow, type RelayFailure, type RelayQueue, type RelayRequest, type RelayResult } from '../relay-batcher/types';
import { MESSAGE_BYTES, oversizedRelayMessage } from '../queues/messages';

/**
 * What a RelaySink call rejects with: the batcher's answer for that destination. A sink replaced in
 * tests may reject with any Error, which counts as not isolated (as an outage would).
 */
export class RelayError extends Error {
  constructor(readonly failure: RelayFailure) {
    super(failure.error);
  }
}

/** The failure a sink call rejected with (by shape: a RelayError may come from another module instance). */
export function relayFailureOf(reason: unknown): RelayFailure {
  const f = reason !== null && typeof reason === 'object' ? (reason as { failure?: Partial<RelayFailure> }).failure : undefined;
  return f && typeof f.error === 'string' ? { error: f.error, isolated: f.isolated === true } : { error: String(reason), isolated: false };
}

const BATCHERS = 4;
const RELAY_TIMEOUT_MS = 30_000;

/** Which of the BATCHERS batchers a hub (by its Durable Object id) relays through. */
export function batcherOf(key: string): number {
  // FNV-1a: stable, cheap, and spreads hub ids evenly.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % BATCHERS;
}

type Staged = { [K in keyof Required<RelayRequest>]?: { value: RelayRequest[K]; resolve: () => void; reject: (e: Error) => void } };

/**
 * Where a hub's relay sends outbox rows: D1 and the two queues. Kept as an object of its own so that
 * tests can make a destination fail for a while (fault injection) without touching the hub.
 *
 * The calls of one relay pass (made in the same tick) travel together as one RPC to a RelayBatcher,
 * which merges the passes of many hubs into one D1 batch and one send per queue (group commit across
 * contacts): without it every append would cost its own D1 write and two queue sends.
 */
export class RelaySink {
  private staged: Staged | null = null;

  constructor(
    private readonly env: Env,
    private readonly hubKey: string,
  ) {}

  writeD1(tenantId: string, rows: OutboxRow[]): Promise<void> {
    return this.stage('d1', { tenantId, rows });
  }

  send<Q extends RelayQueue>(queue: Q, messages: NonNullable<RelayRequest[Q]>): Promise<void> {
    return this.stage(queue, messages);
  }

  private stage<K extends keyof RelayRequest>(dest: K, value: NonNullable<RelayRequest[K]>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.staged) {
        this.staged = {};
        queueMicrotask(() => void this.flush());
      }
      const staged = this.staged as Record<string, unknown>;
      if (staged[dest]) {
        // A second call for the same destination in one tick travels on its own.
        void this.direct({ [dest]: value } as RelayRequest).then((r) => settle(r[dest], resolve, reject));
        return;
      }
      staged[dest] = { value, resolve, reject };
    });
  }

  private async flush(): Promise<void> {
    const staged = this.staged ?? {};
    this.staged = null;
    const request: RelayRequest = {};
    if (staged.d1) request.d1 = staged.d1.value;
    if (staged.webhooks) request.webhooks = staged.webhooks.value;
    if (staged.analytics) request.analytics = staged.analytics.value;
    const result = await this.direct(request);
    for (const dest of ['d1', 'webhooks', 'analytics'] as const) {
      const s = staged[dest];
      if (s) settle(result[dest], s.resolve, s.reject);
    }
  }

  private async direct(request: RelayRequest): Promise<RelayResult> {
    const ns = this.env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const stub = ns.get(ns.idFromName(`relay-${batcherOf(this.hubKey)}`));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A batcher that never answers must not wedge the hub's relay (its alarm retries instead).
      return await Promise.race([
        stub.relay(request) as Promise<RelayResult>,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('relay batcher timed out')), RELAY_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      const failure = { error: String(e), isolated: false };
      return { d1: failure, webhooks: failure, analytics: failure };
    } finally {
      clearTimeout(timer);
    }
  }
}

function settle(failure: RelayFailure | null | undefined, resolve: () => void, reject: (e: Error) => void): void {
  if (failure === null) resolve();
  else reject(new RelayError(failure ?? { error: 'relay: no result for this destination', isolated: false }));
}

/** The queue messages of one outbox row: its event's, and its derived entry's when it carries one. */
export function relayMessages(tenantId: string, item: OutboxItem): RelayMessage[] {
  return outboxItems(item).flatMap((i) => relayMessage(tenantId, i) ?? []);
}

/**
 * The analytics queue's messages of one row: what the rollups count of its records. A derived entry
 * travels inside its event's message, and the records of one append share their messages, so that
 * the consumer counts them under one processed marker.
 */
export function analyticsMessages(tenantId: string, item: OutboxItem): AnalyticsMessage[] {
  if (item.kind === 'event') return [eventCountMessage(tenantId, item.insert.record, item.derived)];
  if (item.kind === 'timeline' && item.announce) return [entryCountMessage(tenantId, item.record)];
  if (item.kind === 'entries') return entriesCountMessages(tenantId, item.records);
  if (item.kind === 'events') return eventsCountMessages(tenantId, item.items.map((i) => ({ event: i.insert.record, derived: i.derived })));
  return [];
}

function relayMessage(tenantId: string, item: OutboxItem): RelayMessage | null {
  if (item.kind === 'event') return { kind: 'event', tenant_id: tenantId, event: item.insert.record };
  if (item.kind === 'timeline' && item.announce) return { kind: 'contact_event', tenant_id: tenantId, contact_event: item.record };
  if (item.kind === 'timeline' && item.receipt) return { kind: 'contact_event_receipt', tenant_id: tenantId, receipt: item.receipt, contact_event: item.record };
  return null;
}

/**
 * The queues a row's message could never be sent to (over the message limit), with the message's size:
 * such a row would fail every send it is part of, forever, so the relay parks it for that queue.
 */
export function oversizedQueues(tenantId: string, r: OutboxRow): { queue: RelayQueue; bytes: number }[] {
  // A batch's row is written only by versions that refuse a record over the record limit (and an event's
  // payload and metadata over theirs), so none of its messages can be over the message limit. A message is the outbox body's record in another short
  // envelope (a tenant id instead of a revision or idempotency key); at 3 bytes per UTF-16 unit at most,
  // a body this short cannot make one too large, and it need not be serialized again.
  if (r.item.kind === 'entries' || r.item.kind === 'events' || (!r.wq && !r.aq) || (r.chars !== undefined && r.chars * 3 + 2_000 <= MESSAGE_BYTES)) return [];
  const over = (list: (RelayMessage | AnalyticsMessage)[]) => list.map(oversizedRelayMessage).find((b) => b !== null) ?? null;
  const out: { queue: RelayQueue; bytes: number }[] = [];
  const wq = r.wq ? over(relayMessages(tenantId, r.item)) : null;
  const aq = r.aq ? over(analyticsMessages(tenantId, r.item)) : null;
  if (wq !== null) out.push({ queue: 'webhooks', bytes: wq });
  if (aq !== null) out.push({ queue: 'analytics', bytes: aq });
  return out;
}
