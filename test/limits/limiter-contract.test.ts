// SPEC §7 rate limits: the same contract cases run against the memory and the Redis limiter.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMemoryLimiter,
  createRedisLimiter,
  InvalidLimitSpecError,
  type LimitDecision,
  type LimitSpec,
  type RateLimiter,
  redisLimitKeys,
} from '../../src/limits/index.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from './redis-test-support.js';

const T0 = 1_700_000_000_000;

interface Backend {
  /** Limiters that share one state, as separate gateway instances would. */
  instances(count: number): RateLimiter[];
}

function admitted(decisions: LimitDecision[]): number {
  return decisions.filter((d) => d.allowed).length;
}

function refusal(d: LimitDecision): { failed: number; retryAfterMs: number } {
  if (d.allowed) throw new Error('expected a refusal');
  return { failed: d.failed, retryAfterMs: d.retryAfterMs };
}

function ticketOf(d: LimitDecision): string {
  if (!d.allowed) throw new Error('expected an admission');
  return d.ticket;
}

function defineContract(getBackend: () => Backend): void {
  let limiter: RateLimiter;
  let n = 0;
  const key = (label: string): string => `${label}:${++n}`;

  beforeAll(() => {
    limiter = getBackend().instances(1)[0];
  });

  it('admits exactly `limit` requests in a window, then refuses', async () => {
    const k = key('rpm');
    const spec: LimitSpec[] = [{ key: k, limit: 5, cost: 1 }];
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = await limiter.acquire(spec, T0 + i);
      expect(d.allowed).toBe(true);
      remaining.push(d.states[0].remaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const sixth = await limiter.acquire(spec, T0 + 5);
    expect(refusal(sixth)).toEqual({ failed: 0, retryAfterMs: 60_000 - 5 });
    expect(sixth.states[0]).toEqual({ key: k, limit: 5, remaining: 0, resetMs: 60_000 - 5 });
  });

  it('lets entries expire once they are a full window old', async () => {
    const spec: LimitSpec[] = [{ key: key('expiry'), limit: 2, cost: 1, windowMs: 1_000 }];
    expect((await limiter.acquire(spec, T0)).allowed).toBe(true);
    expect((await limiter.acquire(spec, T0 + 100)).allowed).toBe(true);
    expect(refusal(await limiter.acquire(spec, T0 + 200)).retryAfterMs).toBe(800);
    expect((await limiter.acquire(spec, T0 + 999)).allowed).toBe(false);
    expect((await limiter.acquire(spec, T0 + 1_000)).allowed).toBe(true);
    expect(refusal(await limiter.acquire(spec, T0 + 1_050)).retryAfterMs).toBe(50);
    expect((await limiter.acquire(spec, T0 + 1_100)).allowed).toBe(true);
  });

  it('reports resetMs as the time until the oldest entry leaves the window', async () => {
    const spec: LimitSpec[] = [{ key: key('reset'), limit: 10, cost: 1 }];
    const first = await limiter.acquire(spec, T0);
    expect(first.states[0]).toMatchObject({ remaining: 9, resetMs: 60_000 });
    const later = await limiter.acquire(spec, T0 + 15_000);
    expect(later.states[0]).toMatchObject({ remaining: 8, resetMs: 45_000 });
  });

  it('consumes nothing anywhere when one spec is full (all-or-nothing)', async () => {
    const rpm = { key: key('rpm'), limit: 10, cost: 1 };
    const tpm = { key: key('tpm'), limit: 100, cost: 80 };
    expect((await limiter.acquire([rpm, tpm], T0)).allowed).toBe(true);
    const refused = await limiter.acquire([rpm, tpm], T0 + 1);
    expect(refusal(refused).failed).toBe(1);
    expect(refused.states.map((s) => s.remaining)).toEqual([9, 20]);
    // The rpm counter still holds only the first request.
    const rpmOnly = await limiter.acquire([rpm], T0 + 2);
    expect(rpmOnly.states[0].remaining).toBe(8);
  });

  it('never admits a single request that costs more than its limit, and records nothing for it', async () => {
    const k = key('tpm');
    const tooBig = await limiter.acquire([{ key: k, limit: 100, cost: 101 }], T0);
    expect(refusal(tooBig)).toEqual({ failed: 0, retryAfterMs: 60_000 });
    expect(tooBig.states[0]).toMatchObject({ remaining: 100, resetMs: 0 });
    const fits = await limiter.acquire([{ key: k, limit: 100, cost: 100 }], T0 + 1);
    expect(fits.allowed).toBe(true);
  });

  it('adjust() lowers and raises the tokens a request counts for', async () => {
    const k = key('tpm');
    const spec = (cost: number): LimitSpec[] => [{ key: k, limit: 100, cost }];
    const first = ticketOf(await limiter.acquire(spec(50), T0));
    expect((await limiter.acquire(spec(90), T0 + 1)).allowed).toBe(false);
    await limiter.adjust(first, k, 10);
    const second = await limiter.acquire(spec(90), T0 + 2);
    expect(second.states[0].remaining).toBe(0);
    await limiter.adjust(first, k, 5);
    expect((await limiter.acquire(spec(5), T0 + 3)).states[0].remaining).toBe(0);
    // Raising past the limit blocks everything until entries expire.
    await limiter.adjust(ticketOf(second), k, 120);
    const blocked = await limiter.acquire(spec(1), T0 + 4);
    expect(blocked.allowed).toBe(false);
    expect(blocked.states[0].remaining).toBe(0);
    // The entries at T0 and T0+2 hold 125 of the 130; once both are gone 5 + 1 fits.
    expect(refusal(blocked).retryAfterMs).toBe(60_000 - 2);
    expect((await limiter.acquire(spec(1), T0 + 60_002)).allowed).toBe(true);
  });

  it('keeps exact sums when unit and larger costs mix on one key and expire in turn', async () => {
    const k = key('mixed');
    const spec = (cost: number): LimitSpec[] => [{ key: k, limit: 10, cost, windowMs: 1_000 }];
    expect((await limiter.acquire(spec(1), T0)).allowed).toBe(true);
    expect((await limiter.acquire(spec(5), T0 + 100)).allowed).toBe(true);
    expect((await limiter.acquire(spec(1), T0 + 200)).states[0].remaining).toBe(3);
    expect((await limiter.acquire(spec(4), T0 + 1_050)).states[0].remaining).toBe(0);
    expect((await limiter.acquire(spec(5), T0 + 1_150)).states[0].remaining).toBe(0);
    expect(refusal(await limiter.acquire(spec(1), T0 + 1_160)).retryAfterMs).toBe(40);
    expect((await limiter.acquire(spec(1), T0 + 1_200)).states[0].remaining).toBe(0);
  });

  it('ignores adjust() for an unknown ticket or key', async () => {
    const k = key('tpm');
    await limiter.acquire([{ key: k, limit: 100, cost: 40 }], T0);
    await limiter.adjust('no-such-ticket', k, 1);
    await limiter.adjust('123456789', key('never-used'), 1);
    expect((await limiter.acquire([{ key: k, limit: 100, cost: 60 }], T0 + 1)).allowed).toBe(true);
  });

  it('computes retryAfterMs as the time until enough of the oldest entries expire', async () => {
    const k = key('tpm');
    const spec = (cost: number): LimitSpec[] => [{ key: k, limit: 100, cost }];
    for (let i = 0; i < 3; i++) expect((await limiter.acquire(spec(30), T0 + i * 1_000)).allowed).toBe(true);
    // 90 used, 50 wanted: 40 must go, which takes the entries at T0 and T0+1000.
    expect(refusal(await limiter.acquire(spec(50), T0 + 3_000)).retryAfterMs).toBe(58_000);
    expect((await limiter.acquire(spec(50), T0 + 60_999)).allowed).toBe(false);
    expect((await limiter.acquire(spec(50), T0 + 61_000)).allowed).toBe(true);
  });

  it('reports the spec that blocks longest, with its wait, when several are full', async () => {
    const a = { key: key('rpm'), limit: 1, cost: 1 };
    const b = { key: key('rpm'), limit: 1, cost: 1 };
    await limiter.acquire([a], T0);
    await limiter.acquire([b], T0 + 10_000);
    const d = await limiter.acquire([a, b], T0 + 20_000);
    expect(refusal(d)).toEqual({ failed: 1, retryAfterMs: 50_000 });
  });

  it('admits 60 of 600 requests sent over 10 s to a key with rpm=60', async () => {
    const spec: LimitSpec[] = [{ key: key('burst'), limit: 60, cost: 1 }];
    const decisions: LimitDecision[] = [];
    for (let i = 0; i < 600; i++) decisions.push(await limiter.acquire(spec, T0 + Math.floor((i * 10_000) / 600)));
    expect(admitted(decisions)).toBe(60);
  });

  it('admits exactly 60 of 600 concurrent requests, across instances sharing the limiter', async () => {
    const instances = getBackend().instances(3);
    const spec: LimitSpec[] = [{ key: key('concurrent'), limit: 60, cost: 1 }];
    const decisions = await Promise.all(Array.from({ length: 600 }, (_, i) => instances[i % 3].acquire(spec)));
    expect(admitted(decisions)).toBe(60);
    const tickets = new Set(decisions.filter((d) => d.allowed).map(ticketOf));
    expect(tickets.size).toBe(60);
  });

  it('admits a call with no specs without counting anything', async () => {
    const d = await limiter.acquire([], T0);
    expect(d).toEqual({ allowed: true, states: [], ticket: '' });
  });

  it('rejects malformed specs as programming errors', async () => {
    const k = key('bad');
    await expect(limiter.acquire([{ key: k, limit: 1, cost: 1 }, { key: k, limit: 1, cost: 1 }])).rejects.toBeInstanceOf(
      InvalidLimitSpecError,
    );
    await expect(limiter.acquire([{ key: k, limit: Number.NaN, cost: 1 }])).rejects.toBeInstanceOf(InvalidLimitSpecError);
    await expect(limiter.acquire([{ key: k, limit: 1, cost: -1 }])).rejects.toBeInstanceOf(InvalidLimitSpecError);
  });
}

describe('SPEC §7 rate limits: memory limiter', () => {
  const limiter = createMemoryLimiter();
  afterAll(() => limiter.close());
  defineContract(() => ({ instances: (count) => Array.from({ length: count }, () => limiter) }));

  it('keeps at most maxKeys keys, forgetting the least recently used', async () => {
    const small = createMemoryLimiter({ maxKeys: 3 });
    for (let i = 0; i < 10; i++) await small.acquire([{ key: `k${i}`, limit: 5, cost: 1 }], T0 + i * 2_000);
    expect(small.size).toBe(3);
    await small.close();
  });

  it('drops keys that have been idle for a whole window', async () => {
    const sweeping = createMemoryLimiter();
    for (let i = 0; i < 100; i++) sweeping.acquireSync([{ key: `idle${i}`, limit: 5, cost: 1, windowMs: 1_000 }], T0);
    for (let i = 0; i < 600; i++) sweeping.acquireSync([{ key: 'busy', limit: 1_000_000, cost: 1, windowMs: 1_000 }], T0 + 5_000);
    expect(sweeping.size).toBe(1);
    await sweeping.close();
  });

  it('keeps ordering sound when the clock steps back', () => {
    const l = createMemoryLimiter();
    const spec: LimitSpec[] = [{ key: 'skew', limit: 2, cost: 1, windowMs: 1_000 }];
    expect(l.acquireSync(spec, T0 + 500).allowed).toBe(true);
    expect(l.acquireSync(spec, T0).allowed).toBe(true);
    expect(l.acquireSync(spec, T0 + 1_400).allowed).toBe(false);
    expect(l.acquireSync(spec, T0 + 1_500).allowed).toBe(true);
  });
});

const redisUp = await isRedisReachable();
if (!redisUp) {
  console.warn(
    `\n[limits] Redis is not reachable at ${TEST_REDIS_URL}: SKIPPING the Redis limiter contract tests ` +
      '(start Redis or set TOLLGATE_TEST_REDIS_URL). The memory limiter tests still run.\n',
  );
}

describe.skipIf(!redisUp)('SPEC §7 rate limits: Redis limiter', () => {
  const prefix = freshPrefix();
  const clients: Redis[] = [];
  const limiters: RateLimiter[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const client = await connectTestClient();
      clients.push(client);
      limiters.push(createRedisLimiter(client, prefix));
    }
  });

  afterAll(async () => {
    if (clients.length > 0) await deleteKeys(clients[0], prefix);
    await Promise.all(limiters.map((l) => l.close()));
    await Promise.all(clients.map((c) => c.quit()));
  });

  defineContract(() => ({ instances: (count) => limiters.slice(0, count) }));

  it('sets an expiry on every key it writes, no longer than the window', async () => {
    const k = 'ttl:tpm';
    const d = await limiters[0].acquire([{ key: k, limit: 100, cost: 7, windowMs: 5_000 }]);
    await limiters[0].adjust(ticketOf(d), k, 9);
    for (const redisKey of redisLimitKeys(prefix, k)) {
      const ttl = await clients[0].pttl(redisKey);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(5_000);
    }
  });

  it('stores request counters as a bare sorted set, with no cost hash', async () => {
    await limiters[0].acquire([{ key: 'rpm-only', limit: 10, cost: 1 }]);
    const [entries, costs] = redisLimitKeys(prefix, 'rpm-only');
    expect(await clients[0].exists(entries)).toBe(1);
    expect(await clients[0].exists(costs)).toBe(0);
  });

  it('uses the Redis server clock when no time is given', async () => {
    const spec: LimitSpec[] = [{ key: 'server-clock', limit: 1, cost: 1, windowMs: 200 }];
    expect((await limiters[0].acquire(spec)).allowed).toBe(true);
    const refused = await limiters[1].acquire(spec);
    expect(refusal(refused).retryAfterMs).toBeGreaterThan(0);
    expect(refusal(refused).retryAfterMs).toBeLessThanOrEqual(200);
    await new Promise((resolve) => setTimeout(resolve, refusal(refused).retryAfterMs + 20));
    expect((await limiters[2].acquire(spec)).allowed).toBe(true);
  });

  it('falls back to EVAL when Redis has not cached the script', async () => {
    const real = clients[0];
    const forgetful = {
      evalsha: async () => {
        throw new Error('NOSCRIPT No matching script. Please use EVAL.');
      },
      eval: (...args: unknown[]) => (real.eval as (...a: unknown[]) => Promise<unknown>).apply(real, args),
    } as unknown as Redis;
    const l = createRedisLimiter(forgetful, prefix);
    const d = await l.acquire([{ key: 'noscript', limit: 1, cost: 1 }], T0);
    expect(d.allowed).toBe(true);
    await l.adjust(ticketOf(d), 'noscript', 1);
  });
});
