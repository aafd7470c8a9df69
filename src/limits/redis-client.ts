// An ioredis client tuned for limit decisions: when Redis is down or slow, a command must fail
// within a fraction of a second so the resilient limiter can refuse (503) or decide locally,
// instead of the request hanging while ioredis queues and retries.
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

/** ioredis is loaded only when Redis is configured (it costs memory otherwise). */
export function redisClass(): typeof Redis {
  return (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
}

export interface LimiterRedisClientOptions {
  /** Longest a single limiter command may take before it fails. Default 500 ms. */
  commandTimeoutMs?: number;
  /** Longest a connection attempt may take. Default 1000 ms. */
  connectTimeoutMs?: number;
  /**
   * Connection-level errors (refused, reset, timeouts while reconnecting). ioredis emits one per
   * reconnect attempt; without a listener it prints each to stderr, so a no-op is installed by
   * default. Failures of actual decisions reach the resilient limiter's onError instead.
   */
  onError?: (err: Error) => void;
}

export function limiterRedisOptions(opts: LimiterRedisClientOptions = {}): RedisOptions {
  return {
    // Fail commands issued while disconnected at once rather than holding them until reconnect.
    enableOfflineQueue: false,
    // A command in flight when the connection drops is retried at most once, then rejected.
    maxRetriesPerRequest: 1,
    // After a reconnect, a decision for a request that has since been answered is worthless.
    autoResendUnfulfilledCommands: false,
    commandTimeout: opts.commandTimeoutMs ?? 500,
    connectTimeout: opts.connectTimeoutMs ?? 1_000,
    // Keep reconnecting in the background, backing off to once every 2 s.
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), 2_000),
  };
}

export function createLimiterRedisClient(url: string, opts: LimiterRedisClientOptions = {}): Redis {
  const RedisClient = redisClass();
  const client = new RedisClient(url, limiterRedisOptions(opts));
  client.on('error', opts.onError ?? (() => {}));
  return client;
}

/**
 * Resolves true once the client can take commands, false after `timeoutMs`. With the offline
 * queue off, commands sent before this would fail, so start-up should await it (and carry on
 * either way: the resilient limiter covers an unreachable Redis).
 */
export function waitUntilReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = (): void => finish(true);
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(ok: boolean): void {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    }
    client.once('ready', onReady);
  });
}

/**
 * Closes a client without hanging: quit() waits for Redis to acknowledge, which never
 * happens on a connection that is down, so a client that is not ready is just disconnected.
 */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
  else client.disconnect();
}
