import { env } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { floorDay } from '../../src/domain/analytics';
import { DAY_MS } from '../../src/domain/time';
import { inspectArchive } from '../../src/domain/archive';
import worker from '../../src/index';
import { runRetention } from '../../src/jobs/retention';
import { call, json, newTenant, untilInD1, uuid, type Tenant, shardOf } from '../support/api';

interface ArchiveInfo {
  key: string;
  day: string;
  count: number;
  sha256: string;
}

/** Appends events at the given ages (days before now), straight and through a contact's hub. */
async function appendAged(t: Tenant, now: number, ages: number[]): Promise<string[]> {
  const contact = uuid();
  const events = ages.map((age, i) => ({
    id: uuid(),
    event_type: i % 2 ? 'message.sent' : 'tag.added',
    source: 'system',
    ...(i % 3 === 0 ? { contact_id: contact } : {}),
    timestamp: new Date(now - age * DAY_MS).toISOString(),
    payload: { i, text: 'x'.repeat(i % 5) },
  }));
  const res = await call('POST', '/api/v1/events/batch', { key: t.key, body: { events } });
  expect(res.status).toBe(201);
  // The hub relays its events to D1 asynchronously: wait until all are in the query store.
  const ids = events.map((e) => e.id);
  await untilInD1(t.id, ids);
  return ids;
}

const idsInD1 = async (tenantId: string) =>
  (await (await shardOf(tenantId)).prepare(`SELECT id FROM events WHERE tenant_id = ? ORDER BY id`).bind(tenantId).all<{ id: string }>()).results.map((r) => r.id);

async function listArchives(t: Tenant): Promise<ArchiveInfo[]> {
  const res = await call('GET', '/api/v1/archives', { key: t.key });
  expect(res.status).toBe(200);
  return (await json<{ archives: ArchiveInfo[] }>(res)).archives;
}

/** Downloads an archive through the API and returns its NDJSON records. */
async function download(t: Tenant, key: string): Promise<{ id: string; tenant_id: string; timestamp: string }[]> {
  const res = await call('GET', `/api/v1/archives/${key}`, { key: t.key });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/gzip');
  const gz = new Uint8Array(await res.arrayBuffer());
  const text = await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; tenant_id: string; timestamp: string });
}

describe('retention and archive', () => {
  it("archives only what is older than each tenant's retention, one object per day, and the objects hold exactly the deleted rows", async () => {
    const now = Date.now();
    const short = await newTenant();
    const long = await newTenant();
    expect((await call('PATCH', '/api/v1/settings', { key: short.key, body: { event_retention_days: 30 } })).status).toBe(200);
    const ages = [45, 45, 45, 40, 40, 31.5, 29, 10, 0];
    const shortIds = await appendAged(short, now, ages);
    const longIds = await appendAged(long, now, ages);

    const report = await runRetention(env, { now, tenantIds: [short.id, long.id] });
    expect(report).toMatchObject({ tenants: 2, errors: 0, has_more: false });
    // Days wholly older than 30 days: the 45-, 40- and 31.5-day-old events (3 days, 3 objects).
    const cutoff = floorDay(now - 30 * DAY_MS);
    const expectedGone = shortIds.filter((_, i) => now - ages[i]! * DAY_MS < cutoff);
    expect(expectedGone).toHaveLength(6);
    expect(report.archived).toBe(6);
    expect(report.deleted).toBe(6);
    expect(await idsInD1(short.id)).toEqual(shortIds.filter((id) => !expectedGone.includes(id)).sort());
    expect(await idsInD1(long.id)).toEqual([...longIds].sort());

    const archives = await listArchives(short);
    expect(archives.map((a) => a.day)).toEqual([...new Set(ages.filter((a) => now - a * DAY_MS < cutoff).map((a) => new Date(floorDay(now - a * DAY_MS)).toISOString().slice(0, 10)))].sort());
    const archived = (await Promise.all(archives.map((a) => download(short, a.key)))).flat();
    expect(archived.map((r) => r.id).sort()).toEqual([...expectedGone].sort());
    expect(archived.every((r) => r.tenant_id === short.id)).toBe(true);
    expect(archives.reduce((s, a) => s + a.count, 0)).toBe(6);
    expect(await listArchives(long)).toEqual([]);

    // Tenant check: another tenant's key does not find the archive; a malformed key is a 422.
    expect((await call('GET', `/api/v1/archives/${archives[0]!.key}`, { key: long.key })).status).toBe(404);
    expect((await call('GET', '/api/v1/archives/..%2Fother', { key: short.key })).status).toBe(422);

    // A second run has nothing left to do.
    const again = await runRetention(env, { now, tenantIds: [short.id, long.id] });
    expect(again).toMatchObject({ objects: 0, archived: 0, deleted: 0 });
    expect(await listArchives(short)).toHaveLength(archives.length);
  });

  it('a crash between writing the object and deleting the rows loses nothing, and the rerun archives each row exactly once', async () => {
    const now = Date.now();
    const t = await newTenant();
    await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 7 } });
    const ids = await appendAged(t, now, [20, 20, 20, 20, 20, 20, 1]);
    const old = ids.slice(0, 6);

    const crashed = await runRetention(env, {
      now,
      tenantIds: [t.id],
      afterWrite: () => {
        throw new Error('injected crash after the archive write');
      },
    });
    expect(crashed.errors).toBe(1);
    // The object was written and checked, but no row was deleted and the manifest is still pending.
    expect(await idsInD1(t.id)).toEqual([...ids].sort());
    const pending = await (await shardOf(t.id)).prepare(`SELECT key, status FROM archives WHERE tenant_id = ?`).bind(t.id).all<{ key: string; status: string }>();
    expect(pending.results).toEqual([{ key: expect.stringContaining(`events/${t.id}/`), status: 'pending' }]);
    const object = await env.ARCHIVE.get(pending.results[0]!.key);
    expect((await inspectArchive(new Uint8Array(await object!.arrayBuffer()))).count).toBe(6);
    expect(await listArchives(t)).toEqual([]); // pending archives are not listed

    // A late event for the same day arrives before the rerun: it gets its own object, never a duplicate.
    const late = await appendAged(t, now, [20]);

    const rerun = await runRetention(env, { now, tenantIds: [t.id] });
    expect(rerun).toMatchObject({ errors: 0, resumed: 1, archived: 7, deleted: 7 });
    expect(await idsInD1(t.id)).toEqual([ids[6]!]);
    const archives = await listArchives(t);
    const records = (await Promise.all(archives.map((a) => download(t, a.key)))).flat();
    expect(records.map((r) => r.id).sort()).toEqual([...old, ...late].sort());
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
    const listed = await env.ARCHIVE.list({ prefix: `events/${t.id}/` });
    expect(listed.objects).toHaveLength(archives.length);

    // Crashing again (a duplicate cron) after everything is done changes nothing.
    expect(await runRetention(env, { now, tenantIds: [t.id] })).toMatchObject({ objects: 0, deleted: 0, errors: 0 });
  });

  it('a pending archive whose rows were erased meanwhile is dropped with its object', async () => {
    const now = Date.now();
    const t = await newTenant();
    await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 7 } });
    await appendAged(t, now, [20, 20]);
    await runRetention(env, { now, tenantIds: [t.id], afterWrite: () => Promise.reject(new Error('crash')) });
    const { key } = (await (await shardOf(t.id)).prepare(`SELECT key FROM archives WHERE tenant_id = ?`).bind(t.id).first<{ key: string }>())!;
    await (await shardOf(t.id)).prepare(`DELETE FROM events WHERE tenant_id = ?`).bind(t.id).run();
    const report = await runRetention(env, { now, tenantIds: [t.id] });
    expect(report).toMatchObject({ dropped: 1, errors: 0 });
    expect(await env.ARCHIVE.head(key)).toBeNull();
    expect((await (await shardOf(t.id)).prepare(`SELECT count(*) AS n FROM archives WHERE tenant_id = ?`).bind(t.id).first<{ n: number }>())!.n).toBe(0);
  });

  it('splits a large day into several objects and runs from the daily cron', async () => {
    const now = Date.now();
    const t = await newTenant();
    await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 3 } });
    const ids = await appendAged(t, now, Array.from({ length: 12 }, () => 10));
    const small = await runRetention(env, { now, tenantIds: [t.id], rowsPerObject: 5, maxObjects: 2 });
    expect(small).toMatchObject({ objects: 2, archived: 10, has_more: true });
    expect(await idsInD1(t.id)).toHaveLength(2);

    // The scheduled entry runs retention on the daily cron (the minute cron does not).
    const minute = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '* * * * *', scheduledTime: now }), env, minute);
    await waitOnExecutionContext(minute);
    expect(await idsInD1(t.id)).toHaveLength(2);
    const daily = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: '17 3 * * *', scheduledTime: now }), env, daily);
    await waitOnExecutionContext(daily);
    expect(await idsInD1(t.id)).toEqual([]);
    const records = (await Promise.all((await listArchives(t)).map((a) => download(t, a.key)))).flat();
    expect(records.map((r) => r.id).sort()).toEqual([...ids].sort());
  });
});
