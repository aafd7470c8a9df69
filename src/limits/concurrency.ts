// Concurrency limits (max_concurrency): how many requests of a key, and of an org, may be in
// flight at once. Each admitted request holds a slot until it completes, its client goes away
// or its instance dies. In memory the slot is a counter; with Redis it is a lease in a sorted
// set per scope (member: the request's lease id, score: its expiry), renewed while the request
// runs and lapsing on its own when the instance holding it crashes, so every instance sharing
// the Redis sees one count.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface ConcurrencyScope {
  /** counter id, e.g. `key:<keyId>` or `org:<orgId>` */
  key: string;
  limit: number;
}

export type ConcurrencyDecision =
  | { allowed: true; /** gives the slots back; safe to call more than once */ release: () => void }
  | { allowed: false; /** index of the full scope */ failed: number; inFlight: number };

export interface ConcurrencyLimiter {
  /** Atomically: a slot in every scope, or none at all. */
  acquire(scopes: readonly ConcurrencyScope[]): Promise<ConcurrencyDecision>;
  /** Requests in flight now, per counter id. */
  inFlight(keys: readonly string[]): Promise<number[]>;
  close(): Promise<void>;
}

export class ConcurrencyUnavailableError extends Error {}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

export function createMemoryConcurrency(): ConcurrencyLimiter {
  const counts = new Map<string, number>();
  return {
    async acquire(scopes) {
      for (let i = 0; i < scopes.length; i++) {
        const n = counts.get(scopes[i].key) ?? 0;
        if (n >= scopes[i].limit) return { allowed: false, failed: i, inFlight: n };
      }
      for (const s of scopes) counts.set(s.key, (counts.get(s.key) ?? 0) + 1);
      return {
        allowed: true,
        release: once(() => {
          for (const s of scopes) {
            const n = (counts.get(s.key) ?? 1) - 1;
            if (n <= 0) counts.delete(s.key);
            else counts.set(s.key, n);
          }
        }),
      };
    },
    async inFlight(keys) {
      return keys.map((k) => counts.get(k) ?? 0);
    },
    async close() {},
  };
}

// Redis time in ms, so instances with skewed clocks agree on expiry.
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: scope sets   ARGV: lease id, ttlMs, limit per key — returns {0, 0} or {failed index (1-based), in flight}.
const ACQUIRE = `${NOW}
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local n = redis.call('ZCARD', KEYS[i])
  if n >= tonumber(ARGV[i + 2]) then return {i, n} end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return {0, 0}
`;

// KEYS: scope sets   ARGV: lease id, ttlMs — pushes the lease's expiry out, if it still holds one.
const RENEW = `${NOW}
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + ttl, ARGV[1]) == 1 then redis.call('PEXPIRE', KEYS[i], ttl * 2) end
end
return 1
`;

// KEYS: scope sets — live leases in each.
const COUNT = `${NOW}
local out = {}
for i = 1, #KEYS do out[i] = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') end
return out
`;

export interface RedisConcurrencyOptions {
  /** How long a lease lives without renewal: a crashed instance's requests free their slots after this. */
  leaseTtlMs?: number;
  onError?: (err: unknown) => void;
}

export const DEFAULT_LEASE_TTL_MS = 30_000;

export function createRedisConcurrency(redis: Redis, prefix: string, opts: RedisConcurrencyOptions = {}): ConcurrencyLimiter {
  const ttl = opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const held = new Map<string, string[]>();
  const name = (k: string) => `${prefix}conc:${k}`;
  let timer: NodeJS.Timeout | undefined;
  const renewAll = () => {
    for (const [id, keys] of held) redis.eval(RENEW, keys.length, ...keys, id, ttl).catch((err) => opts.onError?.(err));
  };
  const track = () => {
    if (held.size > 0 && !timer) {
      timer = setInterval(renewAll, Math.max(50, Math.floor(ttl / 3)));
      timer.unref();
    } else if (held.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    async acquire(scopes) {
      const keys = scopes.map((s) => name(s.key));
      const id = randomBytes(9).toString('base64url');
      let r: [number, number];
      try {
        r = (await redis.eval(ACQUIRE, keys.length, ...keys, id, ttl, ...scopes.map((s) => s.limit))) as [number, number];
      } catch (err) {
        throw new ConcurrencyUnavailableError('concurrency limits are unavailable', { cause: err });
      }
      if (Number(r[0]) !== 0) return { allowed: false, failed: Number(r[0]) - 1, inFlight: Number(r[1]) };
      held.set(id, keys);
      track();
      return {
        allowed: true,
        release: once(() => {
          held.delete(id);
          track();
          const p = redis.pipeline();
          for (const k of keys) p.zrem(k, id);
          p.exec().catch((err) => opts.onError?.(err));
        }),
      };
    },
    async inFlight(keys) {
      if (keys.length === 0) return [];
      const r = (await redis.eval(COUNT, keys.length, ...keys.map(name))) as number[];
      return r.map(Number);
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
