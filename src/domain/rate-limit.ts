/** A fixed-window counter: `limit` requests per window of `windowMs`, windows aligned to the epoch. */
export interface WindowState {
  windowStart: number;
  count: number;
}

export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch ms when the current window ends and the count starts again. */
  resetAt: number;
}

export function hit(state: WindowState | undefined, limit: number, windowMs: number, now: number): { state: WindowState; decision: LimitDecision } {
  const windowStart = Math.floor(now / windowMs) * windowMs;
  const current = state && state.windowStart === windowStart ? state : { windowStart, count: 0 };
  const allowed = current.count < limit;
  // A refused request does not count: a client that backs off is not punished for having asked.
  const next = allowed ? { windowStart, count: current.count + 1 } : current;
  return {
    state: next,
    decision: { allowed, limit, remaining: Math.max(0, limit - next.count), resetAt: windowStart + windowMs },
  };
}

/** Retry-After in whole seconds (at least 1), from a window's end. */
export const retryAfterSeconds = (resetAt: number, now: number): number => Math.max(1, Math.ceil((resetAt - now) / 1000));
