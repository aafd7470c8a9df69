// The surface contract: what an inbound protocol (Chat Completions, Anthropic Messages,
// OpenAI Responses, legacy Completions) gives the engine. A surface parses and validates its
// body, states the request's facts, converts to the canonical (Chat Completions-shaped)
// request, and encodes its own JSON answers, stream frames and error bodies. Everything else
// (auth, limits, credit, idempotency, cache, routing, fallbacks, billing, usage) is the engine's.
import type { TokenUsage, StreamEvent } from '../core/canonical.js';
import type { GatewayError } from '../core/errors.js';
import type { StreamPiece } from '../providers/types.js';
import type { ChatCompletion, ChatRequest } from '../core/types.js';
import type { ModelRuntime } from '../routing/channels.js';

export type SurfaceId = 'chat' | 'messages' | 'responses' | 'completions';

/** Inbound request headers, lower-cased, as the client sent them (the surface picks what it needs). */
export type InboundHeaders = Readonly<Record<string, string | undefined>>;

/** Who is calling, once authenticated. */
export interface Caller {
  orgId: string;
  keyId: string;
  requestId: string;
}

/** What the engine must know about a request before it can admit, reserve and route it. */
export interface RequestFacts {
  /** the model the client named (before alias resolution and fallbacks) */
  model: string;
  /** fallback models named by the request itself (Chat's `models` extension), in order */
  fallbacks: readonly string[];
  stream: boolean;
  /**
   * The most output tokens the request may produce, reasoning/thinking budget included;
   * undefined when the request sets no cap (the configured default reservation applies).
   */
  maxOutputTokens: number | undefined;
  /** how many alternatives are generated (Chat `n`); 1 elsewhere */
  n: number;
  /** stream frames that carry only usage are relayed (Chat: only with `stream_options.include_usage`) */
  relayUsageFrames: boolean;
}

export interface ParsedRequest {
  /** the canonical request every translating adapter receives */
  canonical: ChatRequest;
  /**
   * The client's own body, for the native lane: sent to a provider that speaks this surface's
   * protocol with only `model` replaced. Undefined when this surface has no native lane.
   */
  native: Record<string, unknown> | undefined;
  /** inbound headers a native upstream must receive (e.g. anthropic-version, anthropic-beta) */
  forwardHeaders: Record<string, string>;
  facts: RequestFacts;
  /**
   * Set when only an upstream speaking this surface's protocol natively can serve the request
   * (a built-in tool, an id only such an upstream holds): routing then uses only channels with
   * a native lane for the surface, and a model without one is refused with `refusal`.
   */
  requiresNative?: { reason: string; refusal: GatewayError };
}

/** What an encoder knows about the answer it writes. */
export interface AnswerInfo {
  requestId: string;
  /** the public id of the model that serves (after any fallback) */
  model: string;
  /** unix seconds */
  created: number;
  /** true when the upstream speaks this surface's protocol and its frames/body are relayed as they are */
  native: boolean;
  /** what the surface's parse returned for this request */
  request: ParsedRequest;
}

/** A native non-stream answer: the body relayed to the client and the upstream's object parsed from it. */
export interface NativeBody {
  /** the upstream's body with the public model id */
  body: string;
  /** the parsed body, when the native protocol reads it (read-only) */
  object: Readonly<Record<string, unknown>> | undefined;
}

/** The final figures of an answer, given to the encoders that report them. */
export interface AnswerTotals {
  usage: TokenUsage;
  /** usage counted by Tollgate because the upstream reported none */
  estimated: boolean;
  costMicros: number;
}

export interface StreamEncoder {
  /** The frames for a batch of translated events ('' when nothing is to be written yet). */
  events(evs: readonly StreamEvent[]): string;
  /**
   * Closing frames after a normal end of the upstream stream. In the native lane the
   * upstream's own closing frames were already relayed; an encoder may still add its own
   * (Chat adds a usage chunk the upstream did not send, then `data: [DONE]`).
   */
  end(totals: AnswerTotals): string;
  /** One frame reporting an error after the stream started (the stream then closes). */
  error(err: GatewayError): string;
  /**
   * Native lane: what to write for a relayed upstream frame (absent: the frame as it is). Sees
   * every native piece in order, so it can also keep what the upstream's final frame carries.
   */
  relay?(piece: StreamPiece): string;
}

export interface Surface {
  readonly id: SurfaceId;
  /**
   * True when every answer must be the request's own (a fresh id, echoed fields, kept under
   * that id): the response cache then keeps the canonical completion, and a cache hit or a
   * request coalesced behind an identical one is encoded for itself with encodeResponse. A
   * native answer has no canonical completion: it is neither cached nor shared.
   * Absent: a hit is the first answer's serialized body as it was sent.
   */
  readonly encodesHits?: boolean;
  /**
   * Validates the body (400s with SPEC's codes, before any upstream call or charge) and
   * converts it. Runs after authentication; `caller` scopes anything the surface looks up
   * (e.g. a stored conversation of the same org).
   */
  parse(body: unknown, headers: InboundHeaders, caller: Caller): ParsedRequest | Promise<ParsedRequest>;
  /**
   * Checks the request against the model that will serve it (supported parameters, output
   * cap, context window) and returns the prompt-token estimate the reservation uses.
   */
  checkModel(req: ParsedRequest, model: ModelRuntime): number;
  /** The JSON answer for a canonical completion (translated lanes and cache hits). */
  encodeResponse(c: ChatCompletion, info: AnswerInfo, totals: AnswerTotals): unknown;
  /** Native lane, non-stream: the serialized answer to send (absent: the upstream's body as it is). */
  encodeNative?(answer: NativeBody, info: AnswerInfo, totals: AnswerTotals): string;
  streamEncoder(info: AnswerInfo, facts: RequestFacts): StreamEncoder;
  /** This surface's error body for any error on its routes (status comes from the error). */
  errorBody(err: GatewayError): unknown;
  /** The HTTP status for an error on this surface, when its protocol uses another than the error's own (Anthropic's 529). */
  errorStatus?(err: GatewayError): number;
}
