import { describe, expect, it } from 'vitest';
import { modelSchema, providerSchema } from '../../config/schema.js';
import type { ChatChunk } from '../../core/types.js';
import type { AdapterContext, } from '../types.js';
import { createGeminiStreamTranslator } from './stream.js';
import { type ChatPiece, withChatJson } from '../../../test/helpers/chat-pieces.js';

const ctx: AdapterContext = {
  provider: providerSchema.parse({ id: 'g', type: 'gemini', api_key: 'k' }),
  model: modelSchema.parse({ id: 'public-gemini', channels: [{ provider: 'g', upstream_model: 'gemini-2.5-flash' }] }),
  upstreamModel: 'gemini-2.5-flash',
  stream: true,
  requestId: 'req-1',
};

const enc = new TextEncoder();
const event = (obj: unknown) => `data: ${JSON.stringify(obj)}\r\n\r\n`;
const textEvent = (text: string, extra: Record<string, unknown> = {}, finishReason?: string) =>
  event({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finishReason ? { finishReason } : {}) }], responseId: 'resp1', ...extra });

/** Feeds the whole stream as byte slices cut at the given offsets (bytes, not characters). */
function run(stream: string, cuts: number[] = []): ChatPiece[] {
  const t = createGeminiStreamTranslator(ctx);
  const bytes = enc.encode(stream);
  const out: ChatPiece[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...t.push(bytes.subarray(start, cut)));
    start = cut;
  }
  out.push(...t.end());
  return withChatJson(out, ctx.model.id);
}

const chunks = (pieces: ChatPiece[]) => pieces.filter((p) => p.json).map((p) => JSON.parse(p.json!) as ChatChunk);
const contentOf = (pieces: ChatPiece[]) =>
  chunks(pieces)
    .map((c) => c.choices[0]?.delta.content ?? '')
    .join('');

const STREAM =
  textEvent('Hé', { usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } }) +
  textEvent('llo 🌍 wörld', { usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } }) +
  textEvent('!', { usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 6, thoughtsTokenCount: 2, totalTokenCount: 13 } }, 'STOP');

describe('Gemini stream: text', () => {
  it('emits a role chunk, content deltas, a finish chunk, then a usage-only done piece', () => {
    const pieces = run(STREAM);
    expect(pieces[0]).toMatchObject({ content: false });
    expect(JSON.parse(pieces[0].json!).choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null });
    expect(pieces.slice(1, 4).map((p) => [p.content, p.text])).toEqual([
      [true, 'Hé'],
      [true, 'llo 🌍 wörld'],
      [true, '!'],
    ]);
    expect(pieces[4].finishReason).toBe('stop');
    expect(JSON.parse(pieces[4].json!).choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    const last = pieces[5];
    const usage = { prompt_tokens: 5, completion_tokens: 8, total_tokens: 13, completion_tokens_details: { reasoning_tokens: 2 } };
    expect(last).toMatchObject({ usageOnly: true, done: true, usage });
    expect(JSON.parse(last.json!)).toMatchObject({ choices: [], usage });
    expect(pieces).toHaveLength(6);
  });

  it('gives every chunk the same id, the public model and the chunk object type', () => {
    const all = chunks(run(STREAM));
    expect(new Set(all.map((c) => c.id))).toEqual(new Set(['chatcmpl-resp1']));
    expect(all.every((c) => c.model === 'public-gemini' && c.object === 'chat.completion.chunk')).toBe(true);
  });

  it('gives the same output however the bytes are split (mid-UTF-8, mid-line, between CR and LF)', () => {
    const bytes = enc.encode(STREAM);
    const expected = contentOf(run(STREAM));
    expect(expected).toBe('Héllo 🌍 wörld!');
    for (let cut = 1; cut < bytes.length; cut++) {
      const pieces = run(STREAM, [cut]);
      expect(contentOf(pieces)).toBe(expected);
      expect(pieces.at(-1)?.done).toBe(true);
    }
    const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expect(contentOf(run(STREAM, everyByte))).toBe(expected);
  });

  it('accepts LF-only event separators', () => {
    expect(contentOf(run(STREAM.replace(/\r\n/g, '\n')))).toBe('Héllo 🌍 wörld!');
  });

  it('ends with a bare done piece when the upstream never sent usage', () => {
    const pieces = run(textEvent('x', {}, 'STOP'));
    expect(pieces.at(-1)).toEqual({ done: true });
  });

  it('maps MAX_TOKENS to length', () => {
    expect(run(textEvent('x', {}, 'MAX_TOKENS')).find((p) => p.finishReason)?.finishReason).toBe('length');
  });

  it('finishes a blocked prompt with content_filter', () => {
    const pieces = run(event({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } }));
    expect(pieces.map((p) => p.finishReason).filter(Boolean)).toEqual(['content_filter']);
    expect(pieces.at(-1)).toMatchObject({ done: true, usage: { prompt_tokens: 3, completion_tokens: 0 } });
  });

  it('keeps candidates apart by index', () => {
    const two = event({
      candidates: [
        { content: { parts: [{ text: 'a' }] }, index: 0, finishReason: 'STOP' },
        { content: { parts: [{ text: 'b' }] }, index: 1, finishReason: 'STOP' },
      ],
    });
    const byIndex = chunks(run(two))
      .filter((c) => c.choices[0]?.delta.content)
      .map((c) => [c.choices[0].index, c.choices[0].delta.content]);
    expect(byIndex).toEqual([
      [0, 'a'],
      [1, 'b'],
    ]);
  });
});

describe('Gemini stream: tool calls', () => {
  const calls = event({
    responseId: 'r9',
    candidates: [
      {
        index: 0,
        content: {
          parts: [
            { functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'c2ln' },
            { functionCall: { name: 'get_time', args: {} } },
          ],
        },
        finishReason: 'STOP',
      },
    ],
  });

  it('emits each call complete in one delta, indexed from 0, and finishes with tool_calls', () => {
    const pieces = run(calls);
    const toolPieces = pieces.filter((p) => p.json?.includes('"tool_calls":['));
    expect(toolPieces.every((p) => p.content === true)).toBe(true);
    const deltas = toolPieces.map((p) => JSON.parse(p.json!).choices[0].delta.tool_calls[0]);
    expect(deltas).toEqual([
      { index: 0, id: expect.stringMatching(/^call_r9_0_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
      { index: 1, id: 'call_r9_1', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
    expect(toolPieces.map((p) => p.text)).toEqual(['{"city":"Oslo"}', '{}']);
    expect(pieces.find((p) => p.finishReason)?.finishReason).toBe('tool_calls');
  });
});

describe('Gemini stream: failures become error pieces, never throws', () => {
  it('maps an SSE error payload and stops translating', () => {
    const t = createGeminiStreamTranslator(ctx);
    const pieces = t.push(enc.encode(textEvent('partial') + event({ error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } }) + textEvent('more')));
    const error = pieces.find((p) => p.error)?.error;
    expect(error?.code).toBe('provider_error');
    expect(error?.retryable).toBe(true);
    expect(error?.message).toContain('overloaded');
    expect(pieces.at(-1)?.error).toBeDefined();
    expect(t.push(enc.encode(textEvent('after')))).toEqual([]);
    expect(t.end()).toEqual([]);
  });

  it('maps a pretty-printed JSON error Google writes outside SSE framing, after some content', () => {
    const raw = JSON.stringify({ error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } }, null, 2);
    const stream = `${textEvent('partial')}${raw}\n`;
    for (const cut of [0, stream.indexOf(raw) + 5]) {
      const pieces = run(stream, cut ? [cut] : []);
      expect(contentOf(pieces)).toBe('partial');
      const error = pieces.at(-1)?.error;
      expect(error?.code).toBe('provider_error');
      expect(error?.message).toContain('rate limiting');
      expect(error?.retryable).toBe(true);
    }
  });

  it('reports a stream that ends without a finish reason', () => {
    const pieces = run(textEvent('Hello'));
    expect(pieces.at(-1)?.error?.code).toBe('provider_error');
    expect(pieces.at(-1)?.error?.message).toContain('ended early');
    expect(pieces.some((p) => p.done)).toBe(false);
  });

  it('reports a last event cut off mid-JSON', () => {
    const pieces = run(`${textEvent('Hel')}data: {"candidates": [{"content": {"parts": [{"te`);
    expect(contentOf(pieces)).toBe('Hel');
    expect(pieces.at(-1)?.error?.message).toContain('ended early');
  });

  it('reports an event that is not JSON', () => {
    const pieces = run(`${textEvent('ok')}data: {not json}\r\n\r\n${textEvent('x', {}, 'STOP')}`);
    const errors = pieces.filter((p) => p.error);
    expect(errors).toHaveLength(1);
    expect(errors[0].error?.code).toBe('provider_error');
    expect(pieces.some((p) => p.done)).toBe(false);
  });

  it('reports a stream with no events at all', () => {
    expect(run('')[0].error?.code).toBe('provider_error');
  });
});
