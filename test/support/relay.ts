import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { RelayError } from '../../src/hub/relay';
import { outboxItems, rowRecordId, type OutboxRow, type RelayQueue, type RelayRequest } from '../../src/relay-batcher/types';
import { relayMessageIds } from '../../src/domain/relay-message';
import { eventually, newTenant, uuid, type Tenant } from './api';

export type Dest = 'd1' | 'webhooks' | 'analytics';

/**
 * Wraps the hub's real relay sink: counts what reached each destination, and can make a destination
 * fail (fault injection), refuse chosen records (as a destination that works but rejects them would),
 * or hold every relay until released (to stop the hub between commit and relay).
 */
export class Recorder {
  readonly fail: Record<Dest, boolean> = { d1: false, webhooks: false, analytics: false };
  /** Record ids a destination refuses while taking the others (isolated failures). */
  readonly refuse: Record<Dest, Set<string>> = { d1: new Set(), webhooks: new Set(), analytics: new Set() };
  /** Record ids a destination refuses (isolated) only this many more times. */
  readonly refuseTimes: Record<Dest, Map<string, number>> = { d1: new Map(), webhooks: new Map(), analytics: new Map() };
  readonly counts: Record<Dest, Map<string, number>> = { d1: new Map(), webhooks: new Map(), analytics: new Map() };
  readonly attempts: Record<Dest, number> = { d1: 0, webhooks: 0, analytics: 0 };
  /** Calls that the real sink rejected (not injected). */
  readonly rejected: Record<Dest, number> = { d1: 0, webhooks: 0, analytics: 0 };
  hold: Promise<void> | null = null;

  private note(dest: Dest, id: string) {
    this.counts[dest].set(id, (this.counts[dest].get(id) ?? 0) + 1);
  }

  private check(dest: Dest, ids: string[]) {
    if (this.fail[dest]) throw new Error(dest === 'd1' ? 'injected: D1 unavailable' : `injected: ${dest} queue send failed`);
    if (ids.some((id) => this.refuse[dest].has(id))) throw new RelayError({ error: `injected: ${dest} refused a record`, isolated: true });
    const limited = ids.find((id) => (this.refuseTimes[dest].get(id) ?? 0) > 0);
    if (limited !== undefined) {
      this.refuseTimes[dest].set(limited, this.refuseTimes[dest].get(limited)! - 1);
      throw new RelayError({ error: `injected: ${dest} refused a record for a while`, isolated: true });
    }
  }

  async install(stub: DurableObjectStub<StreamHub>): Promise<void> {
    await runInDurableObject(stub, (hub: StreamHub) => {
      const sink = hub.sink;
      const writeD1 = sink.writeD1.bind(sink);
      const send = sink.send.bind(sink);
      sink.writeD1 = async (tenantId, rows) => {
        if (this.hold) await this.hold;
        this.attempts.d1 += 1;
        this.check('d1', rowIds(rows));
        await writeD1(tenantId, rows).catch((e: unknown) => {
          this.rejected.d1 += 1;
          throw e;
        });
        for (const id of rowIds(rows)) this.note('d1', id);
      };
      sink.send = async <Q extends RelayQueue>(queue: Q, messages: NonNullable<RelayRequest[Q]>) => {
        if (this.hold) await this.hold;
        this.attempts[queue] += 1;
        this.check(queue, messages.flatMap(relayMessageIds));
        await send(queue, messages).catch((e: unknown) => {
          this.rejected[queue] += 1;
          throw e;
        });
        for (const id of messages.flatMap(relayMessageIds)) this.note(queue, id);
      };
    });
  }
}

/** The record ids outbox rows carry (a log event's row also carries its derived entry). */
const rowIds = (rows: OutboxRow[]) => rows.flatMap((r) => outboxItems(r.item).map(itemId));

export const itemId = rowRecordId;

export const outbox = (stub: DurableObjectStub<StreamHub>) => runInDurableObject(stub, (hub: StreamHub) => hub.outboxStats());

/** A fresh tenant and contact (or the given ones), and the contact's hub with a Recorder in its relay sink. */
export async function recordedHub(
  opts: { t?: Tenant; contact?: string } = {},
): Promise<{ t: Tenant; contact: string; stub: DurableObjectStub<StreamHub>; rec: Recorder }> {
  const t = opts.t ?? (await newTenant());
  const contact = opts.contact ?? uuid();
  const stub = contactHubStub(env, t.id, contact);
  const rec = new Recorder();
  await rec.install(stub);
  return { t, contact, stub, rec };
}

/** Runs the hub's alarm until its outbox is empty (the alarm is how a failed relay is retried). */
export async function drainByAlarm(stub: DurableObjectStub<StreamHub>): Promise<void> {
  await eventually(
    async () => {
      await runDurableObjectAlarm(stub);
      return (await outbox(stub)).pending === 0;
    },
    { timeoutMs: 10_000, stepMs: 50 },
  );
}
