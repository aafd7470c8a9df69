// Owns the HTTP transport: Fastify app, routes (/v1, /api, /admin, ops, console), SSE writing, the error envelope.
// Must not hold business rules: handlers parse, call the engine or a service, and serialise.
export { buildHttpApp, type HttpApp } from './app.js';
export { StreamRegistry } from './sse.js';
