/** A fixed-window counter: `limit` requests per window of `windowMs`, windows aligned to the epoch. */
export interface WindowState {
  windowStart: number;
  /** Requests admitted (or handed out as leases) in this window. */
  count: number;
}

export interface Lease {
  /** Requests the caller may admit now without asking again (0: the window is used up). */
  granted: number;
  limit: number;
  /** What the window has left after this lease. */
  remaining: number;
  /** Epoch ms when the current window ends and the count starts again. */
  resetAt: number;
}

/**
 * Hands out up to `want` of the window's remaining requests. A refused ask takes nothing, so a
 * client that backs off is not punished for having asked.
 */
export function lease(state: WindowState | undefined, limit: number, windowMs: number, want: number, now: number): { state: WindowState; lease: Lease } {
  const windowStart = Math.floor(now / windowMs) * windowMs;
  const current = state && state.windowStart === windowStart ? state : { windowStart, count: 0 };
  const granted = Math.max(0, Math.min(want, limit - current.count));
  const next = { windowStart, count: current.count + granted };
  return { state: next, lease: { granted, limit, remaining: limit - next.count, resetAt: windowStart + windowMs } };
}

/**
 * How many requests an isolate leases at once: 2% of the limit (at least 1). Isolates admit leased
 * requests without a round trip to the limiter; the limit can never be exceeded, and at most
 * lease − 1 requests per isolate and window go unused (admitted nowhere) when an isolate goes quiet.
 */
export const leaseSize = (limit: number): number => Math.max(1, Math.floor(limit / 50));

/** Retry-After in whole seconds (at least 1), from a window's end. */
export const retryAfterSeconds = (resetAt: number, now: number): number => Math.max(1, Math.ceil((resetAt - now) / 1000));
