import { shardOf } from './api';
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { contactHub } from '../../src/hub';

/** What a tenant has in the event log: D1 rows, outbox rows, timeline rows, and each named contact hub's version. */
export async function written(tenantId: string, contacts: string[] = []) {
  const count = async (table: string) =>
    (await (await shardOf(tenantId)).prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).bind(tenantId).first<{ n: number }>())!.n;
  const hubs = await Promise.all(
    contacts.map(async (id) => {
      const { stub, owner } = contactHub(env, tenantId, id);
      return stub.version(owner);
    }),
  );
  return { events: await count('events'), relay_outbox: await count('relay_outbox'), contact_events: await count('contact_events'), hubs };
}

/** Asserts nothing of the tenant's is in D1 or in any of these hubs. */
export async function expectNothingWritten(tenantId: string, contacts: string[] = []) {
  expect(await written(tenantId, contacts)).toEqual({ events: 0, relay_outbox: 0, contact_events: 0, hubs: contacts.map(() => 0) });
}
