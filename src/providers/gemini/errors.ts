// Gemini's Google-style error body ({error: {code, message, status, details}}) → GatewayError,
// through the shared status mapping so every provider agrees on codes and retryability.
import { GatewayError } from '../../core/errors.js';
import { cleanProviderMessage, upstreamError } from '../errors.js';
import type { UpstreamHeaders } from '../types.js';

export interface GoogleError {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<Record<string, unknown>>;
}

/**
 * Google's canonical status names are more precise than the HTTP status (a 400 may be a bad
 * API key, a 429 always means quota); these override the HTTP status when present.
 */
const STATUS_BY_GOOGLE_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 400,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UNKNOWN: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** ErrorInfo reasons that are about the operator's key even though Google answers 400. */
const CREDENTIAL_REASONS = new Set(['API_KEY_INVALID', 'API_KEY_EXPIRED', 'API_KEY_SERVICE_BLOCKED', 'SERVICE_DISABLED', 'CONSUMER_INVALID']);

export function parseGoogleError(body: string): GoogleError | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  // A non-SSE streamGenerateContent answers with a JSON array, errors included.
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  const err = first !== null && typeof first === 'object' ? (first as { error?: unknown }).error : undefined;
  return err !== null && typeof err === 'object' ? (err as GoogleError) : undefined;
}

function detailOfType(err: GoogleError, type: string): Record<string, unknown> | undefined {
  return Array.isArray(err.details) ? err.details.find((d) => typeof d?.['@type'] === 'string' && d['@type'].endsWith(type)) : undefined;
}

/** RetryInfo.retryDelay ("37s", "1.5s") as seconds, when Google sends it in place of a Retry-After header. */
function retryDelaySeconds(err: GoogleError): number | undefined {
  const delay = detailOfType(err, 'google.rpc.RetryInfo')?.retryDelay;
  if (typeof delay !== 'string') return undefined;
  const secs = Number.parseFloat(delay);
  return Number.isFinite(secs) && secs >= 0 ? secs : undefined;
}

function withRetryAfter(headers: UpstreamHeaders, err: GoogleError | undefined): UpstreamHeaders {
  if (!err || headers['retry-after'] !== undefined || headers['Retry-After'] !== undefined) return headers;
  const secs = retryDelaySeconds(err);
  return secs === undefined ? headers : { ...headers, 'retry-after': String(Math.ceil(secs)) };
}

export function mapGeminiError(status: number, body: string, headers: UpstreamHeaders): GatewayError {
  const err = parseGoogleError(body);
  const message = err?.message ?? (err ? undefined : body.replace(/<[^>]*>/g, ' ').slice(0, 300));
  const reason = detailOfType(err ?? {}, 'google.rpc.ErrorInfo')?.reason;
  if (typeof reason === 'string' && CREDENTIAL_REASONS.has(reason)) return upstreamError(401, message, headers, 'gemini');
  if (err?.status === 'FAILED_PRECONDITION') {
    // e.g. "User location is not supported" or billing not enabled: this channel cannot serve, another may.
    return new GatewayError('provider_error', `The provider (gemini) cannot serve this request from the gateway's account: ${cleanProviderMessage(message, 'failed precondition')}`, {
      retryable: true,
      upstreamStatus: status,
    });
  }
  const effective = (err?.status && STATUS_BY_GOOGLE_STATUS[err.status]) || status;
  return upstreamError(effective, message, withRetryAfter(headers, err), 'gemini');
}
