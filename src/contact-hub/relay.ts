import { deleteContactEventsStatement, upsertContactEventsStatement } from '../db/contact-events';
import { insertEventsStatement, type EventInsert } from '../db/events';
import type { ContactEventRecord } from '../domain/schemas/contact-events';
import { kickProjections } from '../projections/runner';
import { sendAll, type RelayMessage } from '../queues/messages';

/** An outbox row's body, by kind. */
export type OutboxItem =
  | { kind: 'event'; insert: EventInsert }
  | { kind: 'timeline'; record: ContactEventRecord; revision: number; announce: boolean }
  | { kind: 'timeline_delete'; id: string };

export interface OutboxRow {
  id: number;
  item: OutboxItem;
  d1: boolean;
  wq: boolean;
  aq: boolean;
}

/**
 * Where the relay sends outbox rows. Kept as an object of its own so that tests can make a
 * destination fail for a while (fault injection) without touching the hub.
 */
export class RelaySink {
  constructor(private readonly env: Env) {}

  /** Applies rows to D1 in outbox order, consecutive rows of a kind in one statement, all in one batch. */
  async writeD1(tenantId: string, rows: OutboxRow[]): Promise<void> {
    const db = this.env.DB;
    const statements: D1PreparedStatement[] = [];
    let run: OutboxRow[] = [];
    const flush = () => {
      const first = run[0];
      if (!first) return;
      const kind = first.item.kind;
      if (kind === 'event') {
        statements.push(insertEventsStatement(db, tenantId, run.map((r) => (r.item as Extract<OutboxItem, { kind: 'event' }>).insert)));
      } else if (kind === 'timeline') {
        const items = run.map((r) => r.item as Extract<OutboxItem, { kind: 'timeline' }>);
        statements.push(upsertContactEventsStatement(db, tenantId, items));
      } else {
        statements.push(deleteContactEventsStatement(db, tenantId, run.map((r) => (r.item as Extract<OutboxItem, { kind: 'timeline_delete' }>).id)));
      }
      run = [];
    };
    for (const row of rows) {
      if (run.length > 0 && (run[0]!.item.kind !== row.item.kind || run.length >= 200)) flush();
      run.push(row);
    }
    flush();
    if (statements.length > 0) await db.batch(statements);
    // New log events are in D1: the tenant's projections can fold them (not awaited; the cron is the safety net).
    if (rows.some((r) => r.item.kind === 'event')) void kickProjections(this.env, tenantId);
  }

  async send(queue: 'webhooks' | 'analytics', messages: RelayMessage[]): Promise<void> {
    await sendAll(queue === 'webhooks' ? this.env.WEBHOOKS_QUEUE : this.env.ANALYTICS_QUEUE, messages);
  }
}

export function relayMessage(tenantId: string, item: OutboxItem): RelayMessage | null {
  if (item.kind === 'event') return { kind: 'event', tenant_id: tenantId, event: item.insert.record };
  if (item.kind === 'timeline' && item.announce) return { kind: 'contact_event', tenant_id: tenantId, contact_event: item.record };
  return null;
}
