// One mapping from an upstream HTTP failure to the client-facing GatewayError, shared by
// every adapter so that providers agree on codes and retryability (SPEC §5, §12).
import { GatewayError } from '../core/errors.js';
import type { UpstreamHeaders } from './types.js';

function header(headers: UpstreamHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), if present and sane. */
export function parseRetryAfter(headers: UpstreamHeaders): number | undefined {
  const raw = header(headers, 'retry-after') ?? header(headers, 'Retry-After');
  if (!raw) {
    const ms = header(headers, 'retry-after-ms');
    const n = ms === undefined ? Number.NaN : Number(ms);
    return Number.isFinite(n) && n >= 0 ? Math.min(n / 1000, 3600) : undefined;
  }
  const secs = Number(raw);
  if (Number.isFinite(secs) && secs >= 0) return Math.min(secs, 3600);
  const date = Date.parse(raw);
  if (Number.isFinite(date)) return Math.max(0, Math.min((date - Date.now()) / 1000, 3600));
  return undefined;
}

/** Keeps a provider's message readable and bounded; never includes request headers or keys. */
export function cleanProviderMessage(message: unknown, fallback: string): string {
  if (typeof message !== 'string' || message.trim() === '') return fallback;
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return oneLine.length > 500 ? `${oneLine.slice(0, 500)}…` : oneLine;
}

/** Provider wordings for "the prompt does not fit the context window" (OpenAI, vLLM, Ollama, Anthropic, Gemini, Mistral). */
export const CONTEXT_OVERFLOW_WORDS = /context[ _-]?(length|window)|maximum context|prompt is too long|too many (input )?tokens|exceeds? (the )?(max(imum)?|model'?s?) (input|context)|input token count/i;

/**
 * Status → GatewayError. 400/422: the request itself was refused (passed to the client as
 * 400 with the provider's words, not retried; a context overflow becomes context_exceeded).
 * 401/403: the operator's credentials for this channel are wrong (502; the channel leaves
 * rotation and another may serve). 408/504: timeout. 429/5xx/529: retryable.
 */
export function upstreamError(status: number, providerMessage: string | undefined, headers: UpstreamHeaders, providerName: string): GatewayError {
  const msg = cleanProviderMessage(providerMessage, `HTTP ${status}`);
  const retryAfterS = parseRetryAfter(headers);
  const base = { upstreamStatus: status, retryAfterS };
  if ((status === 400 || status === 422 || status === 413) && providerMessage !== undefined && CONTEXT_OVERFLOW_WORDS.test(providerMessage)) {
    return new GatewayError('context_exceeded', `The provider (${providerName}) says the prompt does not fit the model's context window: ${msg}`, { upstreamStatus: status });
  }
  if (status === 400 || status === 422 || status === 404) {
    return new GatewayError('invalid_value', `The provider (${providerName}) rejected the request: ${msg}`, { ...base, status: 400 });
  }
  if (status === 413) {
    return new GatewayError('payload_too_large', `The provider (${providerName}) says the request is too large: ${msg}`, base);
  }
  if (status === 401 || status === 403) {
    return new GatewayError(
      'provider_error',
      `The provider (${providerName}) refused the gateway's credentials for this model. The operator must check that provider's API key in the Tollgate config.`,
      { ...base, retryable: true, blame: 'credentials' },
    );
  }
  if (status === 408 || status === 504) {
    return new GatewayError('timeout', `The provider (${providerName}) timed out: ${msg}`, { ...base, retryable: true, blame: 'channel' });
  }
  if (status === 429) {
    return new GatewayError('provider_error', `The provider (${providerName}) is rate limiting the gateway: ${msg}. Retry later.`, { ...base, retryable: true });
  }
  return new GatewayError('provider_error', `The provider (${providerName}) returned an error (HTTP ${status}): ${msg}`, {
    ...base,
    retryable: status >= 500 || status === 409,
    blame: status >= 500 ? 'channel' : undefined,
  });
}

/** A 2xx answer Tollgate could not understand. Not retryable: the same upstream would answer the same. */
export function malformedUpstream(providerName: string, detail: string): GatewayError {
  return new GatewayError('provider_error', `The provider (${providerName}) sent a response Tollgate could not read (${detail}).`, {
    retryable: false,
    blame: 'channel',
  });
}
