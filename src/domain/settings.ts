/** Per-tenant settings (stored as JSON in tenants.settings), their defaults and bounds. */
export interface ResolvedSettings {
  event_retention_days: number;
  contact_event_expired_grace_days: number;
}

export const SETTING_BOUNDS = {
  // At least a day so that a typo cannot archive today's events; at most ten years.
  event_retention_days: { min: 1, max: 3650, default: 365 },
  // 0 deletes expired timeline entries at the next cleanup.
  contact_event_expired_grace_days: { min: 0, max: 365, default: 7 },
} as const;

export type SettingName = keyof typeof SETTING_BOUNDS;
export const SETTING_NAMES = Object.keys(SETTING_BOUNDS) as SettingName[];

/**
 * The one reading of CONTACT_EVENT_EXPIRED_GRACE_DAYS (a wrangler var): an integer within the
 * setting's bounds, else the built-in default. A malformed value falls back to the default rather
 * than to 0, which would delete entries the moment they expire.
 */
export function parseGraceDays(value: string | undefined): number {
  const b = SETTING_BOUNDS.contact_event_expired_grace_days;
  // Digits only: Number() reads '', ' ' and '0x1' as numbers too.
  const text = value?.trim() ?? '';
  if (!/^\d{1,4}$/.test(text)) return b.default;
  const days = Number(text);
  return days >= b.min && days <= b.max ? days : b.default;
}

/** The defaults, with CONTACT_EVENT_EXPIRED_GRACE_DAYS taking the place of 7 when set and valid. */
export function defaultSettings(graceDaysVar?: string): ResolvedSettings {
  return {
    event_retention_days: SETTING_BOUNDS.event_retention_days.default,
    contact_event_expired_grace_days: parseGraceDays(graceDaysVar),
  };
}

/** Stored JSON → effective settings: a missing, malformed or out-of-range value falls back to its default. */
export function resolveSettings(stored: string | null | undefined, defaults: ResolvedSettings): ResolvedSettings {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(stored ?? '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) raw = parsed as Record<string, unknown>;
  } catch {
    // A corrupt settings column must not stop retention for everyone: defaults apply.
  }
  const out = { ...defaults };
  for (const name of SETTING_NAMES) {
    const v = raw[name];
    const b = SETTING_BOUNDS[name];
    if (typeof v === 'number' && Number.isInteger(v) && v >= b.min && v <= b.max) out[name] = v;
  }
  return out;
}
