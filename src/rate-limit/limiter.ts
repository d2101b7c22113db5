import { DurableObject } from 'cloudflare:workers';
import { lease, type Lease, type WindowState } from '../domain/rate-limit';

/**
 * One per API key (idFromName(key id)), and one per client address that fails to authenticate
 * (idFromName(`auth-failures:<address>`), src/http/rate-limit.ts): the fixed-window budget of that
 * key or address, shared by every isolate and colo that serves it. Isolates lease requests in small blocks (see leaseSize), so
 * most requests never reach this object. The count lives in memory only: storing it would add a
 * write per lease. If the object is evicted mid-window (it is not while leases keep coming) the
 * window starts over — the limiter errs towards letting requests through.
 */
export class RateLimiter extends DurableObject<Env> {
  private state: WindowState | undefined;

  lease(limit: number, windowMs: number, want: number): Lease {
    const out = lease(this.state, limit, windowMs, want, Date.now());
    this.state = out.state;
    return out.lease;
  }
}
