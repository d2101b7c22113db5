/** The units of time in milliseconds, defined once. */
export const SECOND_MS = 1_000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined): string | null => (ms == null ? null : iso(ms));

/**
 * Parses a query-string time: a date (2025-10-01), a date-time with offset, or epoch milliseconds.
 * `endOfDay` makes a bare date mean its last millisecond (`to=2025-10-10` echoes 23:59:59.999).
 */
export function parseTimeParam(value: string, endOfDay = false): number | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const ms = Date.parse(`${value}T00:00:00.000Z`);
    if (Number.isNaN(ms)) return null;
    return endOfDay ? ms + DAY_MS - 1 : ms;
  }
  if (/^\d{1,16}$/.test(value)) return Number(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
