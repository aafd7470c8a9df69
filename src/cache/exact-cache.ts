// The exact-match layer over any backend: a backend failure degrades to a MISS (lookup) or
// a skipped write (store), and identical misses in flight share one upstream call.
import type { CacheBackend, CachedEntry, CacheErrorHandler } from './types.js';

export interface ExactCacheOptions {
  ttlMs: number;
  onError?: CacheErrorHandler;
}

export interface ExactCache {
  /** the stored entry, or undefined on a miss or any backend failure */
  lookup(key: string): Promise<CachedEntry | undefined>;
  /** lookup() answered at once; present when the backend keeps its entries in this process */
  lookupNow?(key: string): CachedEntry | undefined;
  /** writes the entry; never rejects */
  store(key: string, entry: CachedEntry): Promise<void>;
  /**
   * Runs `run` once for all concurrent callers with the same key (within this process).
   * Every caller gets the same value, or the same error. The key is free again as soon as
   * the run settles, so a failure is not remembered.
   */
  coalesce<T>(key: string, run: () => Promise<T>): Promise<T>;
  /** keys with a run in flight */
  readonly inFlight: number;
}

export function createExactCache(backend: CacheBackend, opts: ExactCacheOptions): ExactCache {
  const { ttlMs, onError } = opts;
  const flights = new Map<string, Promise<unknown>>();

  const getNow = backend.getNow;
  return {
    async lookup(key) {
      try {
        return await backend.get(key);
      } catch (err) {
        onError?.(err, 'exact.lookup');
        return undefined;
      }
    },
    lookupNow:
      getNow === undefined
        ? undefined
        : (key) => {
            try {
              return getNow.call(backend, key);
            } catch (err) {
              onError?.(err, 'exact.lookup');
              return undefined;
            }
          },
    async store(key, entry) {
      try {
        await backend.set(key, entry, ttlMs);
      } catch (err) {
        onError?.(err, 'exact.store');
      }
    },
    coalesce<T>(key: string, run: () => Promise<T>): Promise<T> {
      const pending = flights.get(key);
      if (pending !== undefined) return pending as Promise<T>;
      let flight: Promise<T>;
      try {
        flight = run();
      } catch (err) {
        // A synchronous throw is still this caller's failure, not a reason to break the map.
        return Promise.reject(err);
      }
      const tracked = flight.finally(() => {
        if (flights.get(key) === tracked) flights.delete(key);
      });
      flights.set(key, tracked);
      return tracked;
    },
    get inFlight() {
      return flights.size;
    },
  };
}
