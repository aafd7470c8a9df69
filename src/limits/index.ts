// Owns request and token rate limits (rpm/tpm per key and per org): the limiter contract, its memory and Redis implementations, outage handling and OpenAI's rate-limit headers.
// Must not know HTTP, GatewayError or the store: it answers admit/refuse with numbers, and the engine turns them into responses.
export { formatResetDuration, rateLimitHeaders, retryAfterSeconds, tightestState } from './headers.js';
export { createMemoryLimiter, type MemoryLimiterOptions, type MemoryRateLimiter } from './memory-limiter.js';
export { exceededCode, headerStates, type LimitPlan, type LimitSettings, type PlanLimitsInput, planLimits, tokenKeys } from './plan.js';
export { closeRedisClient, createLimiterRedisClient, redisClass, type LimiterRedisClientOptions, limiterRedisOptions, waitUntilReady } from './redis-client.js';
export { createRedisLimiter, type RedisLimiterOptions, redisLimitKeys } from './redis-limiter.js';
export { createResilientLimiter, LimiterUnavailableError, type ResilientLimiterOptions } from './resilient-limiter.js';
export { InvalidLimitSpecError, type LimitMetric, type LimitScope, limitKey } from './specs.js';
export { DEFAULT_WINDOW_MS, type LimitDecision, type LimitSpec, type LimitState, type RateLimiter } from './types.js';
