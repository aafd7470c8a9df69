// The provider adapter contract: pure translation between Tollgate's OpenAI-shaped
// types and a provider's wire format. Adapters never open sockets, read storage or route.
import type { ModelConfig, ProviderConfig } from '../config/schema.js';
import type { GatewayError } from '../core/errors.js';
import type {
  ChatCompletion,
  ChatRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  FinishReason,
  Usage,
} from '../core/types.js';

export interface AdapterContext {
  provider: ProviderConfig;
  /** The public model being served (its id goes into every response's `model`). */
  model: ModelConfig;
  /** The provider's own model name for this channel. */
  upstreamModel: string;
  stream: boolean;
  requestId: string;
}

/** One HTTP request to send upstream. `url` is absolute (base_url + path + query). */
export interface UpstreamRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

/**
 * What a stream translator emits for the engine. One upstream event may yield several
 * pieces; most yield one or none.
 */
export interface StreamPiece {
  /** A serialized OpenAI `chat.completion.chunk` to forward as `data: <json>\n\n`. */
  json?: string;
  /** True when this piece carries output (text, tool call, refusal): used for first-token commit. */
  content?: boolean;
  /** Output text in this piece (content + tool-call arguments), to count tokens when no usage arrives. */
  text?: string;
  finishReason?: FinishReason;
  /** Usage as reported by the upstream. */
  usage?: Usage;
  /** This piece exists only to carry usage: forwarded only if the client asked for it. */
  usageOnly?: boolean;
  /** The upstream signalled a normal end of stream (`[DONE]`, `message_stop`, last Gemini chunk). */
  done?: boolean;
  /** The upstream reported an error inside the stream. */
  error?: GatewayError;
}

export interface StreamTranslator {
  /** Feed raw upstream bytes as they arrive; returns the pieces completed by them. */
  push(data: Uint8Array): StreamPiece[];
  /** The upstream body ended; returns trailing pieces (a truncated last event becomes an error piece). */
  end(): StreamPiece[];
}

export interface ProviderAdapter {
  readonly type: string;
  /** Chat parameters this provider can honour; used when a model's config lists none. */
  readonly supportedParameters?: readonly string[];
  chatRequest(req: ChatRequest, ctx: AdapterContext): UpstreamRequest;
  /** Parse a 2xx non-stream body. Throws GatewayError provider_error (502) when malformed. */
  chatResponse(body: string, ctx: AdapterContext): ChatCompletion;
  streamTranslator(ctx: AdapterContext): StreamTranslator;
  embeddingsRequest?(req: EmbeddingsRequest, ctx: AdapterContext): UpstreamRequest;
  embeddingsResponse?(body: string, ctx: AdapterContext): EmbeddingsResponse;
  /** Finishing touches that need the original request (e.g. base64 encoding a provider cannot do). */
  completeEmbeddings?(resp: EmbeddingsResponse, req: EmbeddingsRequest): EmbeddingsResponse;
  /** Map a non-2xx upstream answer to a GatewayError (status, code, message, retryable, retryAfterS). */
  mapError(status: number, body: string, headers: UpstreamHeaders): GatewayError;
  /** A cheap request proving the provider is reachable and the key works (`tollgate check`). */
  probeRequest?(provider: ProviderConfig): UpstreamRequest;
}

export type AdapterFactory = (provider: ProviderConfig) => ProviderAdapter;
