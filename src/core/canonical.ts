// The protocol-neutral pieces every surface and every adapter share: typed stream events,
// token usage by price class, and the Tollgate-only extensions of the canonical request.
// The canonical request and completion themselves are the Chat Completions shapes in types.ts.
import type { FinishReason, Usage } from './types.js';

/**
 * Token counts of one answer by price class. `prompt` includes cache reads and writes;
 * `completion` includes reasoning. Every surface reports these; billing prices each class.
 */
export interface TokenUsage {
  prompt: number;
  completion: number;
  /** part of `prompt` read from the provider's prompt cache */
  cacheRead: number;
  /** part of `prompt` written to the provider's prompt cache */
  cacheWrite: number;
  /** part of `completion` spent on reasoning */
  reasoning: number;
}

/** No tokens of any kind. */
export const NO_TOKENS: TokenUsage = { prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 };

export const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({ prompt: 0, completion: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });

const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** Reads the canonical (OpenAI-shaped) usage object, including the cache-write count adapters add. */
export function tokenUsageOf(u: Usage | null | undefined): TokenUsage {
  if (!u) return { ...ZERO_USAGE };
  const details = u.prompt_tokens_details as { cached_tokens?: unknown; cache_write_tokens?: unknown } | undefined;
  const out = u.completion_tokens_details as { reasoning_tokens?: unknown } | undefined;
  return {
    prompt: n(u.prompt_tokens),
    completion: n(u.completion_tokens),
    cacheRead: n(details?.cached_tokens),
    cacheWrite: n(details?.cache_write_tokens),
    reasoning: n(out?.reasoning_tokens),
  };
}

/** The canonical usage object for TokenUsage (Chat Completions shape plus `cache_write_tokens`). */
export function usageObject(t: TokenUsage): Usage {
  const u: Usage = { prompt_tokens: t.prompt, completion_tokens: t.completion, total_tokens: t.prompt + t.completion };
  if (t.cacheRead > 0 || t.cacheWrite > 0) {
    u.prompt_tokens_details = { cached_tokens: t.cacheRead };
    if (t.cacheWrite > 0) u.prompt_tokens_details.cache_write_tokens = t.cacheWrite;
  }
  if (t.reasoning > 0) u.completion_tokens_details = { reasoning_tokens: t.reasoning };
  return u;
}

/**
 * What a translating adapter emits while reading an upstream stream, and what a surface's
 * stream encoder turns into its own frames. `choice` is the Chat Completions choice index
 * (0 unless `n` > 1). Tool calls are numbered per choice from 0 in the order they start.
 */
export type StreamEvent =
  /** The answer began; `id` is the upstream's message id when it has one. */
  | { type: 'start'; choice: number; id?: string }
  /** `logprobs` is the Chat Completions choice logprobs object for this text, when the provider gives it. */
  | { type: 'text'; choice: number; text: string; logprobs?: unknown }
  /** Reasoning ("thinking") text. */
  | { type: 'reasoning'; choice: number; text: string }
  /** The signature that closes a reasoning block (Anthropic), or an opaque encrypted reasoning item. */
  | { type: 'reasoning_signature'; choice: number; signature: string }
  /** Reasoning the provider returns only in encrypted form (Anthropic redacted_thinking). */
  | { type: 'reasoning_redacted'; choice: number; data: string }
  | { type: 'tool_start'; choice: number; index: number; id: string; name: string }
  | { type: 'tool_args'; choice: number; index: number; args: string }
  | { type: 'refusal'; choice: number; text: string }
  | { type: 'finish'; choice: number; reason: FinishReason }
  /** Usage so far (running totals; the last one wins). Adapters report usage on StreamPiece.usage; encoders may receive this from the engine. */
  | { type: 'usage'; usage: Usage };

/** How much a request asks the model to reason, in the canonical form each surface maps into. */
export interface ReasoningControl {
  /** OpenAI-style effort; set by Chat `reasoning_effort` and Responses `reasoning.effort`. */
  effort?: 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';
  /** Anthropic-style token budget; set by Messages `thinking.budget_tokens`. */
  budget_tokens?: number;
  /** Responses `reasoning.summary`. */
  summary?: 'auto' | 'concise' | 'detailed';
}

/**
 * Tollgate-only extensions a surface may set on the canonical request under the key
 * `tollgate`. Adapters read them; they never reach an upstream as they are.
 */
export interface CanonicalExtensions {
  reasoning?: ReasoningControl;
  /** Anthropic/Gemini top_k, for adapters that support it. */
  top_k?: number;
  /** The inbound surface's id ('chat', 'messages', 'responses', 'completions'). */
  surface?: string;
  /** Completions: the prompt as sent and the fields only a native /completions upstream honours (kept for the cache key). */
  completion?: unknown;
}
