// The embedded exact-cache backend: an LRU bounded by the bytes its entries hold, so a
// burst of large answers evicts old ones instead of growing the heap.
import { LRUCache } from 'lru-cache';
import type { CacheBackend, CachedEntry, Clock } from './types.js';

export interface MemoryBackendOptions {
  /** upper bound on the summed size of all entries (see `entryBytes`) */
  maxBytes: number;
  now?: Clock;
}

export interface MemoryBackend extends CacheBackend {
  /** bytes currently accounted to entries */
  readonly bytes: number;
  readonly entries: number;
}

interface Slot {
  entry: CachedEntry;
  expiresAt: number;
}

/** Object headers, the slot and the LRU's per-entry bookkeeping, measured roughly on Node 20. */
const ENTRY_OVERHEAD_BYTES = 160;

// Characters outside Latin-1 make V8 store the whole string two bytes per character.
const TWO_BYTE_CHAR = /[^\u0000-\u00ff]/;

function stringBytes(s: string): number {
  return TWO_BYTE_CHAR.test(s) ? s.length * 2 : s.length;
}

/** What one entry costs the heap, close enough to enforce a byte budget. */
export function entryBytes(key: string, entry: CachedEntry): number {
  return ENTRY_OVERHEAD_BYTES + key.length + stringBytes(entry.body) + stringBytes(entry.model);
}

export function createMemoryBackend(opts: MemoryBackendOptions): MemoryBackend {
  const now = opts.now ?? Date.now;
  // Expiry is checked against our own clock rather than lru-cache's TTL so that tests can
  // move time without timers; expired slots are dropped when read or pushed out by size.
  const lru = new LRUCache<string, Slot>({
    maxSize: opts.maxBytes,
    sizeCalculation: (slot, key) => entryBytes(key, slot.entry),
  });
  const getNow = (key: string): CachedEntry | undefined => {
    const slot = lru.get(key);
    if (slot === undefined) return undefined;
    if (now() >= slot.expiresAt) {
      lru.delete(key);
      return undefined;
    }
    return slot.entry;
  };
  return {
    get(key) {
      return Promise.resolve(getNow(key));
    },
    getNow,
    set(key, entry, ttlMs) {
      // An entry larger than the whole budget is silently not kept (lru-cache's maxEntrySize).
      lru.set(key, { entry, expiresAt: now() + ttlMs });
      return Promise.resolve();
    },
    close() {
      lru.clear();
      return Promise.resolve();
    },
    get bytes() {
      return lru.calculatedSize;
    },
    get entries() {
      return lru.size;
    },
  };
}
