// Token counts. The hot path only bounds (cheap, no tokenizer in memory): a prompt's bound is
// never below what any upstream will bill, so a reservation covers it. Exact counts with the
// o200k encoding are used where a number is billed or reported without an upstream count (a
// stream cut short, the mock model), and the tokenizer is loaded on first such use.
import { createRequire } from 'node:module';
import type { ChatMessage } from './types.js';

interface Encoder {
  encode(text: string): number[];
  decode(tokens: number[]): string;
}

interface Library {
  encode(text: string, options: { disallowedSpecial: Set<string> }): number[];
  decode(tokens: number[]): string;
}

// A read-only library handle, loaded lazily because its tables take ~70 MB.
let encoder: Encoder | undefined;

export function tokenizer(): Encoder {
  if (!encoder) {
    const lib = createRequire(import.meta.url)('gpt-tokenizer/cjs/encoding/o200k_base') as Library;
    // Text is text: a client's "<|endoftext|>" is counted as the characters it is, never refused.
    const plain = { disallowedSpecial: new Set<string>() };
    encoder = { encode: (text) => lib.encode(text, plain), decode: (tokens) => lib.decode(tokens) };
  }
  return encoder;
}

// The tokenizer's merge loop grows with the square of a pre-token's length, and a run without
// spaces (CJK, base64, one repeated character) is one pre-token: 16k CJK characters take 5 s
// whole but 0.3 s in slices. Cutting before a space keeps ordinary text's count exact.
const SLICE = 256;
const SLICE_SPACE_WINDOW = 32;

/** The o200k tokens of a text, encoded in slices of at most 256 characters (see above). */
export function encodeText(text: string): number[] {
  const enc = tokenizer();
  if (text.length <= SLICE) return text.length === 0 ? [] : enc.encode(text);
  const out: number[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + SLICE, text.length);
    if (end < text.length) {
      // The last space within the window only: a search without that bound (lastIndexOf) would
      // scan back to the start of a text without spaces on every slice, quadratic in its length.
      const floor = Math.max(start, end - SLICE_SPACE_WINDOW);
      let space = end;
      while (space > floor && text.charCodeAt(space) !== 32) space--;
      if (space > floor) end = space;
      // Never split a surrogate pair.
      else if (text.charCodeAt(end) >= 0xdc00 && text.charCodeAt(end) <= 0xdfff) end--;
    }
    for (const t of enc.encode(text.slice(start, end))) out.push(t);
    start = end;
  }
  return out;
}

/** The token count of a text under o200k (in slices, see encodeText). */
export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  return encodeText(text).length;
}

/**
 * A cheap approximation for the context-window check: about four ASCII characters per token
 * and one per other character. It may be above or below the real count; a request it lets
 * through that does not fit gets the upstream's context error. The only money it decides is
 * a stream's checkpoint, billed (marked estimated) only when the process died mid-stream.
 */
export function approximatePromptTokens(messages: readonly ChatMessage[], tools?: unknown): number {
  let total = 3;
  for (const m of messages) {
    total += PER_MESSAGE_OVERHEAD;
    const c = m.content;
    if (typeof c === 'string') total += approximateTextTokens(c);
    else if (Array.isArray(c)) {
      for (const part of c) {
        if (part.type === 'text' && typeof part.text === 'string') total += approximateTextTokens(part.text);
        else if (part.type === 'image_url') total += IMAGE_TOKENS;
        else total += approximateTextTokens(JSON.stringify(part));
      }
    }
    if (m.tool_calls) total += approximateTextTokens(JSON.stringify(m.tool_calls));
  }
  if (tools !== undefined) total += approximateTextTokens(JSON.stringify(tools));
  return total;
}

/** The approximation for one text (see approximatePromptTokens). */
export function approximateTextTokens(text: string): number {
  const bytes = utf8Bytes(text);
  if (bytes === text.length) return Math.ceil(bytes / 4);
  let ascii = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 128) ascii++;
  return Math.ceil(ascii / 4) + (text.length - ascii);
}

// Every tokenizer an upstream may use (byte-level BPE: OpenAI's o200k and cl100k, Llama 3,
// Qwen, Mistral's tekken; SentencePiece with byte fallback: Llama 2, Gemma) makes each token
// of a text from at least one of its UTF-8 bytes, so a text never has more tokens than bytes.
// On top of the content's bytes the bound adds more than OpenAI's framing (3 per message, 3 for
// the reply) and a tools preamble; other chat templates spend a few more tokens per message,
// which the bytes' slack over real counts (about 4 bytes per token in prose) absorbs.

/** Chat-template tokens around one message (OpenAI spends 3; Llama 3, Gemma, Qwen 4–6). */
const MESSAGE_OVERHEAD_BOUND = 5;
/** Per request: reply priming (OpenAI: 3) and a little room. */
const REQUEST_OVERHEAD_BOUND = 8;
/** Tool definitions as templates render them: a fixed instruction block, then each tool. */
const TOOLS_OVERHEAD_BOUND = 256;
const TOOL_OVERHEAD_BOUND = 16;
/**
 * One image, the largest any supported provider bills at its usual detail: OpenAI's tiled
 * high detail (up to 1,445 for gpt-4o), Anthropic (~1,600), Gemini (258 per tile).
 */
const IMAGE_TOKENS_BOUND = 2500;

const utf8Bytes = (text: string): number => (text.length === 0 ? 0 : Buffer.byteLength(text, 'utf8'));

/**
 * An upper bound of a text's tokens under any upstream tokenizer: its UTF-8 byte count.
 * Cheap (no tokenizer), and never below the real count, whatever the script, punctuation,
 * base64, emoji or runs of one character.
 */
export function textTokenBound(text: string): number {
  return utf8Bytes(text);
}

/**
 * Upper bound of a request's prompt tokens under any upstream tokenizer and chat template: what
 * reservations, rate limits and context checks start from. `responseFormat` (a JSON schema that
 * some providers bill as input) is counted when given.
 */
export function promptTokenBound(messages: readonly ChatMessage[], tools?: unknown, responseFormat?: unknown): number {
  let total = REQUEST_OVERHEAD_BOUND;
  for (const m of messages) {
    total += MESSAGE_OVERHEAD_BOUND;
    const c = m.content;
    if (typeof c === 'string') total += utf8Bytes(c);
    else if (Array.isArray(c)) {
      for (const part of c) {
        if (part.type === 'text' && typeof part.text === 'string') total += utf8Bytes(part.text);
        else if (part.type === 'image_url') total += IMAGE_TOKENS_BOUND;
        else total += utf8Bytes(JSON.stringify(part));
      }
    }
    if (typeof m.name === 'string') total += utf8Bytes(m.name) + 1;
    if (typeof m.tool_call_id === 'string') total += utf8Bytes(m.tool_call_id);
    if (m.tool_calls) total += utf8Bytes(JSON.stringify(m.tool_calls));
    if (m.function_call) total += utf8Bytes(JSON.stringify(m.function_call));
  }
  if (Array.isArray(tools) && tools.length > 0) total += TOOLS_OVERHEAD_BOUND + TOOL_OVERHEAD_BOUND * tools.length + utf8Bytes(JSON.stringify(tools));
  if (responseFormat !== undefined && responseFormat !== null) total += utf8Bytes(JSON.stringify(responseFormat));
  return total;
}

const PER_MESSAGE_OVERHEAD = 3;
const IMAGE_TOKENS = 765;

/** Exact prompt tokens of a message list under the o200k encoding, with OpenAI's message framing (the mock model's usage). */
export function countPromptTokens(messages: readonly ChatMessage[], extra?: unknown): number {
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

/**
 * The former names of the approximations. Surfaces that still reserve from these undercount
 * punctuation, base64 and CJK: reserve from promptTokenBound / textTokenBound instead.
 */
export const estimatePromptTokens = approximatePromptTokens;
export const estimateTextTokens = approximateTextTokens;
