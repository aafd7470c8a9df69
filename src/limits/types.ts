// The rate-limiter contract shared by the in-memory and Redis implementations.

/** Window used when a spec does not name one: the "per minute" of rpm and tpm. */
export const DEFAULT_WINDOW_MS = 60_000;

export interface LimitSpec {
  /** Identifies one counter, e.g. `rpm:key:<keyId>`; see limitKey(). Distinct within one call. */
  key: string;
  /** Most cost allowed inside any window of `windowMs`; an integer. */
  limit: number;
  /** What this request consumes: 1 for rpm, estimated tokens for tpm. Rounded up to an integer. */
  cost: number;
  windowMs?: number;
}

export interface LimitState {
  key: string;
  limit: number;
  /** What is left in the window right now (after this request, when it was admitted). Never negative. */
  remaining: number;
  /**
   * Milliseconds until the oldest recorded entry leaves the window, i.e. until `remaining` next
   * grows; 0 when nothing is recorded.
   */
  resetMs: number;
}

export type LimitDecision =
  | { allowed: true; states: LimitState[]; ticket: string }
  | {
      allowed: false;
      states: LimitState[];
      /** Index into the specs of the limit that keeps the request out longest. */
      failed: number;
      /**
       * Milliseconds until every spec would have room for its cost. A cost larger than its limit can
       * never fit; it reports the spec's window.
       */
      retryAfterMs: number;
    };

export interface RateLimiter {
  /**
   * Atomically: if every spec has room for its cost, consume all of them; otherwise consume nothing.
   * No specs at all is admitted at once with an empty ticket.
   */
  acquire(specs: readonly LimitSpec[], now?: number): Promise<LimitDecision>;
  /** The same decision at once, from a limiter that keeps its counts in this process. */
  acquireSync?(specs: readonly LimitSpec[], now?: number): LimitDecision;
  /**
   * Correct the cost recorded under `ticket` for spec key `key` (TPM: estimated → real tokens).
   * A ticket whose entry has already left the window is ignored.
   */
  adjust(ticket: string, key: string, newCost: number): Promise<void>;
  close(): Promise<void>;
}
