import { SETTING_NAMES, defaultSettings, resolveSettings, type ResolvedSettings, type SettingName } from '../domain/settings';

/**
 * A tenant's effective settings (defaults filled in), or null when the tenant does not exist.
 * `graceDaysVar` is env.CONTACT_EVENT_EXPIRED_GRACE_DAYS, the deployment-wide default.
 * Exported for the other jobs (the expired-timeline cleanup reads contact_event_expired_grace_days).
 */
export async function getTenantSettings(d1: D1Database, tenantId: string, graceDaysVar?: string): Promise<ResolvedSettings | null> {
  const row = await d1.prepare(`SELECT settings FROM tenants WHERE id = ?`).bind(tenantId).first<{ settings: string }>();
  return row ? resolveSettings(row.settings, defaultSettings(graceDaysVar)) : null;
}

/** Every tenant with its effective settings, for the daily jobs. */
export async function listTenantSettings(d1: D1Database, graceDaysVar?: string): Promise<{ tenantId: string; settings: ResolvedSettings }[]> {
  const { results } = await d1.prepare(`SELECT id, settings FROM tenants ORDER BY id`).all<{ id: string; settings: string }>();
  const defaults = defaultSettings(graceDaysVar);
  return results.map((r) => ({ tenantId: r.id, settings: resolveSettings(r.settings, defaults) }));
}

/**
 * Sets (number) or resets to the default (null) the named settings, in one statement so that other
 * keys of the JSON column — and a concurrent change to another setting — are kept. False when the
 * tenant does not exist.
 */
export async function updateTenantSettings(d1: D1Database, tenantId: string, changes: Partial<Record<SettingName, number | null>>): Promise<boolean> {
  let expr = `json(CASE WHEN json_valid(settings) THEN settings ELSE '{}' END)`;
  const args: (string | number)[] = [];
  // Paths are built from the known setting names only, never from request text.
  for (const name of SETTING_NAMES) {
    const value = changes[name];
    if (value === undefined) continue;
    if (value === null) {
      expr = `json_remove(${expr}, '$.${name}')`;
    } else {
      args.push(value);
      expr = `json_set(${expr}, '$.${name}', ?${args.length})`;
    }
  }
  args.push(tenantId);
  const res = await d1.prepare(`UPDATE tenants SET settings = ${expr} WHERE id = ?${args.length}`).bind(...args).run();
  return res.meta.changes > 0;
}
