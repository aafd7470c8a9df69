// OpenAI's rate-limit response headers, so clients and SDKs that read them work unchanged.
import type { LimitState } from './types.js';

/**
 * A duration the way OpenAI writes x-ratelimit-reset-* (Go's duration format): `59ms`, `1s`,
 * `1m30.5s`, `6m0s`, `1h2m3s`. Rounded up to whole milliseconds so a client never retries early.
 */
export function formatResetDuration(ms: number): string {
  const total = Number.isFinite(ms) ? Math.ceil(ms) : 0;
  if (total <= 0) return '0s';
  if (total < 1_000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const secMs = total % 60_000;
  const whole = Math.floor(secMs / 1_000);
  const frac = secMs % 1_000;
  const seconds = frac === 0 ? `${whole}` : `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** Retry-After in whole seconds: rounded up, and at least 1 so clients never spin. */
export function retryAfterSeconds(ms: number): number {
  if (!Number.isFinite(ms)) return 1;
  return Math.max(1, Math.ceil(ms / 1_000));
}

/**
 * The limit a client will hit first among several of the same metric (say the key's rpm and its
 * org's rpm): the one with the least left, and on a tie the one that frees up later.
 */
export function tightestState(states: ReadonlyArray<LimitState | undefined>): LimitState | undefined {
  let best: LimitState | undefined;
  for (const s of states) best = tighter(best, s);
  return best;
}

/** The tighter of two states (see tightestState): `b` when it has less left, or as little and frees up later. */
export function tighter(a: LimitState | undefined, b: LimitState | undefined): LimitState | undefined {
  if (b === undefined) return a;
  if (a === undefined || b.remaining < a.remaining || (b.remaining === a.remaining && b.resetMs > a.resetMs)) return b;
  return a;
}

export function rateLimitHeaders(rpmState?: LimitState, tpmState?: LimitState): Record<string, string> {
  const headers: Record<string, string> = {};
  if (rpmState !== undefined) {
    headers['x-ratelimit-limit-requests'] = String(rpmState.limit);
    headers['x-ratelimit-remaining-requests'] = String(rpmState.remaining);
    headers['x-ratelimit-reset-requests'] = formatResetDuration(rpmState.resetMs);
  }
  if (tpmState !== undefined) {
    headers['x-ratelimit-limit-tokens'] = String(tpmState.limit);
    headers['x-ratelimit-remaining-tokens'] = String(tpmState.remaining);
    headers['x-ratelimit-reset-tokens'] = formatResetDuration(tpmState.resetMs);
  }
  return headers;
}
