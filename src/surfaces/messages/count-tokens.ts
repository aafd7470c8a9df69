// Prompt token counts of a Messages body: the cheap estimate the reservation and context
// check use, and the exact count and answer of POST /v1/messages/count_tokens.
// Anthropic bills images by pixels and PDFs by page; without decoding them Tollgate uses a
// fixed figure per image and a size-based one per PDF, documented in docs/clients.
import { countTextTokens, estimateTextTokens, textTokenBound } from '../../core/tokens.js';
import { isObj, type Json } from './validate.js';

/** About what Anthropic charges for an image near its recommended size (1.15 megapixels). */
const IMAGE_TOKENS = 1600;
const PER_MESSAGE_OVERHEAD = 3;
/** Decoded PDF bytes per token: a text page of ~3 KB to ~100 KB counts ~1.5–3 k tokens. */
const PDF_BYTES_PER_TOKEN = 32;

type Counter = (text: string) => number;

function sourceTokens(source: unknown, count: Counter): number {
  if (!isObj(source)) return 0;
  if (source.type === 'base64' && typeof source.data === 'string') return Math.ceil((source.data.length * 0.75) / PDF_BYTES_PER_TOKEN);
  if (source.type === 'text' && typeof source.data === 'string') return count(source.data);
  if (source.type === 'content') return typeof source.content === 'string' ? count(source.content) : blocksTokens(source.content, count);
  return IMAGE_TOKENS;
}

function blockTokens(b: unknown, count: Counter): number {
  if (!isObj(b)) return 0;
  switch (b.type) {
    case 'text':
      return count(String(b.text));
    case 'image':
      return IMAGE_TOKENS;
    case 'document':
      return sourceTokens(b.source, count);
    case 'tool_use':
      return count(`${String(b.name)} ${JSON.stringify(b.input)}`);
    case 'tool_result':
      return typeof b.content === 'string' ? count(b.content) : blocksTokens(b.content, count);
    case 'thinking':
      return count(String(b.thinking));
    case 'redacted_thinking':
      return Math.ceil(String(b.data).length / 4);
    default:
      return count(JSON.stringify(b));
  }
}

function blocksTokens(blocks: unknown, count: Counter): number {
  if (!Array.isArray(blocks)) return 0;
  let n = 0;
  for (const b of blocks) n += blockTokens(b, count);
  return n;
}

function promptTokens(body: Json, count: Counter): number {
  let n = 3;
  if (typeof body.system === 'string') n += count(body.system);
  else n += blocksTokens(body.system, count);
  for (const m of body.messages as Json[]) {
    n += PER_MESSAGE_OVERHEAD;
    n += typeof m.content === 'string' ? count(m.content) : blocksTokens(m.content, count);
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) n += count(JSON.stringify(body.tools));
  return n;
}

/** Cheap estimate (no tokenizer) for the context check; never for money. */
export function estimateMessagesTokens(body: Json): number {
  return promptTokens(body, estimateTextTokens);
}

/** An upper bound of what any tokenizer counts for the prompt (UTF-8 bytes): what a reservation holds. */
export function boundMessagesTokens(body: Json): number {
  return promptTokens(body, textTokenBound);
}

/** Tollgate's own count (o200k encoding) for models whose provider offers no counting endpoint. */
export function countMessagesTokens(body: Json): number {
  return promptTokens(body, countTextTokens);
}

export function countTokensAnswer(inputTokens: number): { input_tokens: number } {
  return { input_tokens: inputTokens };
}
