// OpenAI-style error bodies ({"error": {"message", "type", "code"}}) → GatewayError.
import type { GatewayError } from '../../core/errors.js';
import { upstreamError } from '../errors.js';
import type { UpstreamHeaders } from '../types.js';

export function errorFromOpenAIBody(status: number, body: unknown, headers: UpstreamHeaders, provider: string): GatewayError {
  let message: string | undefined;
  const err = (body as { error?: unknown } | null)?.error;
  if (typeof err === 'string') message = err;
  else if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') message = (err as { message: string }).message;
  else if (body && typeof (body as { message?: unknown }).message === 'string') message = (body as { message: string }).message;
  return upstreamError(status, message, headers, provider);
}

export function mapOpenAIError(status: number, text: string, headers: UpstreamHeaders, provider: string): GatewayError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return errorFromOpenAIBody(status, body, headers, provider);
}
