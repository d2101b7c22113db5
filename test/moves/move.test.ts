import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MOVED_TABLES, fenceStatement, getMove, insertMove, liftFence, readChunk, updateMove, type Row } from '../../src/db/moves';
import { advanceMove } from '../../src/moves/mover';
import { insertEventsStatement } from '../../src/db/events';
import { forgetTenantShard, shardAt } from '../../src/db/shards';
import { prepareEvent } from '../../src/domain/prepare';
import { contactHub, contactHubStub } from '../../src/hub';
import { call, eventually, json, tenantOnShard, untilInD1, uuid, type Tenant } from '../support/api';
import { drainByAlarm, outbox } from '../support/relay';
import { hookPath, hookUrl, received } from '../support/receiver';
import { subscribe } from '../support/webhooks';
import { dayBefore, deliverAnalytics, rollupAnswers, sentRecords, spreadRecords, watermarkOf } from '../support/analytics';
import { floorDay } from '../../src/domain/analytics';
import { HOUR_MS } from '../../src/domain/time';
import { compactRollups } from '../../src/jobs/rollup-compaction';

const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

interface LogEvent {
  id: string;
  position: number;
  event_type: string;
}

interface MoveView {
  state: string;
  from_shard: number;
  to_shard: number;
  copied_rows: number;
  verified_rows: number;
  deleted_rows: number;
  error: string | null;
}

/** Every event of the tenant's log, in position order, through GET /log. */
async function wholeLog(t: Tenant): Promise<LogEvent[]> {
  const out: LogEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await json<{ events: LogEvent[]; next_after: number | null }>(await call('GET', `/api/v1/log?after=${after}&limit=1000`, { key: t.key }));
    out.push(...page.events);
    if (page.events.length === 0 || page.next_after === null) return out;
    after = page.next_after;
  }
}

/** Every row of the tenant in every moved table of one shard, table by table. */
async function allRows(db: D1Database, tenantId: string): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {};
  for (const t of MOVED_TABLES) {
    const rows: Row[] = [];
    for (let lead = 0; lead < (t.lead?.values.length ?? 1); lead += 1) rows.push(...(await readChunk(db, t, tenantId, lead, null, 100_000)));
    out[t.name] = rows;
  }
  return out;
}

/** Runs a move in this test, one step at a time, `between` before each step; answers its final row. */
async function moveStepByStep(t: Tenant, fromShard: number, toShard: number, between: (state: string) => Promise<void> = async () => undefined) {
  await insertMove(env.DB, { tenantId: t.id, fromShard, toShard, now: Date.now() });
  for (let step = 0; step < 200; step += 1) {
    const m = (await getMove(env.DB, t.id))!;
    if (m.state === 'done' || m.state === 'failed') break;
    // The directory caches would expire 11 s after the switch: the tests do not wait for them.
    if (m.state === 'switched') await updateMove(env.DB, t.id, { switchedAt: Date.now() - 60_000 });
    await between(m.state);
    await advanceMove(env, t.id, 0);
  }
  return (await getMove(env.DB, t.id))!;
}

async function moveOf(t: Tenant): Promise<{ shard: number; move: MoveView | null }> {
  const list = await json<{ tenants: { id: string; shard: number; move: MoveView | null }[] }>(await call('GET', '/api/v1/admin/tenants?limit=200', { headers: admin }));
  return list.tenants.find((x) => x.id === t.id)!;
}

/**
 * Appends until stopped, one at a time. What a switch refused for a moment (503 Retry-After) is sent
 * again with the same id, as a client retries: a hub may have committed it before the refusal, and
 * the retry then answers with the original.
 */
function appender(t: Tenant, contact: string) {
  const acked: string[] = [];
  let refused = 0;
  let stop = false;
  const run = (async () => {
    for (let i = 0; !stop; i += 1) {
      const body =
        i % 3 === 0
          ? { event_type: 'audit.checked', source: 'system', payload: { i } }
          : { event_type: i % 3 === 1 ? 'message.sent' : 'note.added', source: 'system', contact_id: contact, payload: { i } };
      const id = uuid();
      for (;;) {
        const res = await call('POST', '/api/v1/events', { key: t.key, body: { ...body, id } });
        if (res.status === 503) {
          refused += 1;
          expect(res.headers.get('retry-after')).toBe('1');
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        expect([200, 201]).toContain(res.status);
        expect((await json<{ id: string }>(res)).id).toBe(id);
        acked.push(id);
        break;
      }
    }
  })();
  return {
    acked,
    refused: () => refused,
    stop: async () => {
      stop = true;
      await run;
    },
  };
}

describe('moving a tenant between shards', () => {
  it('moves while the tenant keeps appending: nothing lost or doubled, positions and ids kept, webhooks and subscriptions undisturbed, old rows gone', async () => {
    const t = await tenantOnShard(0, 'move');
    const contact = uuid();
    const path = hookPath('move');
    const sub = await subscribe(t.key, { url: hookUrl(path), events: ['*'] });
    expect((await call('POST', '/api/v1/subscriptions', { key: t.key, body: { name: 'crm-sync', event_types: [] } })).status).toBe(201);
    const before = appender(t, contact);
    await eventually(async () => before.acked.length >= 30, { timeoutMs: 20_000 });
    await before.stop();
    await eventually(async () => (await wholeLog(t)).length === before.acked.length, { timeoutMs: 10_000 });
    const logBefore = await wholeLog(t);
    // The subscriber has processed a part of the log: its checkpoint must survive the move.
    const checkpoint = logBefore[9]!.position;
    expect((await call('POST', '/api/v1/subscriptions/crm-sync/checkpoint', { key: t.key, body: { position: checkpoint } })).status).toBe(200);

    const during = appender(t, contact);
    const started = await call('POST', `/api/v1/admin/tenants/${t.id}/move`, { headers: admin, body: { shard: 1 } });
    expect(started.status).toBe(202);
    expect((await json<{ move: MoveView }>(started)).move).toMatchObject({ state: 'copying', from_shard: 0, to_shard: 1 });
    // Progress is visible while it runs, and the tenant keeps appending through it.
    const states = new Set<string>();
    const final = await eventually(
      async () => {
        const m = await moveOf(t);
        states.add(m.move!.state);
        return m.move!.state === 'done' || m.move!.state === 'failed' ? m : undefined;
      },
      { timeoutMs: 45_000, stepMs: 100 },
    );
    await during.stop();
    // Appends went on through the move (a few may have met the switch's 503 and been retried).
    expect(during.acked.length).toBeGreaterThan(0);
    expect(final.move!.error).toBeNull();
    expect(final).toMatchObject({ shard: 1, move: { state: 'done', from_shard: 0, to_shard: 1 } });
    expect(final.move!.copied_rows).toBeGreaterThan(0);
    expect(final.move!.verified_rows).toBeGreaterThan(0);
    expect(final.move!.deleted_rows).toBeGreaterThan(0);
    expect(states.has('switched') || states.has('deleting')).toBe(true);

    // A few more after the move.
    const after = appender(t, contact);
    await eventually(async () => after.acked.length >= 5, { timeoutMs: 10_000 });
    await after.stop();
    const acked = [...before.acked, ...during.acked, ...after.acked];

    // Every acknowledged append, once, in positions 1..N; the events from before kept their positions.
    const log = await eventually(async () => {
      const l = await wholeLog(t);
      return l.length >= acked.length ? l : undefined;
    }, { timeoutMs: 20_000 });
    expect(log.map((e) => e.position)).toEqual(Array.from({ length: log.length }, (_, i) => i + 1));
    expect(new Set(log.map((e) => e.id)).size).toBe(log.length);
    expect(new Set(log.map((e) => e.id))).toEqual(new Set(acked));
    expect(log.slice(0, logBefore.length).map((e) => [e.id, e.position])).toEqual(logBefore.map((e) => [e.id, e.position]));

    // The new shard holds everything, the old one nothing of the tenant.
    const [oldRows, newRows] = [await allRows(shardAt(env, 0).db, t.id), await allRows(shardAt(env, 1).db, t.id)];
    for (const name of Object.keys(oldRows)) expect(oldRows[name], name).toEqual([]);
    expect(newRows.events!.length).toBe(log.length);
    expect(newRows.contact_events!.length).toBeGreaterThan(0);
    expect(newRows.webhook_subscriptions!.map((r) => r.id)).toEqual([sub.id]);

    // Subscriptions kept their checkpoint; the webhook endpoint still receives, once per event.
    const s = await json<{ checkpoint: number }>(await call('GET', '/api/v1/subscriptions/crm-sync', { key: t.key }));
    expect(s.checkpoint).toBe(checkpoint);
    const lastId = after.acked[after.acked.length - 1]!;
    await eventually(async () => (await received(path)).some((r) => r.body.includes(lastId)), { timeoutMs: 20_000 });
    const ids = (await received(path)).map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(ids.length);
  }, 90_000);

  it('step by step, with appends between every step: the fence refuses them while syncing and verifying, nothing is lost', async () => {
    const t = await tenantOnShard(0, 'steps');
    const contact = uuid();
    const acked: string[] = [];
    const refusedIn = new Set<string>();
    let pendingId: string | null = null;
    let i = 0;
    // One append (or the retry of a refused one, same id), as a client would.
    const appendOne = async (state: string) => {
      const id = pendingId ?? uuid();
      const body = i % 2 === 0 ? { event_type: 'audit.checked', source: 'system', payload: { i } } : { event_type: 'message.sent', source: 'system', contact_id: contact, payload: { i } };
      const res = await call('POST', '/api/v1/events', { key: t.key, body: { ...body, id } });
      if (res.status === 503) {
        refusedIn.add(state);
        pendingId = id;
        return;
      }
      expect([200, 201]).toContain(res.status);
      acked.push(id);
      pendingId = null;
      i += 1;
    };
    for (let k = 0; k < 250; k += 1) await appendOne('before');
    const m = await moveStepByStep(t, 0, 1, appendOne);
    expect(m.error).toBeNull();
    expect(m.state).toBe('done');
    // Appends went on while copying, and the fence refused them from syncing to the switch.
    expect(refusedIn.has('syncing') || refusedIn.has('verifying')).toBe(true);
    expect(refusedIn.has('copying')).toBe(false);
    forgetTenantShard(t.id);
    while (pendingId) await appendOne('after');
    for (let k = 0; k < 3; k += 1) await appendOne('after');
    const log = await eventually(async () => {
      const l = await wholeLog(t);
      return l.length >= acked.length ? l : undefined;
    }, { timeoutMs: 20_000 });
    expect(log.map((e) => e.position)).toEqual(Array.from({ length: log.length }, (_, n) => n + 1));
    expect(new Set(log.map((e) => e.id))).toEqual(new Set(acked));
    expect(log.length).toBe(acked.length);
    for (const rows of Object.values(await allRows(shardAt(env, 0).db, t.id))) expect(rows).toEqual([]);
  }, 90_000);

  it('carries the rollups and their compaction watermark: the moved tenant answers the same counts, and compacts on its new shard', async () => {
    const t = await tenantOnShard(0, 'rollups');
    const today = floorDay(Date.now());
    expect((await deliverAnalytics(spreadRecords(t.id, today))).ackAll).toBe(true);
    // Compacted through day -3: the move must carry both the daily rows and the watermark, or the
    // new shard would read those days from the daily table it lacks, or the later ones twice.
    await compactRollups(env, { tenantIds: [t.id], now: dayBefore(today, 2) + HOUR_MS });
    const before = await rollupAnswers(t, today);
    expect(before.day.total).toBe(10);

    const m = await moveStepByStep(t, 0, 1);
    expect(m.error).toBeNull();
    expect(m.state).toBe('done');
    forgetTenantShard(t.id);
    expect(await watermarkOf(shardAt(env, 1).db, t.id)).toBe(dayBefore(today, 2));
    expect(await watermarkOf(shardAt(env, 0).db, t.id)).toBeNull();
    expect(await rollupAnswers(t, today)).toEqual(before);

    // On the new shard: a backdated event into a compacted day counts once, and the next compaction goes on from the watermark.
    expect((await deliverAnalytics(sentRecords(t.id, 1, dayBefore(today, 5) + 10 * HOUR_MS))).ackAll).toBe(true);
    expect(await compactRollups(env, { tenantIds: [t.id] })).toMatchObject({ steps: 1, errors: 0, fenced: 0 });
    expect(await watermarkOf(shardAt(env, 1).db, t.id)).toBe(today);
    const after = await rollupAnswers(t, today);
    expect(after.day.total).toBe(11);
    expect(after.day[new Date(dayBefore(today, 5)).toISOString()]).toBe(4);
    expect(after.type).toEqual({ ...before.type, total: 11, 'message.sent': before.type['message.sent']! + 1 });
  });

  it("fences the old shard: a writer that still resolves it from a stale cache fails there instead of writing unseen", async () => {
    const t = await tenantOnShard(1, 'fence');
    expect((await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'audit.checked', source: 'system', payload: {} } })).status).toBe(201);
    expect((await call('POST', `/api/v1/admin/tenants/${t.id}/move`, { headers: admin, body: { shard: 0 } })).status).toBe(202);
    await eventually(async () => (await moveOf(t)).move!.state === 'done', { timeoutMs: 45_000, stepMs: 200 });
    const old = shardAt(env, 1).db;
    const record = {
      id: uuid(), event_type: 'audit.checked', source: 'system' as const, contact_id: null, session_id: null, message_id: null, payload: {}, metadata: {},
      stream_id: null, sequence_number: null, schema_version: 1, timestamp: new Date().toISOString(), created_at: new Date().toISOString(),
    };
    await expect(insertEventsStatement(old, t.id, [{ record, idempotency_key: null, request_hash: null }]).run()).rejects.toThrow(/tenant moved/);
    await expect(old.prepare(`INSERT INTO id_owners (tenant_id, kind, id, owner) VALUES (?, 'event', ?, 'stale')`).bind(t.id, uuid()).run()).rejects.toThrow(/tenant moved/);
    // Another tenant of the old shard writes there as before.
    const other = await tenantOnShard(1, 'neighbour');
    expect((await call('POST', '/api/v1/events', { key: other.key, body: { event_type: 'audit.checked', source: 'system', payload: {} } })).status).toBe(201);
  }, 60_000);

  it("answers 503 Retry-After (and writes nothing) while the tenant's shard is fenced; appends again once lifted", async () => {
    const t = await tenantOnShard(0, 'fenced-api');
    const db = shardAt(env, 0).db;
    await fenceStatement(db, t.id, 1, Date.now()).run();
    const refused = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'audit.checked', source: 'system', payload: {} } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await json<{ type: string }>(refused)).type).toMatch(/tenant-moving/);
    expect((await db.prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ?').bind(t.id).first<{ n: number }>())!.n).toBe(0);
    await liftFence(db, t.id);
    expect((await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'audit.checked', source: 'system', payload: {} } })).status).toBe(201);
  });

  it('a hub relaying to a fenced shard keeps its records, and relays each once the fence is lifted', async () => {
    const t = await tenantOnShard(1, 'fenced-relay');
    const db = shardAt(env, 1).db;
    const contact = uuid();
    await fenceStatement(db, t.id, 0, Date.now()).run();
    const prepared = await prepareEvent({ event_type: 'message.sent', source: 'system', contact_id: contact, payload: {} }, { idempotencyKey: null, correlationId: null, now: Date.now() });
    const { owner } = contactHub(env, t.id, contact);
    const stub = contactHubStub(env, t.id, contact);
    await stub.appendEvents(owner, [prepared]);
    // The relay pass ran and was refused: the record waits in the hub.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await outbox(stub)).pending).toBeGreaterThan(0);
    expect((await db.prepare('SELECT count(*) AS n FROM events WHERE tenant_id = ?').bind(t.id).first<{ n: number }>())!.n).toBe(0);
    await liftFence(db, t.id);
    await drainByAlarm(stub);
    await untilInD1(t.id, [prepared.id]);
  });

  it('refuses a bad move: unknown shard (422 naming the field), unknown tenant (404), the shard it is on (409)', async () => {
    const t = await tenantOnShard(0, 'bad-move');
    const bad = await call('POST', `/api/v1/admin/tenants/${t.id}/move`, { headers: admin, body: { shard: 7 } });
    expect(bad.status).toBe(422);
    expect((await json<{ errors: { path: string }[] }>(bad)).errors.map((e) => e.path)).toEqual(['shard']);
    expect((await call('POST', `/api/v1/admin/tenants/${t.id}/move`, { headers: admin, body: { shard: '1' } })).status).toBe(422);
    expect((await call('POST', '/api/v1/admin/tenants/no-such-tenant/move', { headers: admin, body: { shard: 1 } })).status).toBe(404);
    expect((await call('POST', `/api/v1/admin/tenants/${t.id}/move`, { headers: admin, body: { shard: 0 } })).status).toBe(409);
    expect((await moveOf(t)).move).toBeNull();
  });
});
