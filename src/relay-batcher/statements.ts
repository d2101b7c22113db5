import { deleteContactEventsStatements, upsertContactEventsStatement } from '../db/contact-events';
import { insertEventsStatement } from '../db/events';
import { outboxItems, type D1Pass, type OutboxItem, type OutboxRow } from './types';

// Rows travel as one JSON parameter per statement (src/db/bulk.ts); D1 caps a string value at 2 MB.
const STATEMENT_ROWS = 200;
const STATEMENT_BYTES = 1_000_000;

/**
 * The D1 statements that apply relay passes, as few as possible: every statement has a fixed cost
 * (measured locally: ten event + timeline pairs cost 5.5 ms as twenty one-row statements, 2.7 ms as
 * two ten-row ones), and a hub's outbox alternates a log event with the timeline entry derived from it.
 *
 * Per tenant, log events go in their own statements: inserts that only ever add rows (idempotent by
 * id), so their order relative to timeline changes is free. Timeline changes keep their outbox order
 * within a pass (an upsert then a delete of the same entry must stay so); passes are of different
 * contacts, so theirs is free, and their changes are concatenated into runs of one kind.
 */
export function d1Statements(db: D1Database, passes: D1Pass[]): D1PreparedStatement[] {
  const byTenant = new Map<string, OutboxRow[]>();
  for (const p of passes) {
    // A row that carries an event and its derived entry, or a batch's entries, becomes a change per
    // record; the stored body's length then bounds none of them on its own.
    const rows = p.rows.flatMap((r) => {
      const items = outboxItems(r.item);
      return items.map((item) => ({ ...r, item, chars: items.length === 1 ? r.chars : undefined }));
    });
    const list = byTenant.get(p.tenantId);
    if (list) list.push(...rows);
    else byTenant.set(p.tenantId, rows);
  }
  const statements: D1PreparedStatement[] = [];
  for (const [tenantId, rows] of byTenant) {
    statements.push(...runStatements(db, tenantId, rows.filter((r) => r.item.kind === 'event')));
    statements.push(...runStatements(db, tenantId, rows.filter((r) => r.item.kind !== 'event')));
  }
  return statements;
}

/** Consecutive rows of a kind in one statement, bounded in rows and bytes. */
function runStatements(db: D1Database, tenantId: string, rows: OutboxRow[]): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  let run: OutboxRow[] = [];
  let runBytes = 0;
  const flush = () => {
    const first = run[0];
    if (!first) return;
    const kind = first.item.kind;
    if (kind === 'event') {
      statements.push(insertEventsStatement(db, tenantId, run.map((r) => (r.item as Extract<OutboxItem, { kind: 'event' }>).insert)));
    } else if (kind === 'timeline') {
      const items = run.map((r) => r.item as Extract<OutboxItem, { kind: 'timeline' }>);
      statements.push(upsertContactEventsStatement(db, tenantId, items));
    } else {
      statements.push(...deleteContactEventsStatements(db, tenantId, run.map((r) => r.item as Extract<OutboxItem, { kind: 'timeline_delete' }>)));
    }
    run = [];
    runBytes = 0;
  };
  for (const row of rows) {
    // An upper bound of the UTF-8 size: no UTF-16 code unit takes more than 3 bytes. The stored body's
    // length bounds each change it carries, without serializing the row again.
    const bytes = (row.chars ?? JSON.stringify(row.item).length) * 3;
    if (run.length > 0 && (run[0]!.item.kind !== row.item.kind || run.length >= STATEMENT_ROWS || runBytes + bytes > STATEMENT_BYTES)) flush();
    run.push(row);
    runBytes += bytes;
  }
  flush();
  return statements;
}

