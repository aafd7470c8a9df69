// Owns translation between the OpenAI shape and each provider's wire format: one folder per provider, one registry line each.
// Must not open sockets, read storage or route: adapters are pure functions over requests, bodies and stream bytes.
export { createAdapter, createTransport } from './registry.js';
export type { AdapterContext, ProviderAdapter, StreamPiece, StreamTranslator, UpstreamRequest } from './types.js';
