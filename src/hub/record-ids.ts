import { MAX_SEQUENCED, hubHashOfId, sequenceOfId, sequencedId, type RecordKind } from '../domain/hub-ids';

export type { RecordKind };

/** Whether each table has the inline UNIQUE index on `id` of hubs stored before (src/hub/storage.ts). */
export type IdLayout = Record<RecordKind, boolean>;

const TABLE: Record<RecordKind, 'log' | 'timeline'> = { event: 'log', entry: 'timeline' };

/**
 * How a hub finds its log events and timeline entries by id. A registered hub gives the records it
 * sequences ids that carry their sequence number (src/domain/hub-ids.ts sequencedId), found by the
 * tables' key; every other id (a client's, one given before the hub's key was registered) has a row in
 * `hub_ids`. Tables of hubs stored before keep their UNIQUE index on `id`, which finds every id.
 */
export class RecordIds {
  constructor(
    private readonly sql: SqlStorage,
    private layout: IdLayout,
  ) {}

  /** After an erase recreated the tables (applyHubSchema's answer). */
  adopt(layout: IdLayout): void {
    this.layout = layout;
  }

  /** The sequence number of the record stored under `id`, or null. */
  seqOf(kind: RecordKind, id: string): number | null {
    const table = TABLE[kind];
    if (this.layout[kind]) return this.sql.exec<{ seq: number }>(`SELECT seq FROM ${table} WHERE id = ?`, id).toArray()[0]?.seq ?? null;
    const carried = sequenceOfId(id);
    if (carried !== null && this.sql.exec(`SELECT 1 FROM ${table} WHERE seq = ? AND id = ?`, carried, id).toArray().length > 0) return carried;
    return this.sql.exec<{ seq: number }>(`SELECT seq FROM hub_ids WHERE kind = ? AND id = ?`, kind, id).toArray()[0]?.seq ?? null;
  }

  /**
   * The ids records sequenced `seq` are stored under: `addressed` (the Worker's, naming this hub) with
   * its sequence number in it, drawn again in the unlikely case that a stored id (a client's) is the
   * same. An id that does not name a hub is kept. One lookup for all of them.
   */
  mint(kind: RecordKind, items: { addressed: string; seq: number }[]): string[] {
    const out = items.map(({ addressed, seq }) => (hubHashOfId(addressed) === null || seq > MAX_SEQUENCED ? addressed : sequencedId(addressed, seq, kind)));
    let drawn = out.flatMap((id, i) => (id === items[i]!.addressed ? [] : [i]));
    while (drawn.length > 0) {
      const taken = this.held(kind, drawn.map((i) => out[i]!));
      drawn = drawn.filter((i) => taken.has(out[i]!));
      for (const i of drawn) out[i] = sequencedId(items[i]!.addressed, items[i]!.seq, kind);
    }
    return out;
  }

  /** Which of these ids a stored record has. For numbers not stored yet only hub_ids (or the old index) can hold them. */
  private held(kind: RecordKind, ids: string[]): Set<string> {
    const rows = this.layout[kind]
      ? this.sql.exec<{ id: string }>(`SELECT id FROM ${TABLE[kind]} WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))
      : this.sql.exec<{ id: string }>(`SELECT id FROM hub_ids WHERE kind = ? AND id IN (SELECT value FROM json_each(?))`, kind, JSON.stringify(ids));
    return new Set(rows.toArray().map((r) => r.id));
  }

  /** Inside the insert's transaction: a row for an id its sequence number does not find. */
  stored(kind: RecordKind, id: string, seq: number): void {
    if (this.layout[kind] || sequenceOfId(id) === seq) return;
    this.sql.exec(`INSERT INTO hub_ids (kind, id, seq) VALUES (?, ?, ?)`, kind, id, seq);
  }

  /** Inside the delete's transaction. */
  deleted(kind: RecordKind, id: string): void {
    if (!this.layout[kind]) this.sql.exec(`DELETE FROM hub_ids WHERE kind = ? AND id = ?`, kind, id);
  }

  /** Inside an erase's transaction. */
  deleteAll(): void {
    this.sql.exec(`DELETE FROM hub_ids`);
  }
}
