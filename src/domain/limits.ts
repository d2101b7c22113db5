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
} as const;
