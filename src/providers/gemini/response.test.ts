import { describe, expect, it } from 'vitest';
import { modelSchema, providerSchema } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import type { AdapterContext } from '../types.js';
import { signatureFromToolCallId } from './request.js';
import { mapFinishReason, translateChatResponse, usageFromMetadata } from './response.js';

const ctx: AdapterContext = {
  provider: providerSchema.parse({ id: 'g', type: 'gemini', api_key: 'k' }),
  model: modelSchema.parse({ id: 'public-gemini', channels: [{ provider: 'g', upstream_model: 'gemini-2.5-flash' }] }),
  upstreamModel: 'gemini-2.5-flash',
  stream: false,
  requestId: 'req-1',
};

const translate = (body: unknown) => translateChatResponse(JSON.stringify(body), ctx);

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('Gemini response: chat.completion shape', () => {
  it('builds a completion with the public model id, the response id and joined text', () => {
    const c = translate({
      candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }, { text: 'lo' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2, totalTokenCount: 6 },
      responseId: 'abc-123_x',
      modelVersion: 'gemini-2.5-flash',
    });
    expect(c.id).toBe('chatcmpl-abc123x');
    expect(c.object).toBe('chat.completion');
    expect(c.model).toBe('public-gemini');
    expect(c.choices).toEqual([{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop', logprobs: null }]);
    expect(c.usage).toEqual({ prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
  });

  it('skips thought summary parts', () => {
    const c = translate({ candidates: [{ content: { parts: [{ text: 'thinking…', thought: true }, { text: 'answer' }] }, finishReason: 'STOP' }] });
    expect(c.choices[0].message.content).toBe('answer');
  });

  it('returns one choice per candidate', () => {
    const c = translate({
      candidates: [
        { content: { parts: [{ text: 'a' }] }, finishReason: 'STOP', index: 0 },
        { content: { parts: [{ text: 'b' }] }, finishReason: 'MAX_TOKENS', index: 1 },
      ],
    });
    expect(c.choices.map((ch) => [ch.index, ch.message.content, ch.finish_reason])).toEqual([
      [0, 'a', 'stop'],
      [1, 'b', 'length'],
    ]);
  });

  it('turns functionCall parts into tool_calls with deterministic ids and finish_reason tool_calls', () => {
    const body = {
      responseId: 'r1',
      candidates: [
        {
          content: {
            parts: [
              { functionCall: { name: 'a', args: { x: 1 } }, thoughtSignature: 'c2ln' },
              { functionCall: { name: 'b', args: {} } },
            ],
          },
          finishReason: 'STOP',
        },
      ],
    };
    const first = translate(body);
    const second = translate(body);
    const calls = first.choices[0].message.tool_calls!;
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    expect(first.choices[0].message.content).toBeNull();
    expect(calls.map((c) => c.function)).toEqual([
      { name: 'a', arguments: '{"x":1}' },
      { name: 'b', arguments: '{}' },
    ]);
    expect(calls.map((c) => c.id)).toEqual(second.choices[0].message.tool_calls!.map((c) => c.id));
    expect(calls[0].id).toMatch(/^call_r1_0/);
    expect(calls[1].id).toBe('call_r1_1');
    expect(signatureFromToolCallId(calls[0].id)).toBe('c2ln');
  });

  it('answers a blocked prompt with content_filter and null content', () => {
    const c = translate({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 } });
    expect(c.choices).toEqual([{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter', logprobs: null }]);
    expect(c.usage).toEqual({ prompt_tokens: 8, completion_tokens: 0, total_tokens: 8 });
  });

  it('translates logprobs', () => {
    const c = translate({
      candidates: [
        {
          content: { parts: [{ text: 'Hi' }] },
          finishReason: 'STOP',
          logprobsResult: {
            chosenCandidates: [{ token: 'Hi', logProbability: -0.1 }],
            topCandidates: [{ candidates: [{ token: 'Hi', logProbability: -0.1 }, { token: 'Yo', logProbability: -2.5 }] }],
          },
        },
      ],
    });
    expect(c.choices[0].logprobs).toEqual({
      content: [
        {
          token: 'Hi',
          logprob: -0.1,
          bytes: [72, 105],
          top_logprobs: [
            { token: 'Hi', logprob: -0.1, bytes: [72, 105] },
            { token: 'Yo', logprob: -2.5, bytes: [89, 111] },
          ],
        },
      ],
      refusal: null,
    });
  });
});

describe('Gemini response: finish reasons', () => {
  it.each([
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['MAX_TOKENS', false, 'length'],
    ['MAX_TOKENS', true, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['IMAGE_SAFETY', false, 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', false, 'stop'],
    ['OTHER', false, 'stop'],
    ['SOMETHING_NEW', false, 'stop'],
  ] as const)('%s (tool calls: %s) → %s', (reason, tools, expected) => {
    expect(mapFinishReason(reason, tools)).toBe(expected);
  });
});

describe('Gemini response: usage', () => {
  it('counts thinking tokens as completion and reports cached prompt tokens', () => {
    expect(
      usageFromMetadata({ promptTokenCount: 100, candidatesTokenCount: 20, thoughtsTokenCount: 30, cachedContentTokenCount: 64, totalTokenCount: 150 }),
    ).toEqual({
      prompt_tokens: 100,
      completion_tokens: 50,
      total_tokens: 150,
      prompt_tokens_details: { cached_tokens: 64 },
      completion_tokens_details: { reasoning_tokens: 30 },
    });
  });

  it('counts tool-use prompt tokens as prompt and treats missing counts as zero', () => {
    expect(usageFromMetadata({ promptTokenCount: 10, toolUsePromptTokenCount: 5 })).toEqual({ prompt_tokens: 15, completion_tokens: 0, total_tokens: 15 });
    expect(usageFromMetadata(undefined)).toBeUndefined();
  });
});

describe('Gemini response: malformed bodies become 502 provider_error', () => {
  it.each([
    ['not JSON', '<html>oops</html>'],
    ['not an object', '[1,2]'],
    ['no candidates and no block reason', '{"modelVersion":"x"}'],
    ['candidates not a list', '{"candidates":{}}'],
  ])('%s', (_name, body) => {
    const err = thrown(() => translateChatResponse(body, ctx));
    expect(err.code).toBe('provider_error');
    expect(err.status).toBe(502);
    expect(err.retryable).toBe(false);
  });

  it('maps an error object inside a 200 body like an error answer', () => {
    const err = thrown(() => translate({ error: { code: 503, message: 'overloaded', status: 'UNAVAILABLE' } }));
    expect(err.code).toBe('provider_error');
    expect(err.retryable).toBe(true);
  });
});
