// OpenAI-compatible SSE → StreamPieces. For a Chat Completions client (native lane) chunks are
// forwarded as the upstream wrote them, the JSON parsed only to read usage, finish reasons and
// whether content arrived; for other surfaces they become typed events.
import type { StreamEvent } from '../../core/canonical.js';
import type { ChatChunk, FinishReason, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import { SseParser } from '../sse.js';
import type { AdapterContext, StreamPiece, StreamTranslator } from '../types.js';
import { errorFromOpenAIBody } from './errors.js';

export function createOpenAIStreamTranslator(ctx: AdapterContext): StreamTranslator {
  const parser = new SseParser();
  const publicModel = ctx.model.id;
  const quotedPublic = JSON.stringify(publicModel);
  const native = ctx.native === true;
  let done = false;
  let started = false;
  let needleModel: unknown;
  let needle = '';

  function translate(data: string): StreamPiece | undefined {
    if (data === '[DONE]') {
      done = true;
      return { done: true };
    }
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
