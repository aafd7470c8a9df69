// The shared exact-cache backend: one Redis string per entry, `SET key value PX ttl`, so
// every instance sees every other's answers and Redis does the expiry.
import type { Redis } from 'ioredis';
import { type CacheBackend, parseCachedEntry } from './types.js';

export interface RedisBackendOptions {
  /** prepended to every key, e.g. `tollgate:cache:` */
  prefix: string;
  /**
   * A cache read must never cost more than the upstream call it saves, and a stalled
   * Redis would otherwise hold requests for ioredis' whole retry schedule.
   */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 50;

// While ioredis is between connections it would queue the command and retry it; for a
// cache, failing at once and going to the upstream is the better trade.
const UNAVAILABLE = new Set(['reconnecting', 'end', 'close']);

/**
 * The client is borrowed, not owned: the composition root shares it with the limiters and
 * quits it at shutdown, so `close()` leaves it open.
 */
export function createRedisBackend(redis: Redis, opts: RedisBackendOptions): CacheBackend {
  const prefix = opts.prefix;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    async get(key) {
      assertAvailable(redis);
      const raw = await withTimeout(redis.get(prefix + key), timeoutMs, 'GET');
      return raw === null ? undefined : parseCachedEntry(raw);
    },
    async set(key, entry, ttlMs) {
      assertAvailable(redis);
      const px = Math.max(1, Math.ceil(ttlMs));
      await withTimeout(redis.set(prefix + key, JSON.stringify(entry), 'PX', px), timeoutMs, 'SET');
    },
    close() {
      return Promise.resolve();
    },
  };
}

function assertAvailable(redis: Redis): void {
  if (UNAVAILABLE.has(redis.status)) throw new Error(`redis unavailable (${redis.status})`);
}

function withTimeout<T>(op: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis ${what} timed out after ${ms} ms`)), ms);
    timer.unref();
    // Subscribing to both outcomes also keeps a late rejection from going unhandled.
    op.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
