// Owns where a request goes: channels per model, their circuit breakers (shared over Redis), and the upstream transport (keep-alive pools, timeouts).
// Must not translate provider formats or bill: adapters translate, the engine decides retries and charges.
export { CircuitBreaker, type CircuitState } from './breaker.js';
export { BreakerSync } from './breaker-sync.js';
export { type ChannelRuntime, ChannelTable, type ModelRuntime } from './channels.js';
export { createHttpTransport, readBody, type Transport, type UpstreamResponse } from './transport.js';
