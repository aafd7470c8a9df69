import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createExactCache } from '../../src/cache/exact-cache.js';
import { createRedisBackend } from '../../src/cache/redis-backend.js';
import { connectTestRedis, deleteByPrefix, entry } from './helpers.js';

const redis = await connectTestRedis();

describe.skipIf(redis === undefined)('SPEC §9 caching: the Redis exact backend (real Redis)', () => {
  const client = redis!;
  const prefix = `tollgate-test:cache:${randomUUID()}:`;
  const backend = createRedisBackend(client, { prefix });

  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    client.disconnect();
  });

  it('round-trips an entry as JSON under the prefix', async () => {
    const e = entry('{"choices":[]}', 123);
    await backend.set('k1', e, 60_000);
    expect(await backend.get('k1')).toEqual(e);
    expect(JSON.parse((await client.get(prefix + 'k1'))!)).toEqual(e);
    expect(await backend.get('absent')).toBeUndefined();
  });

  it('lets Redis expire the entry after the TTL (SET … PX)', async () => {
    await backend.set('k2', entry('{}'), 45_000);
    const pttl = await client.pttl(prefix + 'k2');
    expect(pttl).toBeGreaterThan(44_000);
    expect(pttl).toBeLessThanOrEqual(45_000);
  });

  it('rejects a corrupt value, which the exact layer serves as a MISS', async () => {
    await client.set(prefix + 'bad', '{"not":"an entry"}', 'PX', 60_000);
    await expect(backend.get('bad')).rejects.toThrow(/not a CachedEntry/);
    const onError = vi.fn();
    const cache = createExactCache(backend, { ttlMs: 60_000, onError });
    expect(await cache.lookup('bad')).toBeUndefined();
    expect(onError).toHaveBeenCalledOnce();
  });

  it('is shared: a second backend on the same prefix sees the first one’s entries', async () => {
    await backend.set('k3', entry('shared'), 60_000);
    expect((await createRedisBackend(client, { prefix }).get('k3'))?.body).toBe('shared');
  });
});

describe('SPEC §9 caching: an unreachable Redis degrades to MISS', () => {
  it('answers MISS and skips writes without throwing when Redis is on a closed port', async () => {
    const port = await closedPort();
    const dead = new Redis({ host: '127.0.0.1', port });
    dead.on('error', () => {});
    try {
      const backend = createRedisBackend(dead, { prefix: 'tollgate-test:dead:', timeoutMs: 50 });
      await expect(backend.get('k')).rejects.toThrow();
      const onError = vi.fn();
      const cache = createExactCache(backend, { ttlMs: 1_000, onError });
      const started = performance.now();
      for (let i = 0; i < 5; i++) {
        expect(await cache.lookup('k')).toBeUndefined();
        await expect(cache.store('k', entry('{}'))).resolves.toBeUndefined();
      }
      // Each call is bounded by the backend timeout, not ioredis' retry schedule.
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(onError).toHaveBeenCalledTimes(10);
    } finally {
      dead.disconnect();
    }
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
