// Errors on the Messages surface in Anthropic's shape, {"type":"error","error":{"type","message"}},
// with Tollgate's own machine-readable code (and param) kept inside `error`, so Anthropic
// SDKs raise their typed errors and a person still sees which Tollgate rule refused.
import type { GatewayError } from '../../core/errors.js';

/** Anthropic's error type for each status it documents; other statuses borrow the nearest. */
const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  408: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/**
 * The status a Messages client receives. Anthropic answers "overloaded" with 529, and its
 * clients retry on it; Tollgate's 503s (no healthy channel, gateway overloaded) mean the same.
 */
export function messagesErrorStatus(err: GatewayError): number {
  return err.status === 503 ? 529 : err.status;
}

export function messagesErrorType(err: GatewayError): string {
  const status = messagesErrorStatus(err);
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export interface MessagesErrorBody {
  type: 'error';
  error: { type: string; message: string; code: string; param?: string };
}

export function messagesErrorBody(err: GatewayError): MessagesErrorBody {
  const error: MessagesErrorBody['error'] = { type: messagesErrorType(err), message: err.message, code: err.code };
  if (err.param !== null) error.param = err.param;
  return { type: 'error', error };
}

/** The stream frame for an error after the answer started (the stream then closes). */
export function messagesErrorFrame(err: GatewayError): string {
  return `event: error\ndata: ${JSON.stringify(messagesErrorBody(err))}\n\n`;
}
