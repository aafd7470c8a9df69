// Sliding-window-log limiter kept in Redis, so every gateway instance sharing the Redis enforces
// one limit. Each decision is one Lua script (see redis-scripts.ts for the data layout and why a
// log rather than a bucket: the same reasoning as memory-limiter.ts).
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedisClient } from './redis-client.js';
import { ACQUIRE_SCRIPT, ADJUST_SCRIPT, type LuaScript } from './redis-scripts.js';
import { assertCost, assertSpecs, specCost, specLimit, specWindow } from './specs.js';
import type { LimitDecision, LimitSpec, LimitState, RateLimiter } from './types.js';

export interface RedisLimiterOptions {
  /** Quit the client on close(). Off by default: the client is usually shared with other parts. */
  closeClient?: boolean;
}

type ScriptArg = string | number;

/** The Redis keys of one limit key: its entry log and its cost hash. */
export function redisLimitKeys(prefix: string, key: string): [entries: string, costs: string] {
  return [`${prefix}rl:z:${key}`, `${prefix}rl:c:${key}`];
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * `now` is honoured only when given, for tests: otherwise the script reads the Redis server's
 * clock, so instances whose clocks disagree still share one timeline.
 * On Redis Cluster every key of one acquire must live in one slot: give the prefix a hash tag,
 * e.g. `{tollgate}:`.
 */
export function createRedisLimiter(redis: Redis, prefix: string, opts: RedisLimiterOptions = {}): RateLimiter {
  // Tickets are members of every key's sorted set, so they must not collide across instances:
  // a random per-limiter stem plus a counter is unique without a round trip.
  const stem = `${randomBytes(6).toString('base64url')}.`;
  let seq = 0;
  let closed = false;

  async function run(script: LuaScript, keys: string[], args: ScriptArg[]): Promise<unknown> {
    try {
      return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // After a Redis restart or SCRIPT FLUSH the cache is empty; EVAL loads it again.
      if (!isNoScript(err)) throw err;
      return await redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  return {
    async acquire(specs: readonly LimitSpec[], now?: number): Promise<LimitDecision> {
      if (closed) throw new Error('the Redis rate limiter is closed');
      assertSpecs(specs);
      const n = specs.length;
      if (n === 0) return { allowed: true, states: [], ticket: '' };
      const ticket = stem + (++seq).toString(36);
      const keys: string[] = new Array(2 * n);
      const args: ScriptArg[] = new Array(2 + 3 * n);
      args[0] = now === undefined ? '' : Math.floor(now);
      args[1] = ticket;
      for (let i = 0; i < n; i++) {
        const spec = specs[i];
        const [entries, costs] = redisLimitKeys(prefix, spec.key);
        keys[2 * i] = entries;
        keys[2 * i + 1] = costs;
        args[2 + 3 * i] = specLimit(spec);
        args[3 + 3 * i] = specCost(spec);
        args[4 + 3 * i] = specWindow(spec);
      }
      const reply = (await run(ACQUIRE_SCRIPT, keys, args)) as number[];
      const states: LimitState[] = new Array(n);
      for (let i = 0; i < n; i++) {
        states[i] = {
          key: specs[i].key,
          limit: specLimit(specs[i]),
          remaining: Number(reply[3 + 2 * i]),
          resetMs: Number(reply[4 + 2 * i]),
        };
      }
      if (Number(reply[0]) === 1) return { allowed: true, states, ticket };
      return { allowed: false, states, failed: Number(reply[1]), retryAfterMs: Number(reply[2]) };
    },

    async adjust(ticket: string, key: string, newCost: number): Promise<void> {
      if (closed) throw new Error('the Redis rate limiter is closed');
      assertCost(newCost);
      await run(ADJUST_SCRIPT, redisLimitKeys(prefix, key), [ticket, Math.ceil(newCost)]);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (opts.closeClient) await closeRedisClient(redis);
    },
  };
}
