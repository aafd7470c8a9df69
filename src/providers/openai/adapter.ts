// OpenAI-compatible providers (OpenAI, vLLM, Ollama, Groq, DeepSeek, Azure OpenAI …): one
// factory; a vendor differs only in how it builds URLs and authenticates.
import type { ProviderConfig } from '../../config/schema.js';
import type { ChatRequest } from '../../core/types.js';
import type { AdapterContext, AdapterFactory, ProviderAdapter } from '../types.js';
import { mapOpenAIError } from './errors.js';
import { toOpenAIChatBody, toOpenAIEmbeddingsBody } from './request.js';
import { fromOpenAIChatBody, fromOpenAIEmbeddingsBody } from './response.js';
import { createCompletionsNative } from './completions-native.js';
import { createResponsesNative } from './responses-native.js';
import { createOpenAIStreamTranslator } from './stream.js';

export interface OpenAICompatibleVendor {
  type: string;
  defaultBaseUrl: string;
  /** URL for an operation on a model ('chat/completions', 'completions', 'embeddings', 'models' …). */
  url(base: string, operation: OpenAIOperation, upstreamModel: string | undefined, provider: ProviderConfig): string;
  authHeaders(provider: ProviderConfig): Record<string, string>;
  /** Where this vendor serves the Responses API, when it can (see `responses` in the provider config). */
  responsesUrl?(base: string, provider: ProviderConfig): string | undefined;
}

/** The OpenAI API operations Tollgate calls upstream. */
export type OpenAIOperation = 'chat/completions' | 'completions' | 'embeddings' | 'models' | 'images/generations' | 'audio/transcriptions' | 'audio/translations';

const trimSlash = (s: string) => s.replace(/\/+$/, '');

export function createOpenAICompatibleAdapter(vendor: OpenAICompatibleVendor): AdapterFactory {
  return (provider: ProviderConfig): ProviderAdapter => {
    const base = trimSlash(provider.base_url ?? vendor.defaultBaseUrl);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...vendor.authHeaders(provider), ...provider.headers };
    const post = (op: 'chat/completions' | 'embeddings', ctx: AdapterContext, body: string) => ({
      method: 'POST' as const,
      url: vendor.url(base, op, ctx.upstreamModel, provider),
      headers,
      body,
    });
    const responsesUrl = vendor.responsesUrl?.(base, provider);
    return {
      type: vendor.type,
      chatRequest: (req, ctx) => post('chat/completions', ctx, toOpenAIChatBody(req, ctx)),
      // A Chat Completions client's body is this provider's own protocol: it passes with only the model replaced.
      native: {
        chat: {
          request: (body, ctx) => post('chat/completions', ctx, toOpenAIChatBody(body as ChatRequest, ctx)),
          streamTranslator: createOpenAIStreamTranslator,
        },
        ...(responsesUrl !== undefined ? { responses: createResponsesNative(responsesUrl, headers) } : {}),
        // Legacy text completions (with fill-in-the-middle `suffix`) go to the provider's own /completions.
        completions: createCompletionsNative((ctx) => vendor.url(base, 'completions', ctx.upstreamModel, provider), headers),
      },
      chatResponse: fromOpenAIChatBody,
      streamTranslator: createOpenAIStreamTranslator,
      embeddingsRequest: (req, ctx) => post('embeddings', ctx, toOpenAIEmbeddingsBody(req, ctx)),
      embeddingsResponse: fromOpenAIEmbeddingsBody,
      imagesRequest: (body, ctx) => ({ method: 'POST', url: vendor.url(base, 'images/generations', ctx.upstreamModel, provider), headers, body: JSON.stringify({ ...body, model: ctx.upstreamModel }) }),
      audioRequest: (op, contentType, body, ctx) => ({
        method: 'POST',
        url: vendor.url(base, `audio/${op}`, ctx.upstreamModel, provider),
        headers: { ...headers, 'content-type': contentType },
        bodyStream: body,
      }),
      mapError: (status, body, h) => mapOpenAIError(status, body, h, provider.id),
      probeRequest: () => ({ method: 'GET', url: vendor.url(base, 'models', undefined, provider), headers }),
    };
  };
}

export const createOpenAIAdapter = createOpenAICompatibleAdapter({
  type: 'openai',
  defaultBaseUrl: 'https://api.openai.com/v1',
  url: (base, op) => `${base}/${op}`,
  authHeaders: (p): Record<string, string> => (p.api_key ? { authorization: `Bearer ${p.api_key}` } : {}),
  // OpenAI itself speaks Responses; another OpenAI-compatible server only when configured to.
  responsesUrl: (base, p) => ((p.responses ?? base === 'https://api.openai.com/v1') ? `${base}/responses` : undefined),
});

/** Azure OpenAI: deployment-scoped URLs, `api-key` header and an `api-version` query. */
export const createAzureOpenAIAdapter = createOpenAICompatibleAdapter({
  type: 'azure-openai',
  defaultBaseUrl: 'https://example.openai.azure.com',
  url: (base, op, deployment, p) => {
    const version = encodeURIComponent(p.api_version ?? '2024-10-21');
    if (op === 'models') return `${base}/openai/models?api-version=${version}`;
    return `${base}/openai/deployments/${encodeURIComponent(deployment ?? '')}/${op}?api-version=${version}`;
  },
  authHeaders: (p): Record<string, string> => (p.api_key ? { 'api-key': p.api_key } : {}),
});
