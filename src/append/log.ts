import { tenantDb } from '../db/shards';
import { contactHub } from '../hub';
import type { ExpectedVersion } from '../domain/expected-version';
import type { PreparedEvent } from '../domain/prepared';
import { clearRelayOutbox, eventFromRow, findExisting, insertDirectStatements, type EventInsert, type EventRow } from '../db/events';
import { eventOwners, ownerKey } from '../db/owners';
import { addressToHub, appendAtHub } from './hub-append';
import type { TimelineEntryRecord } from '../domain/schemas/contact-events';
import type { EventRecord } from '../domain/schemas/events';
import { iso } from '../domain/time';
import { kickProjections } from '../projections/runner';
import { decideAppend } from '../domain/idempotency';
import type { RelayMessage } from '../domain/relay-message';
import { eventCountMessage } from '../domain/relay-message';
import { sendRelay } from '../queues/messages';
import { dropUnwanted } from '../relay-batcher/wanted';

export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

export interface LogAppendResult {
  created: boolean;
  events: EventRecord[];
  derived: TimelineEntryRecord[];
}

/**
 * How an append went. A conflict (an id or Idempotency-Key already committed with another body, or
 * held by another owner) wrote nothing; the HTTP routes answer it with 409, other callers decide.
 */
export type LogAppendOutcome = ({ ok: true } & LogAppendResult) | { ok: false; reason: 'conflict'; detail: string };

const conflictOutcome = (detail: string): LogAppendOutcome => ({ ok: false, reason: 'conflict', detail });

/**
 * Appends log events: those naming a contact go to that contact's hub (which sequences them and
 * derives timeline entries), the others straight to D1. Everything is checked for conflicts before
 * anything is written, so a rejected request writes nothing. Results come back in request order.
 */
export interface AppendOptions {
  /** The request chose ids or an Idempotency-Key: they may already name another owner's event (see below). */
  clientChosen?: boolean;
}

export async function appendLog(env: Env, ctx: WaitUntil, tenantId: string, items: PreparedEvent[], opts: AppendOptions = {}): Promise<LogAppendOutcome> {
  const byContact = new Map<string, PreparedEvent[]>();
  const direct: PreparedEvent[] = [];
  for (const item of items) {
    if (item.contact_id) {
      const list = byContact.get(item.contact_id) ?? [];
      list.push(item);
      byContact.set(item.contact_id, list);
    } else {
      direct.push(item);
    }
  }

  // A hub knows only its own ids and keys. A client id or key already used with another contact (or with
  // no contact) is a different body: 409, not a second event (the relay would even drop a reused id).
  // Generated ids cannot collide, so only requests with client-chosen ones pay this D1 read. Ids of hubs
  // are seen as soon as the other owner's append answered (the owner index); keys only once relayed.
  // (A request with direct events only checks the index inside appendDirect, alongside its own read.)
  const directOnly = byContact.size === 0;
  if (opts.clientChosen && !directOnly) {
    const detail = await checkOtherOwners(env, tenantId, [...byContact.values()].flat(), items);
    if (detail) return conflictOutcome(detail);
  }

  // Ids that name each hub, before any hub sees the items (the checks below included).
  await Promise.all([...byContact].map(([contactId, list]) => addressToHub(contactHub(env, tenantId, contactId).owner, list)));

  // One owner: commit as one transaction there. Several: check every owner first, then commit each —
  // a retry with the same ids or Idempotency-Key completes a commit cut short, exactly once.
  const owners = byContact.size + (direct.length > 0 ? 1 : 0);
  if (owners > 1) {
    const details = await Promise.all([
      ...[...byContact].map(([contactId, list]) => {
        const { stub, owner } = contactHub(env, tenantId, contactId);
        return stub.checkEvents(owner, list);
      }),
      direct.length > 0 ? checkDirect(env, tenantId, direct) : Promise.resolve(null),
    ]);
    const detail = details.find((d) => d !== null);
    if (detail) return conflictOutcome(detail);
  }

  const out: EventRecord[] = new Array(items.length);
  const indexOf = new Map(items.map((item, i) => [item, i]));
  const place = (list: PreparedEvent[], records: EventRecord[]) => list.forEach((item, i) => (out[indexOf.get(item)!] = records[i]!));
  type Part = { created: boolean; derived: TimelineEntryRecord[] } | { conflict: string };
  const results = await Promise.all([
    ...[...byContact].map(async ([contactId, list]): Promise<Part> => {
      const hub = contactHub(env, tenantId, contactId);
      // The ids work on routes that take only an id from the next request on (docs/api.md "Read your writes").
      const outcome = await appendAtHub(await tenantDb(env, tenantId), hub, list, () => hub.stub.appendEvents(hub.owner, list, 'any' satisfies ExpectedVersion));
      if (!outcome.ok) return { conflict: outcome.detail };
      place(list, outcome.records);
      return { created: outcome.created, derived: outcome.derived };
    }),
    direct.length > 0
      ? appendDirect(env, ctx, tenantId, direct, opts.clientChosen === true && directOnly).then((r): Part => {
          if (!r.ok) return { conflict: r.detail };
          place(direct, r.events);
          return { created: r.created, derived: [] };
        })
      : Promise.resolve(null),
  ]);
  for (const r of results) if (r && 'conflict' in r) return conflictOutcome(r.conflict);
  const done = results.flatMap((r) => (r && !('conflict' in r) ? [r] : []));
  return {
    ok: true,
    created: done.some((r) => r.created),
    events: out,
    derived: done.flatMap((r) => r.derived),
  };
}

function findOriginal(existing: EventRow[], item: PreparedEvent): EventRow | undefined {
  return existing.find((r) => r.id === item.id || (item.idempotencyKey !== null && r.idempotency_key === item.idempotencyKey));
}

/**
 * An id or key another owner holds is never this request's original, whatever the body: the
 * idempotency decision's conflict, told that the stored item's hash matches nothing.
 */
function heldElsewhere(found: { id: string }, item: PreparedEvent): string {
  const decision = decideAppend('Event', { id: found.id, request_hash: null }, item);
  return decision.kind === 'conflict' ? decision.detail : `Event ${item.id} is held by another owner.`;
}

const existingFor = async (env: Env, tenantId: string, items: PreparedEvent[]) =>
  findExisting(await tenantDb(env, tenantId), tenantId, items.map((i) => i.id), items.flatMap((i) => (i.idempotencyKey ? [i.idempotencyKey] : [])));


/**
 * Client-chosen ids and keys held by another owner. `hubItems` are checked against D1's rows (their
 * hub cannot see other owners'); every item is checked against the owner index, which knows the ids of
 * hubs before the relay brings their rows, so a direct event cannot take an id a hub holds either.
 */
async function checkOtherOwners(env: Env, tenantId: string, hubItems: PreparedEvent[], items: PreparedEvent[]): Promise<string | null> {
  const [existing, indexed] = await Promise.all([hubItems.length > 0 ? existingFor(env, tenantId, hubItems) : Promise.resolve([]), checkIndexed(env, tenantId, items)]);
  if (indexed) return indexed;
  for (const item of hubItems) {
    for (const row of existing) {
      const same = row.id === item.id || (item.idempotencyKey !== null && row.idempotency_key === item.idempotencyKey);
      if (same && row.contact_id !== item.contact_id) return heldElsewhere(row, item);
    }
  }
  return null;
}

/** The conflict of a client-chosen id that the owner index gives to another hub (or to any hub, for an event no hub owns). */
async function checkIndexed(env: Env, tenantId: string, items: PreparedEvent[]): Promise<string | null> {
  const chosen = items.filter((i) => !i.fresh);
  const owners = await eventOwners(await tenantDb(env, tenantId), tenantId, chosen.map((i) => i.id));
  for (const item of chosen) {
    const owner = owners.get(item.id);
    if (owner && (item.contact_id === null || ownerKey(owner) !== ownerKey({ kind: 'contact', id: item.contact_id }))) {
      return heldElsewhere({ id: item.id }, item);
    }
  }
  return null;
}

/** The conflict an append of these direct events would meet, without writing (first phase of a multi-owner batch). */
async function checkDirect(env: Env, tenantId: string, items: PreparedEvent[]): Promise<string | null> {
  const existing = await existingFor(env, tenantId, items);
  for (const item of items) {
    const decision = decideAppend('Event', findOriginal(existing, item), item);
    if (decision.kind === 'conflict') return decision.detail;
  }
  return null;
}

/** Events no hub owns: replay check, one D1 batch (events + relay_outbox), then the queues. In input order. */
async function appendDirect(
  env: Env,
  ctx: WaitUntil,
  tenantId: string,
  items: PreparedEvent[],
  checkIndex: boolean,
  retried = false,
): Promise<{ ok: true; created: boolean; events: EventRecord[] } | { ok: false; detail: string }> {
  const [existing, indexed] = await Promise.all([existingFor(env, tenantId, items), checkIndex ? checkIndexed(env, tenantId, items) : Promise.resolve(null)]);
  if (indexed) return { ok: false, detail: indexed };
  const now = Date.now();
  const events: EventRecord[] = [];
  const inserts: EventInsert[] = [];
  for (const item of items) {
    const row = findOriginal(existing, item);
    const decision = decideAppend('Event', row, item);
    if (decision.kind === 'conflict') return { ok: false, detail: decision.detail };
    if (row) {
      events.push(eventFromRow(row));
      continue;
    }
    const record: EventRecord = {
      id: item.id,
      event_type: item.event_type,
      source: item.source,
      contact_id: null,
      session_id: item.session_id,
      message_id: item.message_id,
      payload: item.payload,
      metadata: item.metadata,
      stream_id: null,
      sequence_number: null,
      schema_version: item.schema_version,
      timestamp: iso(item.timestamp),
      created_at: iso(now),
    };
    inserts.push({ record, idempotency_key: item.idempotencyKey, request_hash: item.requestHash });
    events.push(record);
  }
  if (inserts.length > 0) {
    try {
      const db = await tenantDb(env, tenantId);
      const [inserted] = await db.batch<{ id: string; position: number }>(insertDirectStatements(db, tenantId, inserts, now));
      const positions = new Map(inserted!.results.map((r) => [r.id, r.position]));
      for (const { record } of inserts) record.position = positions.get(record.id);
    } catch (error) {
      // A concurrent request committed one of these ids or keys between our check and our insert: the
      // batch rolled back; checking again now answers with the original (replay) or 409.
      if (!retried && /UNIQUE constraint failed/i.test(String(error))) return appendDirect(env, ctx, tenantId, items, checkIndex, true);
      throw error;
    }
    ctx.waitUntil(relayDirect(env, tenantId, inserts.map((i) => i.record)));
    ctx.waitUntil(kickProjections(env, tenantId));
  }
  return { ok: true, created: inserts.length > 0, events };
}

/** Sends Worker-committed events to both queues (to webhooks, those a subscription matches), then clears their outbox rows. */
export async function relayDirect(env: Env, tenantId: string, events: EventRecord[]): Promise<void> {
  const messages: RelayMessage[] = events.map((event) => ({ kind: 'event', tenant_id: tenantId, event }));
  try {
    const [webhooks] = await dropUnwanted(env, [messages]);
    await Promise.all([sendRelay(env.WEBHOOKS_QUEUE, webhooks!), sendRelay(env.ANALYTICS_QUEUE, events.map((e) => eventCountMessage(tenantId, e)))]);
    await clearRelayOutbox(await tenantDb(env, tenantId), tenantId, events.map((e) => e.id));
  } catch (error) {
    // The rows stay in relay_outbox; the sweep cron sends them again.
    console.error(JSON.stringify({ msg: 'direct relay failed', tenant_id: tenantId, error: String(error) }));
  }
}
