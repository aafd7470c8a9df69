// The provider adapter contract: pure translation between Tollgate's OpenAI-shaped
// types and a provider's wire format. Adapters never open sockets, read storage or route.
import type { ModelConfig, ProviderConfig } from '../config/schema.js';
import type { GatewayError } from '../core/errors.js';
import type { StreamEvent } from '../core/canonical.js';
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
  /**
   * True when the inbound surface speaks this provider's own protocol (native lane): stream
   * translators then emit `frame`s to relay as they are, instead of typed `events`.
   */
  native?: boolean;
}

/** One HTTP request to send upstream. `url` is absolute (base_url + path + query). */
export interface UpstreamRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** A body read from a source that may be sent again (a spooled upload): each call starts it from the beginning. Replaces `body`. */
  bodyStream?: () => AsyncIterable<Uint8Array>;
  /** Non-stream requests: the whole request may take this long (replaces the first-byte timeout). */
  timeoutMs?: number;
}

export type UpstreamHeaders = Record<string, string | string[] | undefined>;

/**
 * What a stream translator emits for the engine. One upstream event may yield several
 * pieces; most yield one or none.
 */
export interface StreamPiece {
  /** Translated lane: typed events for the surface's encoder. */
  events?: StreamEvent[];
  /** Native lane: one or more complete SSE frames to relay to the client as they are (model already replaced). */
  frame?: string;
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
  /**
   * Native lane: the parsed upstream event of this frame, set only for the few frames a surface
   * reads (those carrying a whole response object); the surface's encoder must not change it.
   */
  nativeEvent?: Readonly<Record<string, unknown>>;
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
  /** Image generation (the OpenAI Images API): the client's body with the model replaced. */
  imagesRequest?(body: Record<string, unknown>, ctx: AdapterContext): UpstreamRequest;
  /** Audio transcription or translation: a multipart/form-data body (already carrying the upstream model) sent as it is streamed. */
  audioRequest?(operation: 'transcriptions' | 'translations', contentType: string, body: () => AsyncIterable<Uint8Array>, ctx: AdapterContext): UpstreamRequest;
  /** Map a non-2xx upstream answer to a GatewayError (status, code, message, retryable, retryAfterS). */
  mapError(status: number, body: string, headers: UpstreamHeaders): GatewayError;
  /** Surface ids (see src/surfaces/types.ts) whose protocol this provider speaks as its own. */
  readonly native?: Readonly<Partial<Record<string, NativeProtocol>>>;
  /** A cheap request proving the provider is reachable and the key works (`tollgate check`). */
  probeRequest?(provider: ProviderConfig): UpstreamRequest;
}

/** Inbound headers a native request forwards (lower-cased names). */
export type ForwardHeaders = Readonly<Record<string, string>>;

/** A 2xx non-stream answer in the provider's own protocol, relayed to a client of the same protocol. */
export interface NativeAnswer {
  /** the body to send to the client: the upstream's, with only the model replaced by the public id */
  body: string;
  /** the upstream's usage in canonical form; undefined when it reported none */
  usage: Usage | undefined;
  finishReason?: FinishReason;
  /** the output text, for counting when no usage was reported */
  text?: string;
  /** the parsed upstream body, for a surface that keeps or reads it (e.g. stored Responses) */
  object?: Record<string, unknown>;
}

/**
 * Same-protocol passthrough: when a surface's protocol is the provider's own, the client's
 * body goes upstream with only `model` replaced, and the answer comes back as it was.
 */
export interface NativeProtocol {
  request(body: Record<string, unknown>, ctx: AdapterContext, headers: ForwardHeaders): UpstreamRequest;
  /** Absent: a non-stream answer goes through the adapter's `chatResponse` and the surface's encoder. */
  response?(body: string, ctx: AdapterContext): NativeAnswer;
  /** Reads the provider's stream: pieces carry `frame`s plus usage, finish, content and errors. */
  streamTranslator(ctx: AdapterContext): StreamTranslator;
}

export type AdapterFactory = (provider: ProviderConfig) => ProviderAdapter;
