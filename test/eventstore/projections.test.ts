import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { z } from '@hono/zod-openapi';
import { startRebuild } from '../../src/db/projections';
import type { ContactView, ProjectionInfo as ProjectionInfoSchema } from '../../src/domain/schemas/eventstore';
import { runScheduled } from '../../src/jobs';
import { drainProjections, type ProjectionRunner } from '../../src/projections/runner';
import { CHECKPOINT_EVERY } from '../../src/projections/engine';
import { laggingProjectionTenants } from '../../src/db/subscriptions';
import { call, eventually, json, newTenant, uuid, shardOf } from '../support/api';

// The API's own schemas, not copies of them.
type Contact = z.infer<typeof ContactView>;
type ProjectionInfo = z.infer<typeof ProjectionInfoSchema>;

const logEvent = (key: string, contact: string, event_type: string, payload: Record<string, unknown> = {}) =>
  call('POST', '/api/v1/events', { key, body: { event_type, source: 'system', contact_id: contact, payload } }).then((r) => {
    expect(r.status).toBe(201);
  });

/** Appends 16 events and waits until the relay has put all of them in D1 (the projection folds D1). */
async function seedContacts(tenant: { id: string; key: string }): Promise<{ ada: string; bob: string; cy: string }> {
  const key = tenant.key;
  const ada = uuid();
  const bob = uuid();
  const cy = uuid();
  await logEvent(key, ada, 'contact.created', { name: 'Ada Lovelace', email: 'ada@example.com', phone: '+441234' });
  await logEvent(key, bob, 'contact.created', { name: 'Bob' });
  await logEvent(key, cy, 'contact.created', { name: 'Cy Young' });
  await logEvent(key, ada, 'contact.tag_added', { tag: 'vip' });
  await logEvent(key, ada, 'tag.added', { tag: 'beta' });
  await logEvent(key, bob, 'contact.tag_added', { tag: 'vip' });
  await logEvent(key, ada, 'custom_field.updated', { field: 'plan', value: 'pro' });
  await logEvent(key, ada, 'custom_field.set', { key: 'seats', value: 12 });
  await logEvent(key, ada, 'custom_field.cleared', { field: 'seats' });
  await logEvent(key, ada, 'contact.pipeline_status_changed', { new_status: 'qualified' });
  await logEvent(key, bob, 'contact.pipeline_status_changed', { new_status: 'lead' });
  await logEvent(key, ada, 'contact.interaction_recorded', { interaction_at: '2026-01-02T03:04:05.000Z' });
  await logEvent(key, ada, 'contact.email_set', { email_address: 'ada@lovelace.dev' });
  await logEvent(key, bob, 'tag.removed', { tag: 'vip' });
  await logEvent(key, cy, 'contact.deleted');
  await logEvent(key, ada, 'message.sent', { text: 'not a contact event' });
  // Until then a projection can report lag 0 against a head that lacks the last events.
  await eventually(
    async () => (await (await shardOf(tenant.id)).prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ?').bind(tenant.id).first<{ n: number }>())!.n === 16,
  );
  return { ada, bob, cy };
}

const getContact = (key: string, id: string) => call('GET', `/api/v1/contacts/${id}`, { key });
const projectionsOf = async (key: string) =>
  (await json<{ projections: ProjectionInfo[] }>(await call('GET', '/api/v1/projections', { key }))).projections.find((p) => p.name === 'contacts')!;
const allContacts = async (key: string) =>
  (await json<{ contacts: Contact[] }>(await call('GET', '/api/v1/contacts?include_deleted=true&limit=1000', { key }))).contacts;

describe('the contacts projection', () => {
  it('folds contact.*, tag.* and custom_field.* events incrementally (driven by the relay), with upcasting', async () => {
    const t = await newTenant();
    const { ada, bob, cy } = await seedContacts(t);
    const state = await eventually(async () => {
      const r = await getContact(t.key, ada);
      if (r.status !== 200) return undefined;
      const c = await json<Contact>(r);
      return c.email === 'ada@lovelace.dev' ? c : undefined;
    });
    expect(state).toMatchObject({
      contact_id: ada,
      name: 'Ada Lovelace',
      first_name: 'Ada',
      last_name: 'Lovelace',
      phone: '+441234',
      tags: ['vip', 'beta'],
      custom_fields: { plan: 'pro' },
      pipeline_status: 'qualified',
      last_interaction_at: '2026-01-02T03:04:05.000Z',
      deleted: false,
      event_count: 9,
    });
    const projection = await eventually(async () => {
      const p = await projectionsOf(t.key);
      return p.lag === 0 ? p : undefined;
    });
    expect(projection).toMatchObject({ status: 'live', generation: 1 });

    await eventually(async () => (await allContacts(t.key)).length === 3);
    const vip = await json<{ contacts: Contact[] }>(await call('GET', '/api/v1/contacts?tag=vip', { key: t.key }));
    expect(vip.contacts.map((c) => c.contact_id)).toEqual([ada]);
    const leads = await json<{ contacts: Contact[] }>(await call('GET', '/api/v1/contacts?status=lead', { key: t.key }));
    expect(leads.contacts.map((c) => c.contact_id)).toEqual([bob]);
    const live = await json<{ contacts: Contact[] }>(await call('GET', '/api/v1/contacts', { key: t.key }));
    expect(live.contacts.map((c) => c.contact_id).sort()).toEqual([ada, bob].sort());
    expect((await allContacts(t.key)).find((c) => c.contact_id === cy)!.deleted).toBe(true);

    // The projection is a consumer like any other.
    const subs = await json<{ subscriptions: { name: string; kind: string; lag: number }[] }>(await call('GET', '/api/v1/subscriptions', { key: t.key }));
    expect(subs.subscriptions).toContainEqual(expect.objectContaining({ name: 'projection:contacts', kind: 'projection', lag: 0 }));

    const other = await newTenant();
    expect((await getContact(other.key, ada)).status).toBe(404);
    expect((await call('GET', '/api/v1/contacts', { key: other.key }).then((r) => json<{ contacts: unknown[] }>(r))).contacts).toEqual([]);
    expect((await getContact(t.key, 'nope')).status).toBe(422);
    expect((await call('GET', '/api/v1/contacts?limit=0&include_deleted=maybe', { key: t.key })).status).toBe(422);
  });

  it('a rebuild into a fresh generation equals the incremental state; reads keep working meanwhile', async () => {
    const t = await newTenant();
    await seedContacts(t);
    await eventually(async () => (await projectionsOf(t.key)).lag === 0 && (await allContacts(t.key)).length === 3);
    const incremental = await allContacts(t.key);

    // Start a rebuild without running it: reads still come from generation 1.
    expect(await startRebuild((await shardOf(t.id)), t.id, 'contacts', Date.now())).toBe(true);
    const during = await projectionsOf(t.key);
    expect(during).toMatchObject({ status: 'rebuilding', generation: 1 });
    expect(await allContacts(t.key)).toEqual(incremental);
    expect((await call('POST', '/api/v1/projections/contacts/rebuild', { key: t.key })).status).toBe(409);

    await drainProjections(env, t.id);
    const after = await projectionsOf(t.key);
    expect(after).toMatchObject({ status: 'live', generation: 2, rebuild: null, lag: 0 });
    expect(await allContacts(t.key)).toEqual(incremental);
    const old = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM projection_rows WHERE tenant_id = ? AND generation = 1').bind(t.id).first<{ n: number }>();
    expect(old!.n).toBe(0);

    // The API path: 202, runs in the background, switches to generation 3; events after the switch still flow in.
    const res = await call('POST', '/api/v1/projections/contacts/rebuild', { key: t.key });
    expect(res.status).toBe(202);
    await eventually(async () => (await projectionsOf(t.key)).generation === 3);
    expect(await allContacts(t.key)).toEqual(incremental);
    const dan = uuid();
    await logEvent(t.key, dan, 'contact.created', { name: 'Dan' });
    await eventually(async () => (await getContact(t.key, dan)).status === 200);
    expect((await call('POST', '/api/v1/projections/nope/rebuild', { key: t.key })).status).toBe(404);
  });

  it('folds relayed events on an in-memory timer, without a storage alarm; an explicit kick arms the alarm', async () => {
    const t = await newTenant();
    const ada = uuid();
    await logEvent(t.key, ada, 'contact.created', { name: 'Ada' });
    await eventually(async () => (await getContact(t.key, ada)).status === 200);
    const ns = env.PROJECTION_RUNNER as DurableObjectNamespace<ProjectionRunner>;
    const stub = ns.get(ns.idFromName(t.id));
    // The relay's kick and the idle polls after the pass (250 ms apart) are timers: a storage alarm is a row written.
    expect(await runInDurableObject(stub, (_r, state) => state.storage.getAlarm())).toBeNull();
    // The cron's and operators' kicks (a rebuild, a replay) must survive an eviction: they arm the alarm.
    const before = Date.now();
    await stub.kick(t.id, 60_000);
    const at = await runInDurableObject(stub, (_r, state) => state.storage.getAlarm());
    expect(at).toBeGreaterThanOrEqual(before + 60_000);
    await runInDurableObject(stub, (_r, state) => state.storage.deleteAlarm());
  });

  it('the minute cron folds events whose kick was lost (the timer died with its runner)', async () => {
    const t = await newTenant();
    const ada = uuid();
    await logEvent(t.key, ada, 'contact.created', { name: 'Ada' });
    await eventually(async () => (await getContact(t.key, ada)).status === 200);
    // Let the runner's idle polls end, then put an event in D1 with no kick, as when the runner holding the timer was evicted.
    await new Promise((r) => setTimeout(r, 800));
    const db = await shardOf(t.id);
    const head = (await db.prepare('SELECT max(position) AS p FROM events WHERE tenant_id = ?').bind(t.id).first<{ p: number }>())!.p;
    const now = Date.now();
    await db
      .prepare(`INSERT INTO events (tenant_id, position, id, event_type, source, contact_id, payload, metadata, timestamp, created_at) VALUES (?, ?, ?, 'contact.tag_added', 'system', ?, '{"tag":"vip"}', '{}', ?, ?)`)
      .bind(t.id, head + 1, `evt_lostkick${now}`, ada, now, now)
      .run();
    await new Promise((r) => setTimeout(r, 600));
    expect((await json<Contact>(await getContact(t.key, ada))).tags).toEqual([]);
    const ctx = createExecutionContext();
    await runScheduled(createScheduledController({ cron: '* * * * *', scheduledTime: now }), env, ctx);
    await waitOnExecutionContext(ctx);
    const folded = await eventually(async () => {
      const c = await json<Contact>(await getContact(t.key, ada));
      return c.tags.includes('vip') ? c : undefined;
    });
    expect(folded).toMatchObject({ contact_id: ada, tags: ['vip'], event_count: 2 });
  });

  it('re-applying a batch never doubles an event (rows remember their last position)', async () => {
    const t = await newTenant();
    const { ada } = await seedContacts(t);
    await eventually(async () => (await projectionsOf(t.key)).lag === 0);
    const before = await json<Contact>(await getContact(t.key, ada));
    // Simulate a crash between the rows write and the checkpoint: move the checkpoint back and run again
    // (the events after it include the projection's types, so the pass folds them again).
    await (await shardOf(t.id)).prepare(`UPDATE event_subscriptions SET checkpoint = 0 WHERE tenant_id = ? AND name = 'projection:contacts'`).bind(t.id).run();
    await drainProjections(env, t.id);
    expect(await json<Contact>(await getContact(t.key, ada))).toEqual(before);
  });

  it("a pass that meets none of the projection's types commits no checkpoint until 100 positions have gone by; readers see what is folded", async () => {
    const t = await newTenant();
    const d1 = await shardOf(t.id);
    const stored = async () =>
      (await d1.prepare(`SELECT checkpoint FROM event_subscriptions WHERE tenant_id = ? AND name = 'projection:contacts'`).bind(t.id).first<{ checkpoint: number }>())!.checkpoint;
    const head = async () => (await d1.prepare('SELECT max(position) AS p FROM events WHERE tenant_id = ?').bind(t.id).first<{ p: number }>())!.p;
    const ada = uuid();
    await logEvent(t.key, ada, 'contact.created', { name: 'Ada' });
    await eventually(async () => (await head()) === 1);
    await drainProjections(env, t.id);
    expect(await stored()).toBe(1);

    // Three events of other types: folded (nothing to do), no checkpoint row written.
    for (const type of ['note.added', 'message.sent', 'deal.won']) await logEvent(t.key, ada, type);
    await eventually(async () => (await head()) === 4);
    await drainProjections(env, t.id);
    expect(await stored()).toBe(1);
    expect(await projectionsOf(t.key)).toMatchObject({ checkpoint: 4, lag: 0 });
    const sub = await json<{ checkpoint: number; lag: number }>(await call('GET', '/api/v1/subscriptions/projection:contacts', { key: t.key }));
    expect(sub).toMatchObject({ checkpoint: 4, lag: 0 });
    const stats = await json<{ projections: { items: { name: string; lag: number }[] } }>(await call('GET', '/api/v1/ops/stats', { key: t.key }));
    expect(stats.projections.items).toContainEqual({ name: 'projection:contacts', lag: 0 });
    // The minute cron finds nothing to kick: no event of the projection's types trails the checkpoint.
    expect(await laggingProjectionTenants(d1, 10_000)).not.toContain(t.id);

    // An event it folds commits rows and checkpoint together.
    await logEvent(t.key, ada, 'contact.tag_added', { tag: 'vip' });
    await eventually(async () => (await head()) === 5);
    expect(await laggingProjectionTenants(d1, 10_000)).toContain(t.id);
    await drainProjections(env, t.id);
    expect(await stored()).toBe(5);
    expect((await json<Contact>(await getContact(t.key, ada))).tags).toEqual(['vip']);

    // 100 positions of other types later, the checkpoint is committed again.
    const events = Array.from({ length: CHECKPOINT_EVERY }, () => ({ event_type: 'order.noted', source: 'system' }));
    expect((await call('POST', '/api/v1/events/batch', { key: t.key, body: { events } })).status).toBe(201);
    await eventually(async () => (await head()) === 5 + CHECKPOINT_EVERY);
    await drainProjections(env, t.id);
    expect(await stored()).toBe(5 + CHECKPOINT_EVERY);
  });

  it('snapshots a contact stream every 100 events', async () => {
    const t = await newTenant();
    const c = uuid();
    const events = Array.from({ length: 105 }, (_, i) => ({ event_type: i === 0 ? 'contact.created' : 'contact.interaction_recorded', payload: i === 0 ? { name: 'Eve' } : {} }));
    const r = await call('POST', `/api/v1/streams/contact-${c}/events`, { key: t.key, body: { expected_version: 'no_stream', events } });
    expect(r.status).toBe(201);
    const snap = await eventually(async () => {
      const s = await call('GET', `/api/v1/streams/contact-${c}/snapshot`, { key: t.key });
      return s.status === 200 ? json<{ version: number; source: string; state: Contact }>(s) : undefined;
    });
    expect(snap).toMatchObject({ version: 100, source: 'projection:contacts' });
    expect(snap.state.name).toBe('Eve');
  });
});
