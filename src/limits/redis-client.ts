// The limiter's Redis client is the gateway's shared command connection, built by src/kv/.
// These names stay for the limiter's own tests and benchmarks.
import type { Redis } from 'ioredis';
import { type CommandClientOptions, commandClientOptions, createCommandClient } from '../kv/clients.js';

export { closeRedisClient, redisClass, waitUntilReady } from '../kv/clients.js';

export type LimiterRedisClientOptions = CommandClientOptions;

export function limiterRedisOptions(opts: LimiterRedisClientOptions = {}): ReturnType<typeof commandClientOptions> {
  return commandClientOptions(opts);
}

export function createLimiterRedisClient(url: string, opts: LimiterRedisClientOptions = {}): Redis {
  return createCommandClient(url, opts);
}
