import { clearHubBacklog, clearParked, upsertHubBacklog } from '../db/ops';
import { tenantDb } from '../db/shards';
import type { HubMeta } from './meta';
import type { HubOwner } from './types';

/** A hub's relay backlog as its report to operations says it. */
export interface Backlog {
  pending: number;
  oldestAt: number | null;
  failures: number;
  lastError: string | null;
}

/**
 * A hub's relay backlog as operations see it. GET /api/v1/ops/stats cannot enumerate hubs, so a hub
 * whose relay fails reports its backlog to D1 (hub_relay_backlog) and removes the report once its
 * outbox is empty. The flag lives in the hub's storage (meta) so that a hub evicted while backlogged
 * still clears its report later; in memory it mirrors meta, so that a relay pass need not query it.
 */
export class BacklogReport {
  private reported: boolean;

  constructor(
    private readonly env: Env,
    private readonly owner: HubOwner,
    private readonly meta: HubMeta,
  ) {
    this.reported = meta.backlogReported();
  }

  /** The key of this hub in D1's operations tables (hub_relay_backlog, relay_parked). */
  get hubKey(): string {
    return `${this.owner.kind}:${this.owner.id}`;
  }

  /** Best effort: D1 itself may be what fails, and the relay retries regardless. */
  async report(backlog: Backlog): Promise<void> {
    try {
      await upsertHubBacklog(await tenantDb(this.env, this.owner.tenantId), this.owner.tenantId, this.hubKey, { ...backlog, now: Date.now() });
      this.meta.setBacklogReported(true);
      this.reported = true;
    } catch {
      // Reported on the next failed pass.
    }
  }

  /** Removes the report once the outbox is empty; forced (an erase), the parked records' report too. */
  async clear(pending: () => number, force = false): Promise<void> {
    // The parked records' bodies go with the hub's storage.
    if (force)
      await tenantDb(this.env, this.owner.tenantId)
        .then((db) => clearParked(db, this.owner.tenantId, this.hubKey))
        .catch(() => undefined);
    if (!this.reported || (!force && pending() > 0)) return;
    try {
      await clearHubBacklog(await tenantDb(this.env, this.owner.tenantId), this.owner.tenantId, this.hubKey);
      this.meta.setBacklogReported(false);
      this.reported = false;
    } catch {
      // Kept flagged: the next successful pass clears it.
    }
  }

  /** After an erase: nothing is reported any more. */
  forget(): void {
    this.reported = false;
  }
}
