// Owns every Redis connection: builds, shares and closes them, and offers change feeds and leases.
// Must not hold business logic: limits, credit, cache and tenants bring their own scripts and keys.
export { closeRedisClient, commandClientOptions, createCommandClient, redisClass, waitUntilReady } from './clients.js';
export { type ChangeFeed, type FeedHandlers, localFeed } from './feed.js';
export { Kv, type KvOptions } from './kv.js';
export type { Lease } from './lease.js';
export { type LeaseJob, runUnderLease } from './lease-job.js';
