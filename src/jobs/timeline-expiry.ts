import { tenantDb } from '../db/shards';
import { contactHub } from '../hub';
import { contactsWithExpired, deleteExpiredOfContact } from '../db/contact-events';
import { listTenantSettings } from '../db/settings';
import { expiryCutoff } from '../domain/timeline';

const CONTACTS_PER_ROUND = 100;
const PARALLEL = 10;
const BUDGET_MS = 20_000;

export interface ExpiryReport {
  contacts: number;
  deleted: number;
  failed: number;
}

/**
 * Deletes timeline entries that expired more than the tenant's `contact_event_expired_grace_days`
 * ago (PATCH /settings; default CONTACT_EVENT_EXPIRED_GRACE_DAYS, else 7):
 * first in the owning hub (the source of truth; it also queues the D1 delete on its outbox), then the
 * D1 rows directly, so that the candidates D1 lists are gone before the next round. D1 finds the
 * contacts; an entry not yet relayed there is caught by the next run.
 */
export async function purgeExpiredTimeline(env: Env, now = Date.now()): Promise<ExpiryReport> {
  const report: ExpiryReport = { contacts: 0, deleted: 0, failed: 0 };
  const started = Date.now();
  for (const { tenantId, settings } of await listTenantSettings(env.DB, env.CONTACT_EVENT_EXPIRED_GRACE_DAYS)) {
    if (Date.now() - started >= BUDGET_MS) break;
    await purgeTenant(env, tenantId, expiryCutoff(now, settings.contact_event_expired_grace_days), started, report);
  }
  return report;
}

async function purgeTenant(env: Env, tenantId: string, cutoff: number, started: number, report: ExpiryReport): Promise<void> {
  const db = await tenantDb(env, tenantId);
  const failed = new Set<string>();
  while (Date.now() - started < BUDGET_MS) {
    const candidates = (await contactsWithExpired(db, tenantId, cutoff, CONTACTS_PER_ROUND + failed.size)).filter(
      (c) => !failed.has(`${c.tenant_id}:${c.contact_id}`),
    );
    if (candidates.length === 0) break;
    for (let i = 0; i < candidates.length; i += PARALLEL) {
      await Promise.all(
        candidates.slice(i, i + PARALLEL).map(async ({ tenant_id, contact_id }) => {
          try {
            const { stub, owner } = contactHub(env, tenant_id, contact_id);
            const purged = await stub.purgeExpired(owner, cutoff);
            await deleteExpiredOfContact(db, tenant_id, contact_id, cutoff);
            report.deleted += purged;
            report.contacts += 1;
          } catch (error) {
            // Left for the next run; skipped for the rest of this one so the loop always advances.
            failed.add(`${tenant_id}:${contact_id}`);
            report.failed += 1;
            console.error(JSON.stringify({ msg: 'timeline expiry failed', tenant_id, contact_id, error: String(error) }));
          }
        }),
      );
    }
  }
}
