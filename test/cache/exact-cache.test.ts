import { describe, expect, it, vi } from 'vitest';
import { createExactCache } from '../../src/cache/exact-cache.js';
import { createMemoryBackend } from '../../src/cache/memory-backend.js';
import type { CacheBackend } from '../../src/cache/types.js';
import { entry, manualClock } from './helpers.js';

const failing: CacheBackend = {
  get: () => Promise.reject(new Error('backend down')),
  set: () => Promise.reject(new Error('backend down')),
  close: () => Promise.resolve(),
};

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SPEC §9 caching: the exact layer', () => {
  it('stores with the configured TTL and serves until it expires', async () => {
    const clock = manualClock();
    const cache = createExactCache(createMemoryBackend({ maxBytes: 1 << 20, now: clock.now }), { ttlMs: 60_000 });
    await cache.store('k', entry('{"ok":true}'));
    expect((await cache.lookup('k'))?.body).toBe('{"ok":true}');
    clock.advance(60_000);
    expect(await cache.lookup('k')).toBeUndefined();
  });

  it('turns a backend failure into a MISS on lookup and a skipped write on store', async () => {
    const onError = vi.fn();
    const cache = createExactCache(failing, { ttlMs: 1_000, onError });
    await expect(cache.lookup('k')).resolves.toBeUndefined();
    await expect(cache.store('k', entry('{}'))).resolves.toBeUndefined();
    expect(onError.mock.calls.map((c) => c[1])).toEqual(['exact.lookup', 'exact.store']);
  });

  it('works without an onError callback', async () => {
    const cache = createExactCache(failing, { ttlMs: 1_000 });
    await expect(cache.lookup('k')).resolves.toBeUndefined();
    await expect(cache.store('k', entry('{}'))).resolves.toBeUndefined();
  });
});

describe('SPEC §9 caching: coalescing identical misses', () => {
  it('runs once for 100 concurrent callers and gives all of them the value', async () => {
    const cache = createExactCache(createMemoryBackend({ maxBytes: 1 << 20 }), { ttlMs: 1_000 });
    const gate = deferred<string>();
    const run = vi.fn(() => gate.promise);
    const calls = Array.from({ length: 100 }, () => cache.coalesce('k', run));
    expect(cache.inFlight).toBe(1);
    gate.resolve('answer');
    const results = await Promise.all(calls);
    expect(run).toHaveBeenCalledTimes(1);
    expect(results).toEqual(Array(100).fill('answer'));
    expect(cache.inFlight).toBe(0);
  });

  it('rejects every waiter with the same error and forgets the failure', async () => {
    const cache = createExactCache(createMemoryBackend({ maxBytes: 1 << 20 }), { ttlMs: 1_000 });
    const gate = deferred<string>();
    const boom = new Error('upstream 500');
    const calls = Array.from({ length: 10 }, () => cache.coalesce('k', () => gate.promise));
    gate.reject(boom);
    const outcomes = await Promise.allSettled(calls);
    for (const o of outcomes) expect(o).toEqual({ status: 'rejected', reason: boom });
    expect(cache.inFlight).toBe(0);
    // The next miss runs again rather than replaying the failure.
    await expect(cache.coalesce('k', () => Promise.resolve('retry'))).resolves.toBe('retry');
  });

  it('keeps different keys apart', async () => {
    const cache = createExactCache(createMemoryBackend({ maxBytes: 1 << 20 }), { ttlMs: 1_000 });
    const runA = vi.fn(() => Promise.resolve('a'));
    const runB = vi.fn(() => Promise.resolve('b'));
    const [a, b] = await Promise.all([cache.coalesce('ka', runA), cache.coalesce('kb', runB)]);
    expect([a, b]).toEqual(['a', 'b']);
    expect(runA).toHaveBeenCalledTimes(1);
    expect(runB).toHaveBeenCalledTimes(1);
  });

  it('reports a synchronous throw to its caller and leaves the key free', async () => {
    const cache = createExactCache(createMemoryBackend({ maxBytes: 1 << 20 }), { ttlMs: 1_000 });
    await expect(
      cache.coalesce('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(cache.inFlight).toBe(0);
  });
});
