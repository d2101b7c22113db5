// Helpers of the contact timeline tests (test/http/contact-events*.test.ts).
import { expect } from 'vitest';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { call, json, shardOf, uuid, type Tenant } from './api';

export interface Page {
  events: TimelineEntryRecord[];
  total: number;
  page: number;
  limit: number;
}

export const entry = (over: Record<string, unknown> = {}) => ({
  event_type: 'note_added',
  category: 'note',
  source: 'agent',
  title: 'Note Added',
  description: 'Customer wants a refund',
  ...over,
});

export async function add(t: Tenant, contact: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<TimelineEntryRecord> {
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body, ...(headers ? { headers } : {}) });
  expect(res.status).toBe(201);
  return json<TimelineEntryRecord>(res);
}

export const d1Entry = async (tenantId: string, id: string) =>
  (await shardOf(tenantId)).prepare('SELECT * FROM contact_events WHERE tenant_id = ? AND id = ?').bind(tenantId, id).first<Record<string, unknown>>();
export const d1Count = async (tenantId: string, contact: string) =>
  (await (await shardOf(tenantId)).prepare('SELECT count(*) AS n FROM contact_events WHERE tenant_id = ? AND contact_id = ?').bind(tenantId, contact).first<{ n: number }>())!.n;
export const hubCount = async (t: Tenant, contact: string) =>
  (await json<{ count: number }>(await call('GET', `/api/v1/contacts/${contact}/events/count?include_expired=true`, { key: t.key }))).count;

export const iso = (ms: number) => new Date(ms).toISOString();
export const DAY = 86_400_000;

/** An entry with every field set, posted to the contact; the body is returned for comparison. */
export async function addFull(t: Tenant, contact: string) {
  const body = {
    event_type: 'pipeline_stage_changed',
    category: 'pipeline',
    priority: 'high',
    source: 'agent',
    session_id: uuid(),
    title: 'Pipeline Stage Changed',
    description: 'Contact moved from Lead to Qualified',
    payload: { old_status: 'Lead', new_status: 'Qualified' },
    metadata: { ui: 'board' },
    triggered_by: uuid(),
    integration_source: 'hubspot',
    is_realtime: true,
    visible_to_client: true,
    visible_to_agent: true,
    expires_at: iso(Date.now() + DAY),
    occurred_at: '2025-10-10T14:35:00.000Z',
  };
  const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body });
  return { body, res };
}
