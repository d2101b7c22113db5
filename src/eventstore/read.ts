import { headPosition, readLogJson, readLogPage, type LogQuery } from '../db/log';

/**
 * One page of the tenant's log. With a filter (types, correlation id), the head is read first and
 * the page is bounded by it, so `next` can move past events that did not match without ever
 * skipping one committed later.
 */
export async function logPage(d1: D1Database, tenantId: string, q: Omit<LogQuery, 'upTo'>): Promise<{ rows: { position: number; json: string }[]; next: number }> {
  const filtered = Boolean(q.types) || q.correlationId !== undefined;
  const head = filtered ? await headPosition(d1, tenantId) : undefined;
  const rows = await readLogJson(d1, tenantId, { ...q, upTo: head });
  const last = rows[rows.length - 1];
  let next = last ? last.position : q.after;
  if (head !== undefined && rows.length < q.limit) next = Math.max(next, head);
  return { rows, next };
}

/** Like `logPage`, for callers that only need the JSON array (GET /log, subscription batches). */
export async function logPageBody(d1: D1Database, tenantId: string, q: Omit<LogQuery, 'upTo'>): Promise<{ body: string; count: number; next: number }> {
  const filtered = Boolean(q.types) || q.correlationId !== undefined;
  const head = filtered ? await headPosition(d1, tenantId) : undefined;
  const page = await readLogPage(d1, tenantId, { ...q, upTo: head });
  let next = page.last ?? q.after;
  if (head !== undefined && page.count < q.limit) next = Math.max(next, head);
  return { body: page.body, count: page.count, next };
}
