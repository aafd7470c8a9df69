// The gemini provider: Google's Gemini API (generateContent, streamGenerateContent?alt=sse,
// embedContent) behind the OpenAI shapes. Pure translation: it builds requests and reads bodies, never sends.
import type { ProviderConfig } from '../../config/schema.js';
import type { ChatRequest, EmbeddingsRequest, EmbeddingsResponse } from '../../core/types.js';
import type { AdapterContext, AdapterFactory, ProviderAdapter, UpstreamRequest } from '../types.js';
import { completeEmbeddings, translateEmbeddingsRequest, translateEmbeddingsResponse } from './embeddings.js';
import { mapGeminiError } from './errors.js';
import { translateChatRequest } from './request.js';
import { translateChatResponse } from './response.js';
import { createGeminiStreamTranslator } from './stream.js';

export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

/** What the request translator honours or can safely ignore; logit_bias, audio and prediction are refused. */
export const GEMINI_SUPPORTED_PARAMETERS: readonly string[] = [
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stream',
  'stream_options',
  'n',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'logprobs',
  'top_logprobs',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'reasoning_effort',
  'modalities',
  'web_search_options',
  'user',
  'metadata',
  'store',
  'service_tier',
  'verbosity',
  'prompt_cache_key',
  'safety_identifier',
  'functions',
  'function_call',
];

export interface GeminiAdapter extends ProviderAdapter {
  /**
   * Gemini cannot answer in base64 and embeddingsResponse sees only the body; the engine calls
   * this with the original request to apply encoding_format.
   */
  completeEmbeddings(resp: EmbeddingsResponse, req: EmbeddingsRequest): EmbeddingsResponse;
}

function baseUrlOf(provider: ProviderConfig): string {
  return (provider.base_url ?? GEMINI_DEFAULT_BASE_URL).replace(/\/+$/, '');
}

function headersOf(provider: ProviderConfig): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (provider.api_key) headers['x-goog-api-key'] = provider.api_key;
  return { ...headers, ...provider.headers };
}

/** Config may name the model with or without Google's "models/" prefix; tuned models keep theirs. */
function modelPath(upstreamModel: string): string {
  return upstreamModel.startsWith('models/') || upstreamModel.startsWith('tunedModels/') ? upstreamModel : `models/${upstreamModel}`;
}

export const createGeminiAdapter: AdapterFactory = (provider): GeminiAdapter => {
  const base = baseUrlOf(provider);
  const headers = headersOf(provider);
  const post = (url: string, body: unknown): UpstreamRequest => ({ method: 'POST', url, headers: { ...headers }, body: JSON.stringify(body) });

  return {
    type: 'gemini',
    supportedParameters: GEMINI_SUPPORTED_PARAMETERS,
    chatRequest(req: ChatRequest, ctx: AdapterContext): UpstreamRequest {
      const method = ctx.stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
      return post(`${base}/${modelPath(ctx.upstreamModel)}:${method}`, translateChatRequest(req));
    },
    chatResponse: translateChatResponse,
    streamTranslator: createGeminiStreamTranslator,
    embeddingsRequest(req: EmbeddingsRequest, ctx: AdapterContext): UpstreamRequest {
      const call = translateEmbeddingsRequest(req, ctx.upstreamModel);
      return post(`${base}/${modelPath(ctx.upstreamModel)}:${call.method}`, call.body);
    },
    embeddingsResponse: translateEmbeddingsResponse,
    completeEmbeddings,
    mapError: mapGeminiError,
    probeRequest(p: ProviderConfig): UpstreamRequest {
      const probeHeaders = headersOf(p);
      delete probeHeaders['content-type'];
      return { method: 'GET', url: `${baseUrlOf(p)}/models?pageSize=1`, headers: probeHeaders };
    },
  };
};
