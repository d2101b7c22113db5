import type { HubKeyState } from '../db/owners';

/**
 * The hub's `meta` table: the sequence counter's floor, the flag that its relay backlog is reported
 * to D1, and whether its key is registered in D1's hub_keys (src/db/owners.ts). The counter is the highest stored row's sequence number: an append writes no counter row of
 * its own. Only what deletes rows (an entry's delete, the expiry purge, an erase) stores it first, so
 * that the number of a deleted newest row is never handed out again after a restart; it survives an
 * erase as a tombstone.
 */
export class HubMeta {
  /** hub_key, read once: every append answers it. */
  private hubKeyState: HubKeyState | null | undefined;

  constructor(private readonly sql: SqlStorage) {}

  /** Whether the ids this hub's appends are given can be found from their hash (null: not registered yet). */
  hubKey(): HubKeyState | null {
    if (this.hubKeyState === undefined) {
      const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'hub_key'`).toArray()[0];
      this.hubKeyState = (row?.value as HubKeyState | undefined) ?? null;
    }
    return this.hubKeyState;
  }

  setHubKey(state: HubKeyState): void {
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('hub_key', ?)`, state);
    this.hubKeyState = state;
  }

  /** The last sequence number handed out: the stored counter, or the highest stored row (whichever is higher). */
  lastSequence(): number {
    const seq = this.sql.exec<{ s: number | null }>(
      `SELECT max(s) AS s FROM (SELECT max(seq) AS s FROM log UNION ALL SELECT max(seq) FROM timeline
         UNION ALL SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq')`,
    ).one();
    return seq.s ?? 0;
  }

  /** Inside the transaction of anything that deletes rows: the counter must not go down with them. */
  saveSequence(seq: number): void {
    this.sql.exec(`INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, String(seq));
  }

  backlogReported(): boolean {
    return this.sql.exec(`SELECT 1 FROM meta WHERE key = 'backlog_reported'`).toArray().length > 0;
  }

  setBacklogReported(reported: boolean): void {
    if (reported) this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('backlog_reported', '1')`);
    else this.sql.exec(`DELETE FROM meta WHERE key = 'backlog_reported'`);
  }

  /** Everything but the counter (an erase). */
  deleteAllButSequence(): void {
    this.sql.exec(`DELETE FROM meta WHERE key != 'seq'`);
    this.hubKeyState = null;
  }
}
