// Leases in Redis: a key held by one owner token for a bounded time, renewed while the owner
// lives and lapsing with it. Used so that exactly one instance runs a periodic job (the credit
// reconciler) and so that a crashed instance's claims expire on their own.
import type { Redis } from 'ioredis';

// KEYS: lease   ARGV: token, ttlMs — take it if free, or extend it if already ours.
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
`;

// KEYS: lease   ARGV: token — delete only if ours.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface Lease {
  readonly key: string;
  /** Takes or renews the lease; false when another owner holds it (or Redis is unreachable). */
  acquire(): Promise<boolean>;
  /** Gives it up early, if still ours. */
  release(): Promise<void>;
}

export function createLease(redis: Redis, key: string, token: string, ttlMs: number): Lease {
  return {
    key,
    async acquire() {
      try {
        return Number(await redis.eval(ACQUIRE, 1, key, token, ttlMs)) === 1;
      } catch {
        return false;
      }
    },
    async release() {
      await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
    },
  };
}
