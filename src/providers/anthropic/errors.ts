// Anthropic error bodies ({type:'error', error:{type, message}}) to GatewayError, for both
// HTTP answers and `error` events that arrive inside an already-open stream.
import { GatewayError } from '../../core/errors.js';
import { upstreamError } from '../errors.js';
import type { UpstreamHeaders } from '../types.js';

export const PROVIDER_NAME = 'anthropic';

/**
 * The HTTP status Anthropic documents for each error type. Stream error events carry only
 * the type, so the status is recovered from here to share one mapping with HTTP errors.
 */
const STATUS_BY_ERROR_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** Anthropic words its context overflow as an invalid request; the client deserves SPEC's own code. */
const CONTEXT_OVERFLOW = /prompt is too long|exceeds? (?:the )?(?:model'?s? )?context (?:window|length)/i;

export interface AnthropicErrorBody {
  type: string | undefined;
  message: string | undefined;
}

/** Reads `{type:'error', error:{type, message}}` leniently: proxies in front of Anthropic send other shapes. */
export function readAnthropicError(parsed: unknown): AnthropicErrorBody {
  if (parsed === null || typeof parsed !== 'object') return { type: undefined, message: undefined };
  const inner = (parsed as { error?: unknown }).error;
  if (inner !== null && typeof inner === 'object') {
    const { type, message } = inner as { type?: unknown; message?: unknown };
    return { type: typeof type === 'string' ? type : undefined, message: typeof message === 'string' ? message : undefined };
  }
  if (typeof inner === 'string') return { type: undefined, message: inner };
  return { type: undefined, message: undefined };
}

function toGatewayError(status: number, err: AnthropicErrorBody, headers: UpstreamHeaders): GatewayError {
  if (status === 400 && err.message !== undefined && CONTEXT_OVERFLOW.test(err.message)) {
    return new GatewayError('context_exceeded', `The provider (${PROVIDER_NAME}) says the prompt does not fit the model's context window: ${err.message}`, {
      upstreamStatus: status,
    });
  }
  return upstreamError(status, err.message, headers, PROVIDER_NAME);
}

export function mapAnthropicError(status: number, body: string, headers: UpstreamHeaders): GatewayError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    // Gateways and load balancers in front of Anthropic answer with HTML or plain text.
    parsed = undefined;
  }
  const err = readAnthropicError(parsed);
  return toGatewayError(status, err, headers);
}

/** An `error` event inside a 200 stream: the HTTP status is gone, so the documented one for its type stands in. */
export function mapAnthropicStreamError(parsed: unknown): GatewayError {
  const err = readAnthropicError(parsed);
  const status = (err.type !== undefined ? STATUS_BY_ERROR_TYPE[err.type] : undefined) ?? 500;
  return toGatewayError(status, { type: err.type, message: err.message ?? err.type }, {});
}
