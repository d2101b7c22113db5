/** Documented limits (README "Limits"). Each is enforced with a 4xx problem response. */
export const LIMITS = {
  bodyBytes: 1024 * 1024,
  payloadBytes: 64 * 1024,
  metadataBytes: 16 * 1024,
  batchItems: 1000,
  pageSize: 1000,
  defaultPageSize: 100,
  eventTypeLength: 100,
  idempotencyKeyLength: 255,
  titleLength: 500,
  descriptionLength: 10_000,
  /**
   * Nesting of a JSON field (payload, metadata, state): the field's own object is level 1. Far below
   * SQLite's JSON depth limit (1,000), which D1 and the hubs' json_extract reads would otherwise hit
   * on a stored record (its payload sits a level or two deeper than the caller sent it).
   */
  jsonDepth: 64,
} as const;
