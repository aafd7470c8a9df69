// Owns logs and metrics: pino with key redaction and masking, a prom-client registry per gateway.
// Must not log secrets or hold request state: callers pass what to record.
export { createLogger, type Logger, maskKeys } from './logger.js';
export { createMetrics, type Metrics } from './metrics.js';
