// A canonical completion (translated lane, cache hit) → an Anthropic `message` object, and
// the stop-reason and usage tables the stream encoder shares.
import type { TokenUsage } from '../../core/canonical.js';
import type { ChatCompletion, FinishReason } from '../../core/types.js';
import type { AnswerInfo, AnswerTotals } from '../types.js';

/** Canonical finish reasons in Anthropic's words (the reverse of the Anthropic adapter's table). */
export const STOP_REASON: Readonly<Record<FinishReason, string>> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

export function stopReasonOf(reason: FinishReason | null | undefined): string {
  return (reason ? STOP_REASON[reason] : undefined) ?? 'end_turn';
}

export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Tollgate's charge for the request, in USD */
  cost?: number;
}

/** Anthropic counts cache reads and writes apart from input_tokens; the canonical prompt count includes them. */
export function messagesUsage(u: TokenUsage, costMicros?: number): MessagesUsage {
  const out: MessagesUsage = {
    input_tokens: Math.max(0, u.prompt - u.cacheRead - u.cacheWrite),
    output_tokens: u.completion,
    cache_creation_input_tokens: u.cacheWrite,
    cache_read_input_tokens: u.cacheRead,
  };
  if (costMicros !== undefined) out.cost = costMicros / 1e6;
  return out;
}

export function messageId(info: AnswerInfo): string {
  return `msg_${info.requestId}`;
}

type Block = Record<string, unknown>;

function toolInput(args: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(args === '' ? '{}' : args);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // A model that wrote broken JSON: the client still gets the call, with the text kept where it can be seen.
  }
  return { _raw_arguments: args };
}

export function encodeMessagesResponse(c: ChatCompletion, info: AnswerInfo, totals: AnswerTotals): Record<string, unknown> {
  const choice = c.choices[0];
  const msg = choice?.message;
  const content: Block[] = [];
  if (msg) {
    if (typeof msg.reasoning_content === 'string' && msg.reasoning_content !== '') {
      content.push({ type: 'thinking', thinking: msg.reasoning_content, signature: msg.reasoning_signature ?? '' });
    }
    for (const data of msg.reasoning_redacted ?? []) content.push({ type: 'redacted_thinking', data });
    let text = typeof msg.content === 'string' ? msg.content : '';
    if (Array.isArray(msg.content)) for (const p of msg.content) if (p.type === 'text' && typeof p.text === 'string') text += p.text;
    if (typeof msg.refusal === 'string' && msg.refusal !== '') text += msg.refusal;
    if (text !== '') content.push({ type: 'text', text });
    for (const call of msg.tool_calls ?? []) content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call.function.arguments) });
  }
  return {
    id: messageId(info),
    type: 'message',
    role: 'assistant',
    model: info.model,
    content,
    stop_reason: stopReasonOf(choice?.finish_reason),
    stop_sequence: null,
    usage: messagesUsage(totals.usage, totals.costMicros),
  };
}
