import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../src/domain/time';
import { inspectArchive } from '../../src/domain/archive';
import { runRetention } from '../../src/jobs/retention';
import { call, json, newTenant, untilInD1, uuid, type Tenant } from '../support/api';

interface ArchiveInfo {
  key: string;
  day: string;
  count: number;
  sha256: string;
}

interface Line {
  id: string;
  contact_id: string | null;
  payload: Record<string, unknown>;
}

/** Appends log events at the given ages (days), each for a contact or none, and waits until D1 has them all. */
async function appendAged(t: Tenant, now: number, items: { age: number; contact: string | null; name: string }[]): Promise<string[]> {
  const events = items.map((it) => ({
    id: uuid(),
    event_type: 'contact.updated',
    source: 'system',
    ...(it.contact ? { contact_id: it.contact } : {}),
    timestamp: new Date(now - it.age * DAY_MS).toISOString(),
    payload: { name: it.name },
  }));
  const res = await call('POST', '/api/v1/events/batch', { key: t.key, body: { events } });
  expect(res.status).toBe(201);
  const ids = events.map((e) => e.id);
  await untilInD1(t.id, ids);
  return ids;
}

async function listArchives(t: Tenant): Promise<ArchiveInfo[]> {
  const res = await call('GET', '/api/v1/archives', { key: t.key });
  expect(res.status).toBe(200);
  return (await json<{ archives: ArchiveInfo[] }>(res)).archives;
}

/** Downloads an archive through the API, checks it against its manifest (count and SHA-256), answers its lines. */
async function download(t: Tenant, a: ArchiveInfo): Promise<Line[]> {
  const res = await call('GET', `/api/v1/archives/${a.key}`, { key: t.key });
  expect(res.status).toBe(200);
  const gz = new Uint8Array(await res.arrayBuffer());
  const check = await inspectArchive(gz);
  expect(check).toEqual({ count: a.count, sha256: a.sha256 });
  expect(res.headers.get('x-archive-sha256')).toBe(a.sha256);
  const text = await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Line);
}

async function setRetention(t: Tenant): Promise<void> {
  expect((await call('PATCH', '/api/v1/settings', { key: t.key, body: { event_retention_days: 30 } })).status).toBe(200);
}

describe('erase: R2 archives', () => {
  it('rewrites every archive that holds the contact (verified by count and SHA-256), and drops an archive left empty', async () => {
    const now = Date.now();
    const t = await newTenant();
    await setRetention(t);
    const gone = uuid();
    const kept = uuid();
    await appendAged(t, now, [
      { age: 40, contact: gone, name: 'Erin Erased' },
      { age: 40, contact: kept, name: 'Kim Kept' },
      { age: 40, contact: null, name: 'tenant-wide' },
      { age: 40, contact: gone, name: 'Erin again' },
      { age: 50, contact: gone, name: 'Erin alone' },
    ]);
    const report = await runRetention(env, { now, tenantIds: [t.id] });
    expect(report).toMatchObject({ objects: 2, archived: 5, errors: 0 });
    const before = await listArchives(t);
    expect(before.map((a) => a.count).sort()).toEqual([1, 4]);

    const res = await call('DELETE', `/api/v1/contacts/${gone}`, { key: t.key });
    expect(res.status).toBe(200);
    expect((await json<{ removed: { archived_events: number } }>(res)).removed.archived_events).toBe(3);

    const after = await listArchives(t);
    // The 50-day-old object held only the erased contact: it and its manifest are gone.
    expect(after).toHaveLength(1);
    expect(after[0]!.count).toBe(2);
    expect(after[0]!.sha256).not.toBe(before.find((a) => a.key === after[0]!.key)!.sha256);
    const lines = await download(t, after[0]!);
    expect(lines.map((l) => l.payload.name).sort()).toEqual(['Kim Kept', 'tenant-wide']);
    // What R2 itself stores, not only what the API serves.
    const listed = await env.ARCHIVE.list({ prefix: `events/${t.id}/` });
    expect(listed.objects).toHaveLength(1);
    const raw = await env.ARCHIVE.get(listed.objects[0]!.key);
    const text = await new Response(raw!.body.pipeThrough(new DecompressionStream('gzip'))).text();
    expect(text).not.toContain(gone);
    expect(text).not.toContain('Erin');

    // Nothing left to remove: erasing again rewrites nothing.
    const again = await json<{ removed: { archived_events: number } }>(await call('DELETE', `/api/v1/contacts/${gone}`, { key: t.key }));
    expect(again.removed.archived_events).toBe(0);
    expect((await listArchives(t))[0]!.sha256).toBe(after[0]!.sha256);
  });

  it('an erase while the retention run is writing an archive still leaves the contact out of it', async () => {
    const now = Date.now();
    const t = await newTenant();
    await setRetention(t);
    const gone = uuid();
    const kept = uuid();
    await appendAged(t, now, [
      { age: 40, contact: gone, name: 'Erin Erased' },
      { age: 40, contact: kept, name: 'Kim Kept' },
    ]);
    let erased: { removed: { events: number; archived_events: number } } | null = null;
    const report = await runRetention(env, {
      now,
      tenantIds: [t.id],
      // The object is written and checked, its manifest still pending: the erase lands here.
      afterWrite: async () => {
        erased = await json(await call('DELETE', `/api/v1/contacts/${gone}`, { key: t.key }));
      },
    });
    expect(report.errors).toBe(0);
    expect(erased).toMatchObject({ removed: { events: 1, archived_events: 0 } });
    const archives = await listArchives(t);
    expect(archives).toHaveLength(1);
    expect(archives[0]!.count).toBe(1);
    const lines = await download(t, archives[0]!);
    expect(lines.map((l) => l.payload.name)).toEqual(['Kim Kept']);
  });
});
