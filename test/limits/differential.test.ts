// SPEC §7 rate limits: both limiters agree, decision for decision, with a plain reference model
// of a sliding window log on a random workload (costs, multi-spec calls, adjustments, expiry).
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLimiter, createRedisLimiter, type LimitDecision, type LimitSpec, type RateLimiter } from '../../src/limits/index.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable } from './redis-test-support.js';

interface Entry {
  ts: number;
  cost: number;
  ticket: string;
}

/** The definition, written for clarity rather than speed. */
function referenceLimiter(): RateLimiter {
  const entries = new Map<string, Entry[]>();
  let seq = 0;
  const live = (key: string, now: number, windowMs: number): Entry[] => {
    const kept = (entries.get(key) ?? []).filter((e) => e.ts > now - windowMs);
    entries.set(key, kept);
    return kept;
  };
  const total = (list: Entry[]): number => list.reduce((s, e) => s + e.cost, 0);
  return {
    async acquire(specs, now = 0) {
      let failed = -1;
      let retryAfterMs = 0;
      specs.forEach((spec, i) => {
        const win = spec.windowMs ?? 60_000;
        const list = live(spec.key, now, win);
        const sum = total(list);
        let wait = 0;
        if (spec.cost > spec.limit) wait = win;
        else if (sum + spec.cost > spec.limit) {
          let freed = 0;
          wait = win;
          for (const e of list) {
            freed += e.cost;
            if (freed >= sum + spec.cost - spec.limit) {
              wait = Math.max(1, e.ts + win - now);
              break;
            }
          }
        }
        if (wait > retryAfterMs) {
          retryAfterMs = wait;
          failed = i;
        }
      });
      const ticket = String(++seq);
      if (failed < 0) for (const spec of specs) entries.get(spec.key)?.push({ ts: now, cost: spec.cost, ticket });
      const states = specs.map((spec) => {
        const win = spec.windowMs ?? 60_000;
        const list = live(spec.key, now, win);
        return {
          key: spec.key,
          limit: spec.limit,
          remaining: Math.max(0, spec.limit - total(list)),
          resetMs: list.length === 0 ? 0 : list[0].ts + win - now,
        };
      });
      return failed < 0 ? { allowed: true, states, ticket } : { allowed: false, states, failed, retryAfterMs };
    },
    async adjust(ticket, key, newCost) {
      const e = entries.get(key)?.find((x) => x.ticket === ticket);
      if (e) e.cost = newCost;
    },
    async close() {},
  };
}

type Op = { kind: 'acquire'; specs: LimitSpec[]; now: number } | { kind: 'adjust'; op: number; key: string; cost: number };

/** A reproducible workload from a small linear congruential generator. */
function workload(seed: number, count: number, keyPrefix: string): Op[] {
  let state = seed >>> 0;
  const rand = (n: number): number => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % n;
  };
  const kinds = [
    { key: `${keyPrefix}rpm`, limit: 5, cost: () => 1 },
    { key: `${keyPrefix}tpm-a`, limit: 100, cost: () => rand(41) },
    { key: `${keyPrefix}tpm-b`, limit: 50, cost: () => 1 + rand(30) },
  ];
  const ops: Op[] = [];
  const admittedOps: Array<{ op: number; keys: string[] }> = [];
  let now = 1_700_000_000_000;
  for (let i = 0; i < count; i++) {
    now += rand(4) === 0 ? 0 : rand(60);
    if (admittedOps.length > 0 && rand(10) < 3) {
      const target = admittedOps[rand(admittedOps.length)];
      ops.push({ kind: 'adjust', op: target.op, key: target.keys[rand(target.keys.length)], cost: rand(61) });
      continue;
    }
    const first = rand(3);
    const picks = rand(2) === 0 ? [first] : [first, (first + 1 + rand(2)) % 3];
    const specs = picks.map((p) => ({ key: kinds[p].key, limit: kinds[p].limit, cost: kinds[p].cost(), windowMs: 1_000 }));
    admittedOps.push({ op: ops.length, keys: specs.map((s) => s.key) });
    ops.push({ kind: 'acquire', specs, now });
  }
  return ops;
}

/** Runs the ops and returns every decision with its ticket left out (tickets differ by design). */
async function replay(limiter: RateLimiter, ops: Op[]): Promise<unknown[]> {
  const tickets = new Map<number, string>();
  const out: unknown[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.kind === 'adjust') {
      const ticket = tickets.get(op.op);
      if (ticket !== undefined) await limiter.adjust(ticket, op.key, op.cost);
      continue;
    }
    const d: LimitDecision = await limiter.acquire(op.specs, op.now);
    if (d.allowed) {
      tickets.set(i, d.ticket);
      out.push({ i, allowed: true, states: d.states });
    } else {
      out.push({ i, allowed: false, states: d.states, failed: d.failed, retryAfterMs: d.retryAfterMs });
    }
  }
  return out;
}

const redisUp = await isRedisReachable();

describe('SPEC §7 rate limits: implementations agree with the reference model', () => {
  const seeds = [1, 42, 2024];
  let client: Redis | undefined;
  const prefix = freshPrefix();

  beforeAll(async () => {
    if (redisUp) client = await connectTestClient();
  });

  afterAll(async () => {
    if (client) {
      await deleteKeys(client, prefix);
      await client.quit();
    }
  });

  it.each(seeds)('memory limiter matches on workload %i', async (seed) => {
    const ops = workload(seed, 1_500, `s${seed}:`);
    const expected = await replay(referenceLimiter(), ops);
    expect(expected.filter((d) => (d as { allowed: boolean }).allowed).length).toBeGreaterThan(100);
    expect(await replay(createMemoryLimiter(), ops)).toEqual(expected);
  });

  it.skipIf(!redisUp).each(seeds)('Redis limiter matches on workload %i', async (seed) => {
    const ops = workload(seed, 1_500, `s${seed}:`);
    const expected = await replay(referenceLimiter(), ops);
    expect(await replay(createRedisLimiter(client as Redis, prefix), ops)).toEqual(expected);
  });
});
