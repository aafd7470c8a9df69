// In-process sliding-window-log limiter: exact limits for one instance, and the bounded
// fallback when the shared Redis limiter is unreachable.
//
// Why a sliding window log rather than GCRA, a token bucket or fixed windows: the contract is
// "at most `limit` in ANY window of `windowMs`". A bucket that starts full admits its burst and
// then keeps refilling (rpm=60 hammered for 10 s lets ~70 through), and fixed or interpolated
// windows admit up to twice the limit across a boundary. Keeping each admitted entry until it
// leaves the window is the only way to be exact, and it also yields an exact Retry-After.
import { EntryLog } from './entry-log.js';
import { assertCost, assertSpecs, specCost, specLimit, specWindow } from './specs.js';
import type { LimitDecision, LimitSpec, LimitState, RateLimiter } from './types.js';

export interface MemoryLimiterOptions {
  /** Most keys tracked at once; past it the least recently used key is forgotten. Default 100 000. */
  maxKeys?: number;
}

export interface MemoryRateLimiter extends RateLimiter {
  /** The same decision as acquire(), without the promise, for callers on a synchronous path. */
  acquireSync(specs: readonly LimitSpec[], now?: number): LimitDecision;
  adjustSync(ticket: string, key: string, newCost: number): void;
  /** Keys currently tracked. */
  readonly size: number;
}

const DEFAULT_MAX_KEYS = 100_000;
// Re-inserting a key into the Map on every hit would double the Map work of a decision; an LRU
// order accurate to a second is plenty to pick eviction victims.
const TOUCH_EVERY_MS = 1_000;
// Idle keys are dropped a batch at a time, every this many decisions: no timer, no decision pays
// for a full scan, and the sweep retires keys faster than one decision can create them.
const SWEEP_EVERY = 64;
const SWEEP_BATCH = 128;

export function createMemoryLimiter(opts: MemoryLimiterOptions = {}): MemoryRateLimiter {
  const maxKeys = Math.max(1, opts.maxKeys ?? DEFAULT_MAX_KEYS);
  // Insertion order doubles as LRU order: touch() moves a key to the end.
  const logs = new Map<string, EntryLog>();
  let lastSeq = 0;
  let decisions = 0;
  let closed = false;

  function touch(key: string, log: EntryLog, now: number): void {
    const since = now - log.touchedAt;
    if (since >= 0 && since < TOUCH_EVERY_MS) return;
    logs.delete(key);
    logs.set(key, log);
    log.touchedAt = now;
  }

  function sweep(now: number): void {
    let checked = 0;
    for (const [key, log] of logs) {
      if (++checked > SWEEP_BATCH) return;
      log.expire(now - log.windowMs);
      // The front of the Map is the least recently used end; once a key there is still live,
      // the keys behind it are very likely live too.
      if (log.length > 0) return;
      logs.delete(key);
    }
  }

  function logForWrite(key: string, now: number): EntryLog {
    let log = logs.get(key);
    if (log === undefined) {
      if (logs.size >= maxKeys) {
        const victim = logs.keys().next();
        if (!victim.done) logs.delete(victim.value);
      }
      log = new EntryLog();
      logs.set(key, log);
      log.touchedAt = now;
      return log;
    }
    touch(key, log, now);
    return log;
  }

  function statesOf(specs: readonly LimitSpec[], now: number): LimitState[] {
    const n = specs.length;
    const states: LimitState[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const spec = specs[i];
      const limit = specLimit(spec);
      const log = logs.get(spec.key);
      if (log === undefined || log.length === 0) {
        states[i] = { key: spec.key, limit, remaining: limit, resetMs: 0 };
      } else {
        states[i] = {
          key: spec.key,
          limit,
          remaining: Math.max(0, limit - log.sum),
          resetMs: Math.max(0, log.oldestTs() + specWindow(spec) - now),
        };
      }
    }
    return states;
  }

  function acquireSync(specs: readonly LimitSpec[], now: number = Date.now()): LimitDecision {
    if (closed) throw new Error('the memory rate limiter is closed');
    assertSpecs(specs);
    if (specs.length === 0) return { allowed: true, states: [], ticket: '' };
    if ((++decisions & (SWEEP_EVERY - 1)) === 0) sweep(now);
    const n = specs.length;

    // Check every spec before touching any, so a refusal consumes nothing.
    let failed = -1;
    let retryAfterMs = 0;
    for (let i = 0; i < n; i++) {
      const spec = specs[i];
      const limit = specLimit(spec);
      const cost = specCost(spec);
      const windowMs = specWindow(spec);
      const log = logs.get(spec.key);
      let sum = 0;
      if (log !== undefined) {
        log.expire(now - windowMs);
        sum = log.sum;
      }
      let wait = 0;
      if (cost > limit) wait = windowMs;
      else if (sum + cost > limit) {
        wait = log === undefined ? windowMs : log.timeToFree(sum + cost - limit, now, windowMs);
      }
      if (wait > retryAfterMs) {
        retryAfterMs = wait;
        failed = i;
      }
    }
    if (failed >= 0) return { allowed: false, states: statesOf(specs, now), failed, retryAfterMs };

    const seq = ++lastSeq;
    for (let i = 0; i < n; i++) {
      const spec = specs[i];
      const log = logForWrite(spec.key, now);
      // A clock that steps back must not break the oldest-first order expiry relies on; the
      // entry then lives a little longer, which errs on the strict side.
      const ts = log.length > 0 ? Math.max(now, log.newestTs()) : now;
      log.push(ts, specCost(spec), seq);
      log.windowMs = specWindow(spec);
    }
    return { allowed: true, states: statesOf(specs, now), ticket: String(seq) };
  }

  function adjustSync(ticket: string, key: string, newCost: number): void {
    assertCost(newCost);
    const seq = Number(ticket);
    if (!Number.isSafeInteger(seq)) return;
    logs.get(key)?.adjust(seq, Math.ceil(newCost));
  }

  return {
    acquireSync,
    adjustSync,
    get size() {
      return logs.size;
    },
    async acquire(specs, now) {
      return acquireSync(specs, now);
    },
    async adjust(ticket, key, newCost) {
      adjustSync(ticket, key, newCost);
    },
    async close() {
      closed = true;
      logs.clear();
    },
  };
}
