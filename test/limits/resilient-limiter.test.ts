// SPEC §7: with Redis configured and unreachable, limits fail closed or fall back to a bounded
// local limiter; they never become unlimited.
import { describe, expect, it } from 'vitest';
import {
  createLimiterRedisClient,
  createMemoryLimiter,
  createRedisLimiter,
  createResilientLimiter,
  InvalidLimitSpecError,
  type LimitDecision,
  type LimitSpec,
  LimiterUnavailableError,
  type RateLimiter,
} from '../../src/limits/index.js';
import { closedPort, freshPrefix, silentServer } from './redis-test-support.js';

const spec = (limit: number, cost = 1): LimitSpec[] => [{ key: 'rpm:key:k1', limit, cost }];

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const start = performance.now();
  const [result] = await Promise.allSettled([fn()]);
  return { ms: performance.now() - start, result };
}

function rejection(r: PromiseSettledResult<unknown>): unknown {
  if (r.status !== 'rejected') throw new Error('expected a rejection');
  return r.reason;
}

/** A primary whose health the test switches. */
function switchablePrimary(): { limiter: RateLimiter; up: (v: boolean) => void; calls: () => number } {
  const inner = createMemoryLimiter();
  let healthy = true;
  let calls = 0;
  return {
    up: (v) => {
      healthy = v;
    },
    calls: () => calls,
    limiter: {
      async acquire(specs, now) {
        calls++;
        if (!healthy) throw new Error('connection refused');
        return inner.acquire(specs, now);
      },
      async adjust(ticket, key, cost) {
        if (!healthy) throw new Error('connection refused');
        return inner.adjust(ticket, key, cost);
      },
      close: () => inner.close(),
    },
  };
}

describe('SPEC §7 limits when Redis is unreachable', () => {
  it('fail_closed: throws LimiterUnavailableError within a second when Redis refuses connections', async () => {
    const client = createLimiterRedisClient(`redis://127.0.0.1:${await closedPort()}`);
    const errors: unknown[] = [];
    const limiter = createResilientLimiter(createRedisLimiter(client, freshPrefix()), {
      mode: 'fail_closed',
      local: createMemoryLimiter(),
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 3; i++) {
      const { ms, result } = await timed(() => limiter.acquire(spec(10)));
      expect(rejection(result)).toBeInstanceOf(LimiterUnavailableError);
      expect((rejection(result) as LimiterUnavailableError).retryAfterS).toBeGreaterThanOrEqual(1);
      expect(ms).toBeLessThan(1_000);
    }
    expect(errors.length).toBeGreaterThanOrEqual(1);
    await limiter.close();
    client.disconnect();
  });

  it('fail_closed: throws quickly when Redis accepts connections but never answers', async () => {
    const hung = await silentServer();
    const client = createLimiterRedisClient(`redis://127.0.0.1:${hung.port}`, { commandTimeoutMs: 200 });
    const limiter = createResilientLimiter(createRedisLimiter(client, freshPrefix()), {
      mode: 'fail_closed',
      local: createMemoryLimiter(),
    });
    const { ms, result } = await timed(() => limiter.acquire(spec(10)));
    expect(rejection(result)).toBeInstanceOf(LimiterUnavailableError);
    expect(ms).toBeLessThan(1_000);
    client.disconnect();
    await hung.close();
  });

  it('local: keeps limiting with the bounded local limiter (admits no more than the limit)', async () => {
    const client = createLimiterRedisClient(`redis://127.0.0.1:${await closedPort()}`);
    const limiter = createResilientLimiter(createRedisLimiter(client, freshPrefix()), {
      mode: 'local',
      local: createMemoryLimiter({ maxKeys: 1_000 }),
    });
    const decisions: LimitDecision[] = [];
    for (let i = 0; i < 50; i++) decisions.push(await limiter.acquire(spec(5)));
    expect(decisions.filter((d) => d.allowed).length).toBe(5);
    const refused = decisions.at(-1);
    expect(refused?.allowed).toBe(false);
    if (refused && !refused.allowed) expect(refused.retryAfterMs).toBeGreaterThan(0);
    await limiter.close();
    client.disconnect();
  });

  it('local: adjust() reaches the limiter that issued the ticket', async () => {
    const primary = switchablePrimary();
    primary.up(false);
    const limiter = createResilientLimiter(primary.limiter, { mode: 'local', local: createMemoryLimiter() });
    const tpm: LimitSpec = { key: 'tpm:key:k1', limit: 100, cost: 90 };
    const d = await limiter.acquire([tpm], 1_000);
    if (!d.allowed) throw new Error('expected an admission');
    expect((await limiter.acquire([{ ...tpm, cost: 50 }], 1_001)).allowed).toBe(false);
    await limiter.adjust(d.ticket, tpm.key, 10);
    expect((await limiter.acquire([{ ...tpm, cost: 50 }], 1_002)).allowed).toBe(true);
  });

  it('goes back to the primary once it recovers, probing it at most once per interval', async () => {
    const primary = switchablePrimary();
    const local = createMemoryLimiter();
    const limiter = createResilientLimiter(primary.limiter, { mode: 'local', local, probeAfterMs: 50 });
    primary.up(false);
    await limiter.acquire(spec(100));
    await limiter.acquire(spec(100));
    await limiter.acquire(spec(100));
    expect(primary.calls()).toBe(1);
    primary.up(true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const d = await limiter.acquire(spec(100));
    expect(primary.calls()).toBe(2);
    // Primary tickets are passed through untouched; local ones are marked.
    if (!d.allowed) throw new Error('expected an admission');
    expect(d.ticket.startsWith('~')).toBe(false);
  });

  it('does not disguise a malformed spec as an outage', async () => {
    const primary = switchablePrimary();
    const limiter = createResilientLimiter(primary.limiter, { mode: 'fail_closed', local: createMemoryLimiter() });
    const dup = { key: 'same', limit: 1, cost: 1 };
    await expect(limiter.acquire([dup, dup])).rejects.toBeInstanceOf(InvalidLimitSpecError);
  });

  it('swallows a failed adjust() on the primary and reports it', async () => {
    const primary = switchablePrimary();
    const errors: unknown[] = [];
    const limiter = createResilientLimiter(primary.limiter, {
      mode: 'fail_closed',
      local: createMemoryLimiter(),
      onError: (e) => errors.push(e),
    });
    const d = await limiter.acquire([{ key: 'tpm:key:k2', limit: 100, cost: 10 }]);
    if (!d.allowed) throw new Error('expected an admission');
    primary.up(false);
    await expect(limiter.adjust(d.ticket, 'tpm:key:k2', 20)).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});
