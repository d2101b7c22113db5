/** An event as a projection sees it: upcast to the latest schema version, times in epoch ms. */
export interface ProjectionEvent {
  id: string;
  event_type: string;
  schema_version: number;
  contact_id: string | null;
  stream_id: string | null;
  sequence_number: number | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown>;
  position: number;
  timestamp: number;
}

/**
 * A read model maintained from the global log. One module per read model: the runner
 * (src/projections/runner.ts) feeds it the tenant's events in position order, stores one JSON state
 * per key in `projection_rows`, and rebuilds it from position 0 on request. Pure: no bindings.
 */
export interface Projection<S> {
  name: string;
  description: string;
  /** Exact types or `prefix.*` patterns; the runner reads only these. */
  eventTypes: readonly string[];
  /** The row an event updates; null skips the event. */
  keyOf(event: ProjectionEvent): string | null;
  init(key: string, event: ProjectionEvent): S;
  apply(state: S, event: ProjectionEvent): S;
  /** Snapshot the row's aggregate stream every N events it applied (written to stream_snapshots). */
  snapshot?: { every: number; streamOf(key: string): string; versionOf(state: S): number | null };
}
