// What limits do when the shared limiter (Redis) fails: refuse, or decide with a bounded local
// limiter. Never admit unlimited traffic (SPEC §7).
import { InvalidLimitSpecError } from './specs.js';
import type { LimitDecision, LimitSpec, RateLimiter } from './types.js';

/** The shared limiter could not decide; the caller answers 503 with Retry-After. */
export class LimiterUnavailableError extends Error {
  /** Seconds worth waiting before a retry: about when the primary is probed again. */
  readonly retryAfterS: number;

  constructor(retryAfterS: number, cause?: unknown) {
    super('Rate limiting is temporarily unavailable', cause === undefined ? undefined : { cause });
    this.name = 'LimiterUnavailableError';
    this.retryAfterS = retryAfterS;
  }
}

export interface ResilientLimiterOptions {
  /**
   * fail_closed: throw LimiterUnavailableError while the primary fails.
   * local: decide with `local` instead. Each instance then enforces the limits on its own
   * traffic, so N instances admit up to N times a limit until the primary is back.
   */
  mode: 'fail_closed' | 'local';
  local: RateLimiter;
  onError?: (err: unknown) => void;
  /**
   * After a failure, skip the primary for this long before probing it again, so an outage costs
   * each request nothing rather than one more timeout. Default 1000 ms.
   */
  probeAfterMs?: number;
}

// Marks tickets issued by the local limiter so adjust() reaches the limiter that recorded them.
// Neither memory tickets (digits) nor Redis tickets (base64url and '.') contain it.
const LOCAL_TICKET = '~';

export function createResilientLimiter(primary: RateLimiter, opts: ResilientLimiterOptions): RateLimiter {
  const { mode, local } = opts;
  const probeAfterMs = opts.probeAfterMs ?? 1_000;
  const report = opts.onError ?? (() => {});
  let skipPrimaryUntil = 0;

  async function decideLocally(specs: readonly LimitSpec[], now: number | undefined, cause: unknown): Promise<LimitDecision> {
    if (mode === 'fail_closed') throw new LimiterUnavailableError(Math.max(1, Math.ceil(probeAfterMs / 1000)), cause);
    const decision = await local.acquire(specs, now);
    if (decision.allowed) decision.ticket = LOCAL_TICKET + decision.ticket;
    return decision;
  }

  return {
    async acquire(specs, now) {
      if (Date.now() < skipPrimaryUntil) return decideLocally(specs, now, undefined);
      try {
        return await primary.acquire(specs, now);
      } catch (err) {
        if (err instanceof InvalidLimitSpecError) throw err;
        skipPrimaryUntil = Date.now() + probeAfterMs;
        report(err);
        return decideLocally(specs, now, err);
      }
    },

    // A correction that cannot be stored is dropped: the request has already been served, and
    // failing its settlement over a limiter outage would help no one.
    async adjust(ticket, key, newCost) {
      if (ticket.startsWith(LOCAL_TICKET)) return local.adjust(ticket.slice(LOCAL_TICKET.length), key, newCost);
      try {
        await primary.adjust(ticket, key, newCost);
      } catch (err) {
        if (err instanceof InvalidLimitSpecError) throw err;
        report(err);
      }
    },

    async close() {
      await Promise.allSettled([primary.close(), local.close()]);
    },
  };
}
