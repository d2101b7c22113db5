import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { contactHub } from '../../src/contact-hub';

/** What a tenant has in the event log: D1 rows, outbox rows, timeline rows, and each named contact hub's version. */
export async function written(tenantId: string, contacts: string[] = []) {
  const count = async (table: string) =>
    (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant_id = ?`).bind(tenantId).first<{ n: number }>())!.n;
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

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id: string;
  errors?: { path: string; message: string }[];
}

/** The RFC 9457 shape every error shares; returns the body for further checks. */
export async function expectProblem(res: Response, status: number, paths?: string[]): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as Problem;
  expect(body.type).toMatch(/^https:\/\/eventline\.dev\/problems\/[a-z-]+$/);
  expect(typeof body.title).toBe('string');
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.status).toBe(status);
  expect(typeof body.detail).toBe('string');
  expect(body.request_id).toBe(res.headers.get('x-request-id'));
  expect(body.request_id.length).toBeGreaterThan(0);
  if (paths) {
    expect(Array.isArray(body.errors)).toBe(true);
    for (const e of body.errors!) expect(typeof e.message).toBe('string');
    expect([...new Set(body.errors!.map((e) => e.path))].sort()).toEqual([...paths].sort());
  }
  return body;
}
