import type { PreparedEntry, PreparedEvent } from './prepared';
import { requestHash } from './json';
import type { NewContactEvent } from './schemas/contact-events';
import type { NewEvent } from './schemas/events';

export interface AppendContext {
  /** The request's Idempotency-Key header; for a batch, item i gets `${key}#${i}`. */
  idempotencyKey: string | null;
  /** The request's X-Correlation-ID header; fills metadata.correlation_id when the body has none. */
  correlationId: string | null;
  now: number;
}

const itemKey = (key: string | null, index: number, batch: boolean) => (key === null ? null : batch ? `${key}#${index}` : key);

/**
 * Only an item with a client-chosen id or an Idempotency-Key can be a replay. Without either, the id is
 * a fresh one (a random UUID, which a hub's append replaces by one naming the hub: src/append/hub-append.ts):
 * there is no earlier request to compare with, so the body is not hashed ('') and the hub skips the lookups.
 */
async function replayFacts(body: { id?: string | undefined }, ctx: AppendContext): Promise<{ requestHash: string; fresh: boolean }> {
  const fresh = body.id === undefined && ctx.idempotencyKey === null;
  return { requestHash: fresh ? '' : await requestHash(body), fresh };
}

/** A validated log event → what the hub or D1 commits. Hashes the body as sent, before defaults. */
export async function prepareEvent(body: NewEvent, ctx: AppendContext, index = 0, batch = false): Promise<PreparedEvent> {
  const metadata: Record<string, unknown> = { ...body.metadata };
  if (metadata.correlation_id === undefined && ctx.correlationId) metadata.correlation_id = ctx.correlationId;
  return {
    id: body.id ?? crypto.randomUUID(),
    idChosen: body.id !== undefined,
    idempotencyKey: itemKey(ctx.idempotencyKey, index, batch),
    ...(await replayFacts(body, ctx)),
    event_type: body.event_type,
    source: body.source,
    contact_id: body.contact_id ?? null,
    session_id: body.session_id ?? null,
    message_id: body.message_id ?? null,
    payload: body.payload ?? {},
    metadata,
    timestamp: body.timestamp ? Date.parse(body.timestamp) : ctx.now,
    schema_version: 1,
  };
}

export async function prepareEntry(body: NewContactEvent, ctx: AppendContext, index = 0, batch = false): Promise<PreparedEntry> {
  return {
    id: body.id ?? crypto.randomUUID(),
    idChosen: body.id !== undefined,
    idempotencyKey: itemKey(ctx.idempotencyKey, index, batch),
    ...(await replayFacts(body, ctx)),
    event_type: body.event_type,
    category: body.category,
    priority: body.priority ?? 'normal',
    source: body.source,
    session_id: body.session_id ?? null,
    title: body.title ?? null,
    description: body.description ?? null,
    payload: body.payload ?? {},
    metadata: body.metadata ?? {},
    triggered_by: body.triggered_by ?? null,
    integration_source: body.integration_source ?? null,
    is_realtime: body.is_realtime ?? false,
    visible_to_client: body.visible_to_client ?? false,
    visible_to_agent: body.visible_to_agent ?? true,
    expires_at: body.expires_at ? Date.parse(body.expires_at) : null,
    occurred_at: body.occurred_at ? Date.parse(body.occurred_at) : ctx.now,
  };
}
