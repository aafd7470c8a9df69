// How Tollgate's Redis connections are built and closed. Only src/kv/ constructs clients: the
// rest of the gateway borrows them from a Kv (see kv.ts) and never closes them itself.
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

/** ioredis is loaded only when Redis is configured (it costs memory otherwise). */
export function redisClass(): typeof Redis {
  return (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
}

export interface CommandClientOptions {
  /** Longest a single command may take before it fails. Default 500 ms. */
  commandTimeoutMs?: number;
  /** Longest a connection attempt may take. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** CLIENT SETNAME on every (re)connect, so operators can tell Tollgate's connections apart. */
  connectionName?: string;
  /**
   * Connection-level errors (refused, reset, timeouts while reconnecting). ioredis emits one per
   * reconnect attempt; without a listener it prints each to stderr, so a no-op is installed by
   * default. Failures of actual commands reach their callers instead.
   */
  onError?: (err: Error) => void;
}

/**
 * Options for the command connection. Every decision taken on it (limits, credit, cache,
 * idempotency) must fail within a fraction of a second when Redis is down or slow, so the
 * caller can refuse (503) or decide locally instead of the request hanging while ioredis
 * queues and retries.
 */
export function commandClientOptions(opts: CommandClientOptions = {}): RedisOptions {
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
    ...(opts.connectionName ? { connectionName: opts.connectionName } : {}),
  };
}

/** A connection for commands (see commandClientOptions). */
export function createCommandClient(url: string, opts: CommandClientOptions = {}): Redis {
  const RedisClient = redisClass();
  const client = new RedisClient(url, commandClientOptions(opts));
  client.on('error', opts.onError ?? (() => {}));
  return client;
}

/**
 * A connection that only subscribes. Unlike the command connection it queues while offline
 * and retries without limit: a SUBSCRIBE sent before Redis is reachable must take effect once
 * it is, and ioredis re-subscribes by itself after every reconnect.
 */
export function createSubscriberClient(url: string, opts: Pick<CommandClientOptions, 'connectionName' | 'onError' | 'connectTimeoutMs'> = {}): Redis {
  const RedisClient = redisClass();
  const client = new RedisClient(url, {
    maxRetriesPerRequest: null,
    connectTimeout: opts.connectTimeoutMs ?? 1_000,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), 2_000),
    ...(opts.connectionName ? { connectionName: opts.connectionName } : {}),
  });
  client.on('error', opts.onError ?? (() => {}));
  return client;
}

/**
 * Resolves true once the client can take commands, false after `timeoutMs`. With the offline
 * queue off, commands sent before this would fail, so start-up awaits it (and carries on
 * either way: every user of the connection copes with an unreachable Redis).
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
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    const quit = client.quit().then(
      () => undefined,
      () => client.disconnect(),
    );
    // A paused or hung Redis never answers QUIT: give it a moment, then drop the socket.
    const timer = setTimeout(() => client.disconnect(), 1_000);
    await quit;
    clearTimeout(timer);
  } else {
    client.disconnect();
  }
}
