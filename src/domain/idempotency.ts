/**
 * The idempotent-append decision, once for every writer (hubs and the Worker's direct appends): an
 * item whose id or Idempotency-Key was already committed replays the original when the request is
 * the same (same hash), conflicts when it is not, and is fresh otherwise.
 */
export interface StoredAppend {
  id: string;
  request_hash: string | null;
}

export interface AppendRequest {
  id: string;
  idempotencyKey: string | null;
  requestHash: string;
}

export type AppendDecision = { kind: 'fresh' } | { kind: 'replay' } | { kind: 'conflict'; detail: string };

/** `what` names the item in the conflict's detail: "Event", "Timeline entry". */
export function decideAppend(what: string, found: StoredAppend | undefined, item: AppendRequest): AppendDecision {
  if (!found) return { kind: 'fresh' };
  if (found.request_hash === item.requestHash) return { kind: 'replay' };
  return {
    kind: 'conflict',
    detail:
      found.id === item.id
        ? `${what} ${item.id} already exists with a different body.`
        : `Idempotency key ${item.idempotencyKey} was used with a different body.`,
  };
}
