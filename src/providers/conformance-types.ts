// Fixture shape every adapter ships under providers/<name>/fixtures/ so that one shared
// conformance suite (test/conformance) can run over all of them.
import type { ChatRequest, FinishReason } from '../core/types.js';

/** A recorded upstream answer in the provider's documented wire format. */
export interface RecordedResponse {
  status: number;
  headers?: Record<string, string>;
  /** whole body for a non-stream answer */
  body?: string;
  /** for a stream: the raw byte pieces in the order the upstream sends them (SSE text) */
  chunks?: string[];
}

export interface ExpectedOutput {
  content?: string;
  tool_calls?: Array<{ name: string; arguments: unknown }>;
  finish_reason: FinishReason;
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
}

export interface ConformanceCase {
  request: ChatRequest;
  upstream: RecordedResponse;
  expected: ExpectedOutput;
  /** checks on the translated upstream request body (parsed JSON); return a message on failure */
  checkRequest?: (upstreamBody: Record<string, unknown>, url: string, headers: Record<string, string>) => string | undefined;
}

export interface ErrorCase {
  upstream: RecordedResponse;
  /** expected client-facing status and SPEC code */
  status: number;
  code: string;
  retryable: boolean;
}

export interface ConformanceFixtures {
  /** provider type, e.g. "anthropic" */
  type: string;
  text: ConformanceCase;
  streamText: ConformanceCase;
  toolCall: ConformanceCase;
  streamToolCall: ConformanceCase;
  /** a follow-up turn carrying the assistant tool call and the tool result */
  toolResult: ConformanceCase;
  imageInput: ConformanceCase;
  stopSequence: ConformanceCase;
  maxTokens: ConformanceCase;
  /** the same output as `text`, streamed: usage must equal text's */
  streamSameAsText: ConformanceCase;
  errors: { badRequest: ErrorCase; unauthorized: ErrorCase; rateLimited: ErrorCase; serverError: ErrorCase; overloaded: ErrorCase };
  /** a 200 with a body that is not the provider's format: must become 502 provider_error */
  malformed: RecordedResponse;
  /** a stream whose bytes are broken mid-way */
  malformedStream: RecordedResponse;
}
