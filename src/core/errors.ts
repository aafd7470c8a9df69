// The one error class of the gateway. Every failure that reaches a client is a
// GatewayError; anything else is turned into internal_error by toGatewayError.
import { ERROR_REGISTRY, type ErrorCode, type ErrorType } from './error-registry.js';

export interface GatewayErrorOptions {
  param?: string | null;
  /** Whether another attempt (same or other channel) may succeed. */
  retryable?: boolean;
  /** Seconds the client (or the router) should wait, sent as Retry-After. */
  retryAfterS?: number;
  /** Upstream HTTP status, when the error came from a provider. */
  upstreamStatus?: number;
  /**
   * Whose fault an upstream failure is, for the circuit breaker: 'channel' (connection, 5xx,
   * no first byte, broken protocol) counts against the channel; 'credentials' (the operator's
   * provider key refused) takes the channel out of rotation at once; unset is the request's
   * own outcome (its 4xx, its long generation) and never counts.
   */
  blame?: 'channel' | 'credentials';
  /** Override the registry status, e.g. to pass a provider's 4xx through (SPEC §5). */
  status?: number;
  /** Extra response headers (e.g. rate-limit state on a 429). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly retryable: boolean;
  readonly retryAfterS: number | undefined;
  readonly upstreamStatus: number | undefined;
  readonly blame: 'channel' | 'credentials' | undefined;
  headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, opts: GatewayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const entry = ERROR_REGISTRY[code];
    this.name = 'GatewayError';
    this.code = code;
    this.type = entry.type;
    this.status = opts.status ?? entry.status;
    this.param = opts.param ?? null;
    this.retryable = opts.retryable ?? false;
    this.retryAfterS = opts.retryAfterS;
    this.upstreamStatus = opts.upstreamStatus;
    this.blame = opts.blame;
    this.headers = opts.headers;
  }

  /** Adds response headers gathered before the failure (e.g. rate-limit state); the error's own win. */
  withHeaders(h: Record<string, string>): this {
    this.headers = { ...h, ...this.headers };
    return this;
  }

  toEnvelope(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export interface ErrorEnvelope {
  error: { message: string; type: string; code: string; param: string | null };
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** Anything thrown becomes a GatewayError; unknown errors become 500 internal_error. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal_error', 'Tollgate hit an unexpected error. Retry the request; if it keeps failing, report the X-Request-Id to the operator.', {
    cause: err,
  });
}
