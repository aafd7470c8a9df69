// Drives one adapter over recorded fixtures without a socket: builds its config, translates
// requests, feeds recorded bodies and streams, and reads the OpenAI-shaped result back.
import { type ModelConfig, modelSchema, type ProviderConfig, providerSchema } from '../../src/config/schema.js';
import type { ChatChunk, ChatCompletion } from '../../src/core/types.js';
import type { ConformanceCase, ConformanceFixtures } from '../../src/providers/conformance-types.js';
import { createAdapter } from '../../src/providers/registry.js';
import type { AdapterContext, ProviderAdapter, StreamPiece } from '../../src/providers/types.js';
import { type ChatPiece, withChatJson } from '../helpers/chat-pieces.js';

export interface Subject {
  fixtures: ConformanceFixtures;
  provider: ProviderConfig;
  model: ModelConfig;
  upstreamModel: string;
  adapter: ProviderAdapter;
  ctx(stream: boolean): AdapterContext;
}

export function subject(fixtures: ConformanceFixtures, provider: Record<string, unknown>, upstreamModel: string): Subject {
  const p = providerSchema.parse(provider);
  const model = modelSchema.parse({
    id: fixtures.text.request.model,
    context_window: 200000,
    max_output_tokens: 64000,
    pricing: { input_per_mtok: 1, output_per_mtok: 2 },
    channels: [{ provider: p.id, upstream_model: upstreamModel }],
  });
  return {
    fixtures,
    provider: p,
    model,
    upstreamModel,
    adapter: createAdapter(p),
    ctx: (stream) => ({ provider: p, model, upstreamModel, stream, requestId: 'req_conformance_1' }),
  };
}

export interface TranslatedRequest {
  body: Record<string, unknown>;
  url: string;
  headers: Record<string, string>;
}

export function translate(s: Subject, c: ConformanceCase): TranslatedRequest {
  const up = s.adapter.chatRequest(c.request, s.ctx(c.request.stream === true));
  return { body: JSON.parse(up.body ?? '{}') as Record<string, unknown>, url: up.url, headers: up.headers };
}

export interface Output {
  content: string;
  toolCalls: Array<{ name: string; arguments: unknown }>;
  toolCallIds: string[];
  finish: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number } | undefined;
}

type UsageLike = { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } | null | undefined;

function usageOf(u: UsageLike): Output['usage'] {
  if (!u) return undefined;
  const out: NonNullable<Output['usage']> = { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (cached !== undefined) out.cached_tokens = cached;
  return out;
}

export function runText(s: Subject, body: string): { completion: ChatCompletion; out: Output } {
  const completion = s.adapter.chatResponse(body, s.ctx(false));
  const choice = completion.choices[0];
  const m = choice.message;
  const calls = m.tool_calls ?? [];
  return {
    completion,
    out: {
      content: typeof m.content === 'string' ? m.content : '',
      toolCalls: calls.map((t) => ({ name: t.function.name, arguments: JSON.parse(t.function.arguments) as unknown })),
      toolCallIds: calls.map((t) => t.id),
      finish: choice.finish_reason,
      usage: usageOf(completion.usage),
    },
  };
}

const enc = new TextEncoder();

/** Feeds `chunks` as bytes, one push each, then end(); returns every piece and, per push, what it returned. */
export function feed(s: Subject, chunks: readonly (string | Uint8Array)[]): { pieces: ChatPiece[]; perPush: StreamPiece[][]; fromEnd: StreamPiece[] } {
  const t = s.adapter.streamTranslator(s.ctx(true));
  const perPush: StreamPiece[][] = [];
  for (const c of chunks) perPush.push(t.push(typeof c === 'string' ? enc.encode(c) : c));
  const fromEnd = t.end();
  return { pieces: withChatJson([...perPush.flat(), ...fromEnd], s.model.id), perPush, fromEnd };
}

/** What the client would assemble from the chunks of a stream (as the OpenAI SDK does). */
export function assemble(pieces: readonly ChatPiece[]): Output {
  let content = '';
  const calls: Array<{ id: string; name: string; args: string }> = [];
  let finish: string | null = null;
  let usage: Output['usage'];
  for (const p of pieces) {
    if (p.usage) usage = usageOf(p.usage);
    if (!p.json) continue;
    const chunk = JSON.parse(p.json) as ChatChunk;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      if (typeof choice.delta.content === 'string') content += choice.delta.content;
      for (const tc of choice.delta.tool_calls ?? []) {
        calls[tc.index] ??= { id: '', name: '', args: '' };
        if (tc.id) calls[tc.index].id = tc.id;
        if (tc.function?.name) calls[tc.index].name += tc.function.name;
        calls[tc.index].args += tc.function?.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return {
    content,
    toolCalls: calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.args) as unknown })),
    toolCallIds: calls.map((c) => c.id),
    finish,
    usage,
  };
}

/** Text and tool-call argument text carried by the chunks of these pieces. */
export function emitted(raw: readonly StreamPiece[]): { text: string; args: string; finish: boolean } {
  const pieces = withChatJson(raw, 'any');
  let text = '';
  let args = '';
  let finish = false;
  for (const p of pieces) {
    if (p.finishReason) finish = true;
    if (!p.json) continue;
    const chunk = JSON.parse(p.json) as ChatChunk;
    for (const choice of chunk.choices) {
      if (typeof choice.delta?.content === 'string') text += choice.delta.content;
      for (const tc of choice.delta?.tool_calls ?? []) args += tc.function?.arguments ?? '';
      if (choice.finish_reason) finish = true;
    }
  }
  return { text, args, finish };
}

/** The raw SSE text cut back into whole events (each with its blank-line separator). */
export function sseEventsOf(chunks: readonly string[]): string[] {
  const text = chunks.join('');
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    const lf = text.indexOf('\n\n', at);
    const crlf = text.indexOf('\r\n\r\n', at);
    let end: number;
    if (crlf !== -1 && (lf === -1 || crlf < lf)) end = crlf + 4;
    else if (lf !== -1) end = lf + 2;
    else end = text.length;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

function dataOf(event: string): string {
  return event
    .split(/\r?\n/)
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).replace(/^ /, ''))
    .join('\n');
}

type Json = Record<string, unknown>;

/**
 * What one raw upstream event carries for the client, read straight from the provider's wire
 * format (independently of the adapter): output text, tool-call argument text, a finish.
 */
export function eventCarries(type: string, event: string): { text: string; args: string; finish: boolean } {
  const data = dataOf(event);
  const none = { text: '', args: '', finish: false };
  if (data === '' || data === '[DONE]') return none;
  const ev = JSON.parse(data) as Json;
  if (type === 'openai' || type === 'mock') {
    const out = { ...none };
    for (const c of (ev.choices ?? []) as Array<{ delta?: { content?: unknown; tool_calls?: Array<{ function?: { arguments?: string } }> }; finish_reason?: unknown }>) {
      if (typeof c.delta?.content === 'string') out.text += c.delta.content;
      for (const tc of c.delta?.tool_calls ?? []) out.args += tc.function?.arguments ?? '';
      if (c.finish_reason) out.finish = true;
    }
    return out;
  }
  if (type === 'anthropic') {
    const delta = (ev.delta ?? {}) as Json;
    if (ev.type === 'content_block_delta' && delta.type === 'text_delta') return { ...none, text: String(delta.text) };
    if (ev.type === 'content_block_delta' && delta.type === 'input_json_delta') return { ...none, args: String(delta.partial_json) };
    if (ev.type === 'message_delta' && typeof delta.stop_reason === 'string') return { ...none, finish: true };
    return none;
  }
  if (type === 'gemini') {
    const out = { ...none };
    for (const c of (ev.candidates ?? []) as Array<{ content?: { parts?: Array<{ text?: string; thought?: boolean; functionCall?: { args?: unknown } }> }; finishReason?: string }>) {
      for (const p of c.content?.parts ?? []) {
        if (p.thought) continue;
        if (typeof p.text === 'string') out.text += p.text;
        if (p.functionCall) out.args += JSON.stringify(p.functionCall.args ?? {});
      }
      if (c.finishReason) out.finish = true;
    }
    return out;
  }
  throw new Error(`no wire-format reader for provider type ${type}`);
}
