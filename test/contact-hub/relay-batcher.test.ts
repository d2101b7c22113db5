import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { OutboxRow, RelayBatcher, RelayRequest, RelayResult } from '../../src/contact-hub/relay';
import type { ContactEventRecord } from '../../src/domain/schemas/contact-events';
import { uuid } from '../support/api';

function entryRow(outboxId: number, contactId: string, seq: number): OutboxRow {
  const now = new Date().toISOString();
  const record: ContactEventRecord = {
    id: uuid(), contact_id: contactId, sequence_number: seq, session_id: null, event_type: 'note_added', category: 'note', priority: 'normal',
    title: 't', description: null, payload: {}, metadata: {}, source: 'agent', triggered_by: null, integration_source: null, is_realtime: false,
    delivered: false, delivered_at: null, read: false, read_at: null, visible_to_client: false, visible_to_agent: true, expires_at: null,
    occurred_at: now, created_at: now, origin_event_id: null,
  };
  return { id: outboxId, item: { kind: 'timeline', record, revision: 1, announce: true }, d1: true, wq: true, aq: true };
}

const inD1 = async (tenantId: string, id: string) =>
  (await env.DB.prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND id = ?').bind(tenantId, id).first<{ n: number }>())!.n;

describe('RelayBatcher', () => {
  it('writes concurrent relay passes, and one hub\'s failing rows do not hold back the others (merged or not)', async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const tenant = `t_batcher_${uuid().slice(0, 8)}`;
    const [a, b, c] = [uuid(), uuid(), uuid()];
    // Contact b's D1 index already holds sequence number 1 under another id: its row can never be written.
    await env.DB.prepare(
      `INSERT INTO contact_events (tenant_id, id, contact_id, sequence_number, event_type, category, priority, payload, metadata, source,
         is_realtime, delivered, read, visible_to_client, visible_to_agent, occurred_at, created_at, revision)
       VALUES (?, ?, ?, 1, 'note_added', 'note', 'normal', '{}', '{}', 'agent', 0, 0, 0, 0, 1, 0, 0, 1)`,
    )
      .bind(tenant, uuid(), b)
      .run();
    const rows = { a: [entryRow(1, a, 1), entryRow(2, a, 2)], b: [entryRow(1, b, 1)], c: [entryRow(1, c, 1)] };
    const req = (list: OutboxRow[]): RelayRequest => ({ d1: { tenantId: tenant, rows: list } });
    const [ra, rb, rc] = (await Promise.all([batcher.relay(req(rows.a)), batcher.relay(req(rows.b)), batcher.relay(req(rows.c))])) as RelayResult[];
    expect(ra!.d1).toBeNull();
    expect(rb!.d1).toMatch(/UNIQUE/i);
    expect(rc!.d1).toBeNull();
    for (const r of [...rows.a, ...rows.c]) expect(await inD1(tenant, (r.item as { record: ContactEventRecord }).record.id)).toBe(1);
    expect(await inD1(tenant, (rows.b[0]!.item as { record: ContactEventRecord }).record.id)).toBe(0);
  });

  it('answers per destination: a queue failure is reported only for that queue', async () => {
    const ns = env.RELAY_BATCHER as DurableObjectNamespace<RelayBatcher>;
    const batcher = ns.get(ns.idFromName(`test-${uuid()}`));
    const tenant = `t_batcher_${uuid().slice(0, 8)}`;
    const row = entryRow(1, uuid(), 1);
    const message = { kind: 'contact_event' as const, tenant_id: tenant, contact_event: (row.item as { record: ContactEventRecord }).record };
    // A message over the 128 KB queue limit makes that send fail; D1 and the other queue still answer ok.
    const huge = { ...message, contact_event: { ...message.contact_event, payload: { blob: 'x'.repeat(200_000) } } };
    const result = (await batcher.relay({ d1: { tenantId: tenant, rows: [row] }, webhooks: [huge], analytics: [message] })) as RelayResult;
    expect(result.d1).toBeNull();
    expect(result.analytics).toBeNull();
    expect(typeof result.webhooks).toBe('string');
  });
});

describe('d1Statements', () => {
  it('splits runs so that no statement carries more than about 1 MB of rows', async () => {
    const { d1Statements } = await import('../../src/contact-hub/relay');
    const contact = uuid();
    const big = (i: number) => {
      const row = entryRow(i, contact, i);
      (row.item as { record: ContactEventRecord }).record.payload = { blob: 'x'.repeat(60_000) };
      return row;
    };
    const rows = Array.from({ length: 30 }, (_, i) => big(i + 1));
    const statements = d1Statements(env.DB, 't_split', rows);
    expect(statements.length).toBeGreaterThan(1);
    await env.DB.batch(statements);
    const n = await env.DB.prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind('t_split', contact).first<{ n: number }>();
    expect(n!.n).toBe(30);
    expect(d1Statements(env.DB, 't_split', rows.slice(0, 3)).length).toBe(1);
  });
});
