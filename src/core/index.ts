// Owns the engine and its stages (validate, limit, reserve, cache, route, relay, settle), the error registry and the OpenAI-shaped types.
// Must not know HTTP, sockets or SQL: transports call Engine, storage and upstreams are reached through injected contracts.
export type { EngineResult, InboundMeta, JsonResult, RequestContext, StreamResult } from './context.js';
export { Engine, type EngineDeps } from './engine.js';
export { ERROR_REGISTRY, type ErrorCode } from './error-registry.js';
export { GatewayError, toGatewayError } from './errors.js';
export type * from './types.js';
