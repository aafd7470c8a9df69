// Anthropic Messages response → OpenAI `chat.completion`, plus the stop-reason and usage
// tables the stream translator shares.
import type { ChatCompletion, FinishReason, ToolCall, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import type { AdapterContext } from '../types.js';
import { PROVIDER_NAME } from './errors.js';

export const FINISH_REASON: Readonly<Record<string, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  // A paused server-tool turn is a complete answer from the client's point of view.
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

export function toFinishReason(stopReason: unknown): FinishReason {
  return (typeof stopReason === 'string' ? FINISH_REASON[stopReason] : undefined) ?? 'stop';
}

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

/** Anthropic reports cached and cache-written input apart from input_tokens; OpenAI counts them all as prompt. */
export function toUsage(input: number, cacheRead: number, cacheCreation: number, output: number): Usage {
  const prompt = input + cacheRead + cacheCreation;
  return {
    prompt_tokens: prompt,
    completion_tokens: output,
    total_tokens: prompt + output,
    prompt_tokens_details: cacheCreation > 0 ? { cached_tokens: cacheRead, cache_write_tokens: cacheCreation } : { cached_tokens: cacheRead },
  };
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function usageFromAnthropic(u: AnthropicUsage): Usage {
  return toUsage(num(u.input_tokens), num(u.cache_read_input_tokens), num(u.cache_creation_input_tokens), num(u.output_tokens));
}

interface AnthropicMessageBody {
  id: string;
  type: 'message';
  content: Array<{ type: string; text?: unknown; id?: unknown; name?: unknown; input?: unknown; thinking?: unknown; signature?: unknown; data?: unknown }>;
  stop_reason: string | null;
  usage: AnthropicUsage;
}

function isMessageBody(v: unknown): v is AnthropicMessageBody {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return o.type === 'message' && typeof o.id === 'string' && Array.isArray(o.content) && o.usage !== null && typeof o.usage === 'object';
}

export function fromAnthropicResponse(body: string, ctx: AdapterContext): ChatCompletion {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformedUpstream(PROVIDER_NAME, 'the body is not JSON');
  }
  if (!isMessageBody(parsed)) throw malformedUpstream(PROVIDER_NAME, 'the body is not a Messages API message');

  let text: string | null = null;
  let reasoning: string | undefined;
  let signature: string | undefined;
  const redacted: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of parsed.content) {
    if (block === null || typeof block !== 'object') throw malformedUpstream(PROVIDER_NAME, 'a content block is not an object');
    if (block.type === 'text' && typeof block.text === 'string') text = text === null ? block.text : text + block.text;
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') throw malformedUpstream(PROVIDER_NAME, 'a tool_use block lacks id or name');
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    }
    else if (block.type === 'thinking' && typeof block.thinking === 'string') {
      reasoning = reasoning === undefined ? block.thinking : reasoning + block.thinking;
      if (typeof block.signature === 'string') signature = block.signature;
    } else if (block.type === 'redacted_thinking' && typeof block.data === 'string') redacted.push(block.data);
    // server-tool blocks have no canonical counterpart.
  }

  const message: ChatCompletion['choices'][number]['message'] = { role: 'assistant', content: text, refusal: null };
  // Reasoning goes where OpenAI-compatible servers put it; the signature stays canonical-only.
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  if (signature !== undefined) message.reasoning_signature = signature;
  if (redacted.length > 0) message.reasoning_redacted = redacted;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: `chatcmpl-${parsed.id}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: ctx.model.id,
    choices: [{ index: 0, message, finish_reason: toFinishReason(parsed.stop_reason), logprobs: null }],
    usage: usageFromAnthropic(parsed.usage),
  };
}
