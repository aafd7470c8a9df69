// OpenAI-compatible SSE → StreamPieces. For a Chat Completions client (native lane) chunks are
// forwarded as the upstream wrote them, the JSON parsed only to read usage, finish reasons and
// whether content arrived; for other surfaces they become typed events.
import type { StreamEvent } from '../../core/canonical.js';
import type { ChatChunk, FinishReason, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import { SseParser } from '../sse.js';
import type { AdapterContext, StreamPiece, StreamTranslator } from '../types.js';
import { errorFromOpenAIBody } from './errors.js';

// The common chunk, recognised without JSON.parse: one choice (index 0) whose delta carries
// only `content` (a string), perhaps `role: "assistant"` and null fields; the chunk's other
// fields scalars (no nested objects or arrays), `model` before `choices`, no `error` and no
// `usage` but null, in compact JSON as OpenAI, vLLM, Ollama and llama.cpp write it. A chunk
// the pattern matches is well-formed JSON (strings with valid escapes only, numbers in JSON's
// grammar), so malformed events still reach JSON.parse and are reported; finish reasons,
// usage, errors, tool calls, refusals and reasoning take the full parse. Alternatives exclude
// each other by their first character or key, so matching is linear in the event's length.
const STR = String.raw`"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"`;
const SCALAR = String.raw`(?:${STR}|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|null|true|false)`;
const MEMBER = `(?:"(?!(?:model|choices|error|usage)")[A-Za-z0-9_]+":${SCALAR}|"usage":null)`;
const DELTA_MEMBER = `(?:"role":"assistant"|"(?!(?:content|role)")[A-Za-z0-9_]+":null)`;
const CHOICE_MEMBER = `(?:"index":0|"(?!(?:delta|index)")[A-Za-z0-9_]+":null)`;
/** Everything before the content's value: within one stream it is the same chunk after chunk. */
const HEAD = String.raw`\{(?:${MEMBER},)*"model":(${STR}),(?:${MEMBER},)*"choices":\[\{(?:${CHOICE_MEMBER},)*"delta":\{(?:${DELTA_MEMBER},)*"content":`;
/** The content's value and everything after it. */
const TAIL = String.raw`(${STR})(?:,${DELTA_MEMBER})*\}(?:,${CHOICE_MEMBER})*\}\](?:,${MEMBER})*\}$`;
/** Groups: 1 the head, 2 the model's literal, 3 the content's literal. */
const COMMON_CHUNK = new RegExp(`^(${HEAD})${TAIL}`);
/** Matched from the end of a head already seen (sticky); group 1 the content's literal. */
const COMMON_TAIL = new RegExp(TAIL, 'y');
/** Longer events take the full parse (one token's chunk is a few hundred bytes). */
const COMMON_CHUNK_MAX = 4096;

/** The value of a JSON string literal known to be well-formed. */
function stringValue(literal: string): string {
  return literal.indexOf('\\') === -1 ? literal.slice(1, -1) : (JSON.parse(literal) as string);
}

/**
 * A copy of a substring that does not keep alive the string it was cut from: a long slice
 * references its parent, here a whole network read, and text is kept for the whole stream.
 */
function detached(s: string): string {
  return ` ${s}`.slice(1);
}

export function createOpenAIStreamTranslator(ctx: AdapterContext): StreamTranslator {
  const parser = new SseParser();
  const publicModel = ctx.model.id;
  const quotedPublic = JSON.stringify(publicModel);
  const native = ctx.native === true;
  let done = false;
  let started = false;
  let needleModel: unknown;
  let needle = '';
  // The head of the last common chunk (see HEAD) and, in the native lane, the same head with
  // the public model as `data: ` frame start. A chunk that starts with that head is matched
  // from there on only: head + a valid tail is a common chunk whole.
  let head = '';
  let frameHead = '';

  /** The piece of a common chunk (see COMMON_CHUNK), or undefined when the event needs the full parse. */
  function commonPiece(data: string): StreamPiece | undefined {
    if (data.length > COMMON_CHUNK_MAX || (!native && !started)) return undefined;
    let literal: string;
    // Compared as a slice: String.prototype.startsWith is several times slower here.
    if (head !== '' && data.length > head.length && data.slice(0, head.length) === head) {
      COMMON_TAIL.lastIndex = head.length;
      const m = COMMON_TAIL.exec(data);
      if (m === null) return undefined;
      literal = m[1];
    } else {
      const m = COMMON_CHUNK.exec(data);
      if (m === null) return undefined;
      literal = m[3];
      head = detached(m[1]);
      if (native) {
        // The needle cannot occur inside a string value (its quotes would be escaped there), and
        // no other member is named "model": its first occurrence is the field.
        const needle = `"model":${m[2]}`;
        const at = stringValue(m[2]) === publicModel ? -1 : head.indexOf(needle);
        frameHead = detached(at === -1 ? `data: ${head}` : `data: ${head.slice(0, at)}"model":${quotedPublic}${head.slice(at + needle.length)}`);
      }
    }
    const text = literal.length === 2 ? '' : detached(stringValue(literal));
    const piece: StreamPiece = {};
    if (native) piece.frame = `${frameHead}${data.slice(head.length)}\n\n`;
    else piece.events = text.length > 0 ? [{ type: 'text', choice: 0, text, logprobs: undefined }] : [];
    if (text.length > 0) {
      piece.text = text;
      piece.content = true;
    }
    return piece;
  }

  function translate(data: string): StreamPiece | undefined {
    if (data === '[DONE]') {
      done = true;
      return { done: true };
    }
    const common = commonPiece(data);
    if (common !== undefined) return common;
    let chunk: ChatChunk & { error?: unknown };
    try {
      chunk = JSON.parse(data);
    } catch {
      return { error: malformedUpstream(ctx.provider.id, 'a stream event is not JSON') };
    }
    if (typeof chunk !== 'object' || chunk === null) return { error: malformedUpstream(ctx.provider.id, 'a stream event is not an object') };
    if (chunk.error !== undefined) return { error: errorFromOpenAIBody(500, chunk, {}, ctx.provider.id) };
    const choices = chunk.choices;
    if (!Array.isArray(choices)) return { error: malformedUpstream(ctx.provider.id, 'a stream chunk has no "choices"') };
    const piece: StreamPiece = {};
    let events: StreamEvent[] | undefined;
    if (native) {
      let json = data;
      if (chunk.model !== publicModel) {
        // Rename by text when the upstream wrote the field plainly; re-serialise only as a fallback.
        // The upstream names one model throughout: its needle is built once.
        if (chunk.model !== needleModel) {
          needleModel = chunk.model;
          needle = `"model":${JSON.stringify(chunk.model)}`;
        }
        const at = data.indexOf(needle);
        json = at !== -1 ? `${data.slice(0, at)}"model":${quotedPublic}${data.slice(at + needle.length)}` : JSON.stringify({ ...chunk, model: publicModel });
      }
      piece.frame = `data: ${json}\n\n`;
    } else {
      events = [];
      piece.events = events;
      if (!started) {
        started = true;
        events.push({ type: 'start', choice: 0, id: typeof chunk.id === 'string' ? chunk.id : undefined });
      }
    }
    const usage = chunk.usage as Usage | null | undefined;
    if (usage && typeof usage.prompt_tokens === 'number') {
      piece.usage = usage;
      if (choices.length === 0) piece.usageOnly = true;
    }
    let text: string | undefined;
    let finish: FinishReason | undefined;
    for (let i = 0; i < choices.length; i++) {
      const c = choices[i];
      if (typeof c !== 'object' || c === null) return { error: malformedUpstream(ctx.provider.id, 'a stream chunk has a choice that is not an object') };
      const d = c.delta;
      const ci = typeof c.index === 'number' ? c.index : i;
      if (d) {
        const reasoning = (d as { reasoning_content?: unknown; reasoning?: unknown }).reasoning_content ?? (d as { reasoning?: unknown }).reasoning;
        if (typeof reasoning === 'string' && reasoning.length > 0) {
          piece.content = true;
          text = text === undefined ? reasoning : text + reasoning;
          events?.push({ type: 'reasoning', choice: ci, text: reasoning });
        }
        if (typeof d.content === 'string' && d.content.length > 0) {
          text = text === undefined ? d.content : text + d.content;
          events?.push({ type: 'text', choice: ci, text: d.content, logprobs: c.logprobs ?? undefined });
        }
        if (d.tool_calls) {
          for (const tc of d.tool_calls) {
            piece.content = true;
            const args = tc.function?.arguments ?? '';
            text = text === undefined ? args : text + args;
            if (events) {
              const ti = typeof tc.index === 'number' ? tc.index : 0;
              if (tc.id !== undefined || tc.function?.name !== undefined) events.push({ type: 'tool_start', choice: ci, index: ti, id: tc.id ?? `call_${ti}`, name: tc.function?.name ?? '' });
              if (args.length > 0) events.push({ type: 'tool_args', choice: ci, index: ti, args });
            }
          }
        }
        if (typeof d.refusal === 'string' && d.refusal.length > 0) {
          piece.content = true;
          events?.push({ type: 'refusal', choice: ci, text: d.refusal });
        }
        if (d.function_call) {
          piece.content = true;
          const fc = d.function_call as { name?: unknown; arguments?: unknown };
          if (events) {
            if (typeof fc.name === 'string') events.push({ type: 'tool_start', choice: ci, index: 0, id: 'call_0', name: fc.name });
            if (typeof fc.arguments === 'string' && fc.arguments !== '') events.push({ type: 'tool_args', choice: ci, index: 0, args: fc.arguments });
          }
        }
      }
      if (c.finish_reason) {
        finish = c.finish_reason;
        events?.push({ type: 'finish', choice: ci, reason: c.finish_reason });
      }
    }
    if (text !== undefined) {
      piece.text = text;
      if (text.length > 0) piece.content = true;
    }
    if (finish) piece.finishReason = finish;
    return piece;
  }

  return {
    push(data: Uint8Array): StreamPiece[] {
      const events = parser.push(data);
      const out: StreamPiece[] = [];
      for (const ev of events) {
        const p = translate(ev.data);
        if (p) out.push(p);
      }
      return out;
    },
    end(): StreamPiece[] {
      const { events, truncated } = parser.end();
      const out: StreamPiece[] = [];
      for (const ev of events) {
        const p = translate(ev.data);
        if (p) out.push(p);
      }
      if (!done) out.push({ error: malformedUpstream(ctx.provider.id, truncated ? 'the stream was cut mid-event' : 'the stream ended before [DONE]') });
      return out;
    },
  };
}
