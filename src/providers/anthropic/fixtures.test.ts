// The fixtures must agree with the adapter before the shared conformance suite can trust them.
import { describe, expect, it } from 'vitest';
import type { ModelConfig, ProviderConfig } from '../../config/schema.js';
import type { ChatChunk, ChatCompletion } from '../../core/types.js';
import type { ConformanceCase, ExpectedOutput } from '../conformance-types.js';
import type { AdapterContext, } from '../types.js';
import { createAnthropicAdapter } from './adapter.js';
import { anthropicFixtures as fx } from './fixtures/index.js';
import { type ChatPiece, withChatJson } from '../../../test/helpers/chat-pieces.js';

const provider: ProviderConfig = {
  id: 'anthropic',
  type: 'anthropic',
  api_key: 'sk-ant-fixture',
  headers: {},
  timeouts: { connect_ms: 1, first_byte_ms: 1, idle_ms: 1, request_ms: 1 },
  connections: 1,
    max_in_flight: 20000,
    queue_timeout_ms: 2000,
    http2: false,
  tokens_per_second: 0,
};
const model: ModelConfig = {
  id: 'claude-sonnet-4.5',
  kind: 'chat',
  context_window: 200000,
  max_output_tokens: 64000,
  pricing: { input_per_mtok: 3, output_per_mtok: 15 },
  maintenance: false,
  channels: [{ provider: 'anthropic', upstream_model: 'claude-sonnet-4-5-20250929', priority: 0, weight: 1 }],
};
const adapter = createAnthropicAdapter(provider);
const ctxFor = (stream: boolean): AdapterContext => ({ provider, model, upstreamModel: 'claude-sonnet-4-5-20250929', stream, requestId: 'req-f' });

interface Output {
  content: string | null;
  toolCalls: Array<{ name: string; arguments: unknown }>;
  finish: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number } | undefined;
  pieces: ChatPiece[];
}

function runStream(c: ConformanceCase): Output {
  const t = adapter.streamTranslator(ctxFor(true));
  const pieces: ChatPiece[] = [];
  const enc = new TextEncoder();
  for (const chunk of c.upstream.chunks ?? []) pieces.push(...t.push(enc.encode(chunk)));
  pieces.push(...t.end());
  return assembleChunks(withChatJson(pieces, 'claude-test'));
}

function assembleChunks(pieces: ChatPiece[]): Output {
  let content: string | null = null;
  const calls: Array<{ name: string; args: string }> = [];
  let finish: string | null = null;
  for (const p of pieces) {
    if (!p.json) continue;
    const chunk = JSON.parse(p.json) as ChatChunk;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.content) content = (content ?? '') + choice.delta.content;
    for (const tc of choice.delta.tool_calls ?? []) {
      calls[tc.index] ??= { name: '', args: '' };
      if (tc.function?.name) calls[tc.index].name = tc.function.name;
      calls[tc.index].args += tc.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  const u = pieces.find((p) => p.usage)?.usage;
  return {
    content,
    toolCalls: calls.map((x) => ({ name: x.name, arguments: JSON.parse(x.args) as unknown })),
    finish,
    usage: u && { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, cached_tokens: u.prompt_tokens_details?.cached_tokens },
    pieces,
  };
}

function runText(c: ConformanceCase): Output {
  const out: ChatCompletion = adapter.chatResponse(c.upstream.body ?? '', ctxFor(false));
  const m = out.choices[0].message;
  const u = out.usage;
  return {
    content: typeof m.content === 'string' ? m.content : null,
    toolCalls: (m.tool_calls ?? []).map((t) => ({ name: t.function.name, arguments: JSON.parse(t.function.arguments) as unknown })),
    finish: out.choices[0].finish_reason,
    usage: u && { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, cached_tokens: u.prompt_tokens_details?.cached_tokens },
    pieces: [],
  };
}

function expectMatches(out: Output, exp: ExpectedOutput): void {
  if (exp.content !== undefined) expect(out.content).toBe(exp.content);
  expect(out.toolCalls).toEqual(exp.tool_calls ?? []);
  expect(out.finish).toBe(exp.finish_reason);
  expect(out.usage).toEqual(exp.usage);
}

const cases = ['text', 'streamText', 'toolCall', 'streamToolCall', 'toolResult', 'imageInput', 'stopSequence', 'maxTokens', 'streamSameAsText'] as const;

describe('anthropic fixtures', () => {
  it.each(cases)('%s: the translated request passes its own check', (name) => {
    const c = fx[name];
    const up = adapter.chatRequest(c.request, ctxFor(c.request.stream === true));
    expect(c.checkRequest?.(JSON.parse(up.body ?? '{}') as Record<string, unknown>, up.url, up.headers)).toBeUndefined();
  });

  it.each(cases)('%s: the recorded answer translates to the expected output', (name) => {
    const c = fx[name];
    const out = c.upstream.chunks ? runStream(c) : runText(c);
    expectMatches(out, c.expected);
    if (c.upstream.chunks) {
      expect(out.pieces.some((p) => p.error)).toBe(false);
      expect(out.pieces.at(-1)?.done).toBe(true);
    }
  });

  it('streamSameAsText reports the same usage as text', () => {
    expect(runStream(fx.streamSameAsText).usage).toEqual(runText(fx.text).usage);
  });

  it('checkRequest hooks can fail: a request without images is caught by imageInput', () => {
    const up = adapter.chatRequest(fx.text.request, ctxFor(false));
    expect(fx.imageInput.checkRequest?.(JSON.parse(up.body ?? '{}') as Record<string, unknown>, up.url, up.headers)).toBeTypeOf('string');
    expect(fx.toolResult.checkRequest?.(JSON.parse(up.body ?? '{}') as Record<string, unknown>, up.url, up.headers)).toBeTypeOf('string');
  });

  it.each(Object.entries(fx.errors))('error %s maps to its expected status, code and retryability', (_name, e) => {
    const err = adapter.mapError(e.upstream.status, e.upstream.body ?? '', e.upstream.headers ?? {});
    expect({ status: err.status, code: err.code, retryable: err.retryable }).toEqual({ status: e.status, code: e.code, retryable: e.retryable });
  });

  it('malformed: a 200 in another format becomes 502 provider_error', () => {
    expect(() => adapter.chatResponse(fx.malformed.body ?? '', ctxFor(false))).toThrow(expect.objectContaining({ code: 'provider_error', status: 502 }));
  });

  it('malformedStream: a stream cut mid-JSON ends in one error piece', () => {
    const t = adapter.streamTranslator(ctxFor(true));
    const pieces: ChatPiece[] = [];
    for (const chunk of fx.malformedStream.chunks ?? []) pieces.push(...t.push(new TextEncoder().encode(chunk)));
    pieces.push(...t.end());
    expect(pieces.filter((p) => p.error)).toHaveLength(1);
    expect(pieces.at(-1)?.error?.code).toBe('provider_error');
  });
});
