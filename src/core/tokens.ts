// Token estimates for reservations, context checks and streams whose upstream sent no usage.
// Uses the o200k encoding as a neutral estimate for every provider.
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import type { ChatMessage } from './types.js';

export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  return encode(text).length;
}

const PER_MESSAGE_OVERHEAD = 3;
const IMAGE_TOKENS = 765;

/** Estimate of the prompt tokens of a message list (content, names, tool calls, images). */
export function estimatePromptTokens(messages: readonly ChatMessage[], extra?: unknown): number {
  let total = 3;
  for (const m of messages) {
    total += PER_MESSAGE_OVERHEAD;
    const c = m.content;
    if (typeof c === 'string') total += countTextTokens(c);
    else if (Array.isArray(c)) {
      for (const part of c) {
        if (part.type === 'text' && typeof part.text === 'string') total += countTextTokens(part.text);
        else if (part.type === 'image_url') total += IMAGE_TOKENS;
        else total += countTextTokens(JSON.stringify(part));
      }
    }
    if (m.name) total += 1;
    if (m.tool_calls) total += countTextTokens(JSON.stringify(m.tool_calls));
  }
  if (extra !== undefined) total += countTextTokens(JSON.stringify(extra));
  return total;
}
