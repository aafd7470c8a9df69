import { describe, expect, it } from 'vitest';
import { modelSchema, providerSchema } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import type { ChatCompletion } from '../../core/types.js';
import type { ConformanceCase, ExpectedOutput } from '../conformance-types.js';
import type { AdapterContext, ProviderAdapter, } from '../types.js';
import { createGeminiAdapter } from './adapter.js';
import { geminiFixtures } from './fixtures/index.js';
import { type ChatPiece, withChatJson } from '../../../test/helpers/chat-pieces.js';

const provider = providerSchema.parse({ id: 'g', type: 'gemini', api_key: 'secret-key', headers: { 'x-extra': '1' } });
const adapter = createGeminiAdapter(provider);

function ctxFor(stream: boolean, upstreamModel = 'gemini-2.5-flash'): AdapterContext {
  return {
    provider,
    model: modelSchema.parse({ id: 'public-gemini', channels: [{ provider: 'g', upstream_model: upstreamModel }] }),
    upstreamModel,
    stream,
    requestId: 'req-1',
  };
}

describe('Gemini adapter: requests', () => {
  it('posts generateContent with the API key header, JSON content type and provider headers', () => {
    const req = adapter.chatRequest({ model: 'public-gemini', messages: [{ role: 'user', content: 'hi' }] }, ctxFor(false));
    expect(req.method).toBe('POST');
    expect(req.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
    expect(req.headers).toEqual({ 'content-type': 'application/json', 'x-goog-api-key': 'secret-key', 'x-extra': '1' });
    expect(JSON.parse(req.body!)).toEqual({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] });
  });

  it('streams through streamGenerateContent?alt=sse', () => {
    const req = adapter.chatRequest({ model: 'public-gemini', messages: [{ role: 'user', content: 'hi' }], stream: true }, ctxFor(true));
    expect(req.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('replaces the base URL (trailing slash stripped) and accepts a models/ prefix in the upstream name', () => {
    const custom = createGeminiAdapter(providerSchema.parse({ id: 'g', type: 'gemini', base_url: 'http://127.0.0.1:9999/v1beta/' }));
    const req = custom.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, ctxFor(false, 'models/gemini-3-flash-preview'));
    expect(req.url).toBe('http://127.0.0.1:9999/v1beta/models/gemini-3-flash-preview:generateContent');
    expect(req.headers['x-goog-api-key']).toBeUndefined();
  });

  it('probes with a GET of the models list', () => {
    const probe = adapter.probeRequest!(provider);
    expect(probe).toEqual({ method: 'GET', url: 'https://generativelanguage.googleapis.com/v1beta/models?pageSize=1', headers: { 'x-goog-api-key': 'secret-key', 'x-extra': '1' } });
  });

  it('declares the parameters it can honour and leaves out the ones it refuses', () => {
    expect(adapter.type).toBe('gemini');
    expect(adapter.supportedParameters).toEqual(expect.arrayContaining(['temperature', 'tools', 'response_format', 'stream']));
    expect(adapter.supportedParameters).not.toContain('logit_bias');
  });
});

// The shared conformance suite runs these too; checking them here keeps the fixtures honest on their own.
function runCase(a: ProviderAdapter, c: ConformanceCase, stream: boolean): { output: ExpectedOutput; pieces?: ChatPiece[] } {
  const ctx = ctxFor(stream);
  const req = a.chatRequest(c.request, ctx);
  const problem = c.checkRequest?.(JSON.parse(req.body!), req.url, req.headers);
  expect(problem).toBeUndefined();
  if (!stream) {
    const completion: ChatCompletion = a.chatResponse(c.upstream.body!, ctx);
    const choice = completion.choices[0];
    const output: ExpectedOutput = {
      finish_reason: choice.finish_reason!,
      usage: { prompt_tokens: completion.usage!.prompt_tokens, completion_tokens: completion.usage!.completion_tokens },
    };
    if (typeof choice.message.content === 'string') output.content = choice.message.content;
    if (choice.message.tool_calls) output.tool_calls = choice.message.tool_calls.map((t) => ({ name: t.function.name, arguments: JSON.parse(t.function.arguments) }));
    return { output };
  }
  const t = a.streamTranslator(ctx);
  const pieces: ChatPiece[] = [];
  for (const chunk of c.upstream.chunks!) pieces.push(...t.push(new TextEncoder().encode(chunk)));
  pieces.push(...t.end());
  return assembleChunks(withChatJson(pieces, ctx.model.id));
}

function assembleChunks(pieces: ChatPiece[]): { output: ExpectedOutput; pieces?: ChatPiece[] } {
  let content = '';
  const calls: Array<{ name: string; arguments: unknown }> = [];
  for (const p of pieces) {
    if (!p.json || p.usageOnly) continue;
    const delta = JSON.parse(p.json).choices[0].delta;
    if (delta.content) content += delta.content;
    for (const tc of delta.tool_calls ?? []) calls.push({ name: tc.function.name, arguments: JSON.parse(tc.function.arguments) });
  }
  const usage = pieces.find((p) => p.usage)!.usage!;
  const output: ExpectedOutput = {
    finish_reason: pieces.find((p) => p.finishReason)!.finishReason!,
    usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens },
  };
  if (content !== '') output.content = content;
  if (calls.length > 0) output.tool_calls = calls;
  return { output, pieces };
}

describe('Gemini fixtures', () => {
  const chatCases = ['text', 'toolCall', 'toolResult', 'imageInput', 'stopSequence', 'maxTokens'] as const;
  it.each(chatCases)('%s translates to the expected output', (name) => {
    expect(runCase(adapter, geminiFixtures[name], false).output).toEqual(geminiFixtures[name].expected);
  });

  const streamCases = ['streamText', 'streamToolCall', 'streamSameAsText'] as const;
  it.each(streamCases)('%s streams to the expected output and ends done', (name) => {
    const { output, pieces } = runCase(adapter, geminiFixtures[name], true);
    expect(output).toEqual(geminiFixtures[name].expected);
    expect(pieces!.at(-1)?.done).toBe(true);
  });

  it('hands the tool call’s thought signature back to Gemini when the client replays the call', () => {
    const ctx = ctxFor(false);
    const completion = adapter.chatResponse(geminiFixtures.toolCall.upstream.body!, ctx);
    const assistant = completion.choices[0].message;
    const call = assistant.tool_calls![0];
    const followUp = adapter.chatRequest(
      { ...geminiFixtures.toolCall.request, messages: [...geminiFixtures.toolCall.request.messages, assistant, { role: 'tool', tool_call_id: call.id, content: '{"t":1}' }] },
      ctx,
    );
    const sent = JSON.parse(followUp.body!).contents[1].parts[0];
    const recorded = JSON.parse(geminiFixtures.toolCall.upstream.body!).candidates[0].content.parts[0];
    expect(sent).toEqual({ functionCall: recorded.functionCall, thoughtSignature: recorded.thoughtSignature });
  });

  it('bills a stream the same as the same answer not streamed', () => {
    expect(runCase(adapter, geminiFixtures.streamSameAsText, true).output.usage).toEqual(runCase(adapter, geminiFixtures.text, false).output.usage);
  });

  it.each(Object.keys(geminiFixtures.errors) as Array<keyof typeof geminiFixtures.errors>)('error %s maps to its SPEC status, code and retryability', (name) => {
    const e = geminiFixtures.errors[name];
    const err = adapter.mapError(e.upstream.status, e.upstream.body!, e.upstream.headers ?? {});
    expect([err.status, err.code, err.retryable]).toEqual([e.status, e.code, e.retryable]);
  });

  it('rejects the malformed body as 502 provider_error', () => {
    expect(() => adapter.chatResponse(geminiFixtures.malformed.body!, ctxFor(false))).toThrow(GatewayError);
    try {
      adapter.chatResponse(geminiFixtures.malformed.body!, ctxFor(false));
    } catch (err) {
      expect((err as GatewayError).status).toBe(502);
    }
  });

  it('turns the malformed stream into an error piece after the good content', () => {
    const t = adapter.streamTranslator(ctxFor(true));
    const pieces = geminiFixtures.malformedStream.chunks!.flatMap((c) => t.push(new TextEncoder().encode(c)));
    pieces.push(...t.end());
    expect(pieces.some((p) => p.content)).toBe(true);
    expect(pieces.at(-1)?.error?.code).toBe('provider_error');
  });
});
