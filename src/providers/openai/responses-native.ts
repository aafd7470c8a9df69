// The Responses API spoken natively (OpenAI, and OpenAI-compatible servers configured with
// `responses: true`): the client's body goes upstream with only `model` replaced, and the answer
// and its stream come back as they were, with the model id replaced by text. Only usage, status
// and errors are read.
import { GatewayError } from '../../core/errors.js';
import type { FinishReason, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import { SseParser } from '../sse.js';
import type { AdapterContext, ForwardHeaders, NativeAnswer, NativeProtocol, StreamPiece, StreamTranslator, UpstreamRequest } from '../types.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** Responses usage → the canonical (Chat-shaped) usage billing reads. */
export function usageFromResponses(u: unknown): Usage | undefined {
  if (!isObj(u) || typeof u.input_tokens !== 'number') return undefined;
  const prompt = num(u.input_tokens);
  const completion = num(u.output_tokens);
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  const cached = num((u.input_tokens_details as Json | undefined)?.cached_tokens);
  const reasoning = num((u.output_tokens_details as Json | undefined)?.reasoning_tokens);
  if (cached > 0) usage.prompt_tokens_details = { cached_tokens: cached };
  if (reasoning > 0) usage.completion_tokens_details = { reasoning_tokens: reasoning };
  return usage;
}

/** The finish state of a Responses object, in canonical terms. */
export function finishOf(r: Json): FinishReason {
  const reason = (r.incomplete_details as Json | null | undefined)?.reason;
  if (r.status === 'incomplete') return reason === 'content_filter' ? 'content_filter' : 'length';
  const output = Array.isArray(r.output) ? r.output : [];
  return output.some((o) => isObj(o) && (o.type === 'function_call' || o.type === 'custom_tool_call')) ? 'tool_calls' : 'stop';
}

function answerText(r: Json): string {
  let s = '';
  for (const item of Array.isArray(r.output) ? r.output : []) {
    if (!isObj(item)) continue;
    if (typeof item.arguments === 'string') s += item.arguments;
    if (typeof item.input === 'string') s += item.input;
    if (!Array.isArray(item.content)) continue;
    for (const part of item.content) if (isObj(part) && typeof part.text === 'string') s += part.text;
  }
  return s;
}

/**
 * Puts the public model id where the upstream wrote its own, by text so the rest of the bytes
 * stay as they came; re-serialises only when the upstream's spelling is not the compact one.
 */
function renameModel(text: string, holder: Json, owner: Json, publicModel: string): string {
  const theirs = holder.model;
  if (typeof theirs !== 'string' || theirs === publicModel) return text;
  const needle = `"model":${JSON.stringify(theirs)}`;
  const at = text.indexOf(needle);
  if (at !== -1) return `${text.slice(0, at)}"model":${JSON.stringify(publicModel)}${text.slice(at + needle.length)}`;
  holder.model = publicModel;
  return JSON.stringify(owner);
}

function errorMessage(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  if (typeof v.message === 'string') return v.message;
  return isObj(v.error) && typeof v.error.message === 'string' ? v.error.message : undefined;
}

const CONTENT_DELTAS = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.reasoning_summary_text.delta',
  'response.reasoning_text.delta',
]);

export function createResponsesStreamTranslator(ctx: AdapterContext): StreamTranslator {
  const parser = new SseParser();
  const publicModel = ctx.model.id;
  let done = false;

  function translate(event: string | undefined, data: string): StreamPiece | undefined {
    if (data === '[DONE]') return undefined;
    let ev: unknown;
    try {
      ev = JSON.parse(data);
    } catch {
      return { error: malformedUpstream(ctx.provider.id, 'a stream event is not JSON') };
    }
    if (!isObj(ev) || typeof ev.type !== 'string') return { error: malformedUpstream(ctx.provider.id, 'a stream event has no "type"') };
    const type = ev.type;
    if (type === 'error' || type === 'response.failed') {
      const message = errorMessage(type === 'error' ? ev : (ev.response as Json | undefined)?.error) ?? 'the response failed';
      return { error: new GatewayError('provider_error', `The provider (${ctx.provider.id}) reported an error mid-stream: ${message}`, { retryable: true }) };
    }
    const carriesResponse = isObj(ev.response);
    const json = carriesResponse ? renameModel(data, ev.response as Json, ev, publicModel) : data;
    const piece: StreamPiece = { frame: `${event !== undefined ? `event: ${event}\n` : ''}data: ${json}\n\n` };
    if (carriesResponse) piece.nativeEvent = ev;
    if (CONTENT_DELTAS.has(type)) {
      piece.content = true;
      if (typeof ev.delta === 'string' && !type.startsWith('response.reasoning')) piece.text = ev.delta;
    } else if (type === 'response.output_item.added') {
      piece.content = true;
    } else if (type === 'response.completed' || type === 'response.incomplete') {
      const r = isObj(ev.response) ? ev.response : {};
      const usage = usageFromResponses(r.usage);
      if (usage) piece.usage = usage;
      piece.finishReason = finishOf(r);
      piece.done = true;
      done = true;
    }
    return piece;
  }

  const run = (events: ReadonlyArray<{ event: string | undefined; data: string }>, out: StreamPiece[]) => {
    for (const e of events) {
      const p = translate(e.event, e.data);
      if (p) out.push(p);
    }
  };

  return {
    push(data: Uint8Array): StreamPiece[] {
      const out: StreamPiece[] = [];
      run(parser.push(data), out);
      return out;
    },
    end(): StreamPiece[] {
      const { events, truncated } = parser.end();
      const out: StreamPiece[] = [];
      run(events, out);
      if (!done) out.push({ error: malformedUpstream(ctx.provider.id, truncated ? 'the stream was cut mid-event' : 'the stream ended before response.completed') });
      return out;
    },
  };
}

export function createResponsesNative(url: string, headers: Readonly<Record<string, string>>): NativeProtocol {
  return {
    request(body: Record<string, unknown>, ctx: AdapterContext, fwd: ForwardHeaders): UpstreamRequest {
      return { method: 'POST', url, headers: { ...headers, ...fwd }, body: JSON.stringify({ ...body, model: ctx.upstreamModel }) };
    },
    response(body: string, ctx: AdapterContext): NativeAnswer {
      let r: unknown;
      try {
        r = JSON.parse(body);
      } catch {
        throw malformedUpstream(ctx.provider.id, 'the response body is not JSON');
      }
      if (!isObj(r) || r.object !== 'response') throw malformedUpstream(ctx.provider.id, 'the body is not a Responses "response" object');
      return { body: renameModel(body, r, r, ctx.model.id), usage: usageFromResponses(r.usage), finishReason: finishOf(r), text: answerText(r), object: r };
    },
    streamTranslator: createResponsesStreamTranslator,
  };
}
