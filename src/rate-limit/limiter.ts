import { DurableObject } from 'cloudflare:workers';
import { hit, type LimitDecision, type WindowState } from '../domain/rate-limit';

/**
 * One per API key (idFromName(key id)): a fixed-window request counter, so the limit holds across
 * every isolate and colo that serves the key. The count lives in memory only: storing it would add
 * a write to every API request. If the object is evicted mid-window (it is not while requests keep
 * coming) the window starts over — the limiter errs towards letting requests through.
 */
export class RateLimiter extends DurableObject<Env> {
  private state: WindowState | undefined;

  /** Counts one request and says whether it may proceed. */
  hit(limit: number, windowMs: number): LimitDecision {
    const { state, decision } = hit(this.state, limit, windowMs, Date.now());
    this.state = state;
    return decision;
  }
}
