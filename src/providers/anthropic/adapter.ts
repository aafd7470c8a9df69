// The Anthropic Messages API adapter: where requests go, with which headers, and which
// translator handles each direction. Pure: it builds requests and never sends them.
import type { ProviderConfig } from '../../config/schema.js';
import type { AdapterFactory, ProviderAdapter, UpstreamRequest } from '../types.js';
import { mapAnthropicError } from './errors.js';
import { anthropicNativeMessages } from './native.js';
import { ANTHROPIC_SUPPORTED_PARAMETERS, toAnthropicRequest } from './request.js';
import { fromAnthropicResponse } from './response.js';
import { translateAnthropicStream } from './stream.js';

export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';

/** Operators paste base URLs with or without `/v1`; the paths below add it back exactly once. */
export function anthropicBaseUrl(provider: ProviderConfig): string {
  let base = provider.base_url ?? ANTHROPIC_DEFAULT_BASE_URL;
  base = base.replace(/\/+$/, '');
  if (base.endsWith('/v1')) base = base.slice(0, -3).replace(/\/+$/, '');
  return base;
}

function anthropicHeaders(provider: ProviderConfig): Record<string, string> {
  const headers: Record<string, string> = {
    'anthropic-version': ANTHROPIC_VERSION,
    'content-type': 'application/json',
  };
  if (provider.api_key !== undefined && provider.api_key !== '') headers['x-api-key'] = provider.api_key;
  // Operator headers win, e.g. an `anthropic-beta` flag or a pinned newer version.
  for (const [name, value] of Object.entries(provider.headers ?? {})) headers[name.toLowerCase()] = value;
  return headers;
}

export const createAnthropicAdapter: AdapterFactory = (provider) => {
  const base = anthropicBaseUrl(provider);
  const messagesUrl = `${base}/v1/messages`;
  const headers = anthropicHeaders(provider);
  // An operator may pin a newer API version through provider.headers; those reject sampling fields outright.
  const translateOptions = { sampling: headers['anthropic-version'] === ANTHROPIC_VERSION };

  const adapter: ProviderAdapter = {
    type: 'anthropic',
    supportedParameters: ANTHROPIC_SUPPORTED_PARAMETERS,
    chatRequest(req, ctx): UpstreamRequest {
      return { method: 'POST', url: messagesUrl, headers: { ...headers }, body: JSON.stringify(toAnthropicRequest(req, ctx, translateOptions)) };
    },
    chatResponse: fromAnthropicResponse,
    streamTranslator: translateAnthropicStream,
    mapError: mapAnthropicError,
    native: { messages: anthropicNativeMessages(messagesUrl, headers, provider.headers ?? {}) },
    probeRequest(p): UpstreamRequest {
      // Listing models is free, needs a valid key, and generates no tokens.
      const probeHeaders = anthropicHeaders(p);
      delete probeHeaders['content-type'];
      return { method: 'GET', url: `${anthropicBaseUrl(p)}/v1/models?limit=1`, headers: probeHeaders };
    },
  };
  return adapter;
};
