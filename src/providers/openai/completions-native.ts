// The legacy Completions API spoken natively (OpenAI, vLLM, Ollama and other OpenAI-compatible
// servers): the client's body goes to {base}/completions with only `model` replaced (and usage
// asked for on streams, for billing); the answer and its frames come back as they were, with
// the public model id put in by text. Only usage, text, finish reasons and errors are read.
import type { FinishReason, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import { SseParser } from '../sse.js';
import type { AdapterContext, NativeAnswer, NativeProtocol, StreamPiece, StreamTranslator, UpstreamRequest } from '../types.js';
import { errorFromOpenAIBody } from './errors.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function withPublicModel(text: string, parsed: Json, publicModel: string): string {
  const theirs = parsed.model;
  if (theirs === publicModel) return text;
  if (typeof theirs === 'string') {
    const needle = `"model":${JSON.stringify(theirs)}`;
    const at = text.indexOf(needle);
    if (at !== -1) return `${text.slice(0, at)}"model":${JSON.stringify(publicModel)}${text.slice(at + needle.length)}`;
  }
  return JSON.stringify({ ...parsed, model: publicModel });
}

function usageOf(u: unknown): Usage | undefined {
  if (!isObj(u) || typeof u.prompt_tokens !== 'number' || typeof u.completion_tokens !== 'number') return undefined;
  return u as unknown as Usage;
}

function finishOf(v: unknown): FinishReason | undefined {
  return typeof v === 'string' && v !== '' ? (v as FinishReason) : undefined;
}

export function createCompletionsNative(url: (ctx: AdapterContext) => string, headers: Record<string, string>): NativeProtocol {
  return {
    request(body: Json, ctx: AdapterContext): UpstreamRequest {
      const out: Json = { ...body, model: ctx.upstreamModel };
      // Usage is always needed for billing, whether or not the client asked for it.
      if (body.stream === true) out.stream_options = { ...(isObj(body.stream_options) ? body.stream_options : {}), include_usage: true };
      return { method: 'POST', url: url(ctx), headers, body: JSON.stringify(out) };
    },
    response(text: string, ctx: AdapterContext): NativeAnswer {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw malformedUpstream(ctx.provider.id, 'the body is not JSON');
      }
      if (!isObj(parsed) || !Array.isArray(parsed.choices)) throw malformedUpstream(ctx.provider.id, 'a completion without "choices"');
      let out = '';
      let finishReason: FinishReason | undefined;
      for (const c of parsed.choices) {
        if (!isObj(c)) continue;
        if (typeof c.text === 'string') out += c.text;
        finishReason ??= finishOf(c.finish_reason);
      }
      return { body: withPublicModel(text, parsed, ctx.model.id), usage: usageOf(parsed.usage), finishReason, text: out };
    },
    streamTranslator: createCompletionsStreamTranslator,
  };
}

export function createCompletionsStreamTranslator(ctx: AdapterContext): StreamTranslator {
  const parser = new SseParser();
  let done = false;

  function translate(data: string): StreamPiece {
    if (data === '[DONE]') {
      done = true;
      return { done: true };
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return { error: malformedUpstream(ctx.provider.id, 'a stream event is not JSON') };
    }
    if (!isObj(chunk)) return { error: malformedUpstream(ctx.provider.id, 'a stream event is not an object') };
    if (chunk.error !== undefined) return { error: errorFromOpenAIBody(500, chunk, {}, ctx.provider.id) };
    if (!Array.isArray(chunk.choices)) return { error: malformedUpstream(ctx.provider.id, 'a stream chunk has no "choices"') };
    const piece: StreamPiece = { frame: `data: ${withPublicModel(data, chunk, ctx.model.id)}\n\n` };
    const usage = usageOf(chunk.usage);
    if (usage) {
      piece.usage = usage;
      if (chunk.choices.length === 0) piece.usageOnly = true;
    }
    let text = '';
    for (const c of chunk.choices) {
      if (!isObj(c)) continue;
      if (typeof c.text === 'string') text += c.text;
      const f = finishOf(c.finish_reason);
      if (f) piece.finishReason = f;
    }
    if (text.length > 0) {
      piece.text = text;
      piece.content = true;
    }
    return piece;
  }

  const run = (events: Array<{ data: string }>): StreamPiece[] => events.map((ev) => translate(ev.data));
  return {
    push: (data) => run(parser.push(data)),
    end() {
      const { events, truncated } = parser.end();
      const out = run(events);
      if (!done) out.push({ error: malformedUpstream(ctx.provider.id, truncated ? 'the stream was cut mid-event' : 'the stream ended before [DONE]') });
      return out;
    },
  };
}
