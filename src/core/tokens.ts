// Token counts. The hot path only estimates (cheap, no tokenizer in memory); exact counts
// with the o200k encoding are used where a number is billed or reported without an upstream
// count (a stream cut short, the mock model), and the tokenizer is loaded on first such use.
import { createRequire } from 'node:module';
import type { ChatMessage } from './types.js';

interface Encoder {
  encode(text: string): number[];
  decode(tokens: number[]): string;
}

// A read-only library handle, loaded lazily because its tables take ~70 MB.
let encoder: Encoder | undefined;

export function tokenizer(): Encoder {
  encoder ??= createRequire(import.meta.url)('gpt-tokenizer/cjs/encoding/o200k_base') as Encoder;
  return encoder;
}

/** Exact token count of a text. */
export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  return tokenizer().encode(text).length;
}

/**
 * Estimate for reservations, limits and context checks: about four ASCII characters per
 * token, one token per other character (CJK and most symbols encode to one or more).
 */
export function estimateTextTokens(text: string): number {
  if (text.length === 0) return 0;
  const bytes = Buffer.byteLength(text);
  if (bytes === text.length) return Math.ceil(bytes / 4);
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) < 128) ascii++;
    else other++;
  }
  return Math.ceil(ascii / 4) + other;
}

const PER_MESSAGE_OVERHEAD = 3;
const IMAGE_TOKENS = 765;

function promptTokens(messages: readonly ChatMessage[], extra: unknown, count: (text: string) => number): number {
  let total = 3;
  for (const m of messages) {
    total += PER_MESSAGE_OVERHEAD;
    const c = m.content;
    if (typeof c === 'string') total += count(c);
    else if (Array.isArray(c)) {
      for (const part of c) {
        if (part.type === 'text' && typeof part.text === 'string') total += count(part.text);
        else if (part.type === 'image_url') total += IMAGE_TOKENS;
        else total += count(JSON.stringify(part));
      }
    }
    if (m.name) total += 1;
    if (m.tool_calls) total += count(JSON.stringify(m.tool_calls));
  }
  if (extra !== undefined) total += count(JSON.stringify(extra));
  return total;
}

/** Cheap estimate of a message list's prompt tokens (hot path). */
export function estimatePromptTokens(messages: readonly ChatMessage[], extra?: unknown): number {
  return promptTokens(messages, extra, estimateTextTokens);
}

/** Exact prompt tokens of a message list under the o200k encoding (the mock model's usage). */
export function countPromptTokens(messages: readonly ChatMessage[], extra?: unknown): number {
  return promptTokens(messages, extra, countTextTokens);
}
