// SPEC §3–§4, ARCHITECTURE "Provider adapters": one conformance suite over every adapter,
// fed each provider's recorded wire-format fixtures. An adapter passes when the client sees
// the same OpenAI-shaped answers, streams, tool calls, usage and errors whatever is behind it.
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/core/errors.js';
import type { ChatChunk } from '../../src/core/types.js';
import { anthropicFixtures } from '../../src/providers/anthropic/fixtures/index.js';
import type { ConformanceCase, ConformanceFixtures, ExpectedOutput } from '../../src/providers/conformance-types.js';
import { geminiFixtures } from '../../src/providers/gemini/fixtures/index.js';
import { mockFixtures } from '../../src/providers/mock/fixtures/index.js';
import { openaiFixtures } from '../../src/providers/openai/fixtures/index.js';
import type { StreamPiece } from '../../src/providers/types.js';
import type { ChatPiece } from '../helpers/chat-pieces.js';
import { assemble, emitted, eventCarries, feed, type Output, runText, type Subject, sseEventsOf, subject, translate } from './harness.js';

const SUBJECTS: Array<[string, Subject]> = [
  ['openai', subject(openaiFixtures, { id: 'openai', type: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'sk-test-openai' }, 'gpt-4.1-2025-04-14')],
  ['anthropic', subject(anthropicFixtures, { id: 'anthropic', type: 'anthropic', api_key: 'sk-ant-test-key' }, 'claude-sonnet-4-5-20250929')],
  ['gemini', subject(geminiFixtures, { id: 'gemini', type: 'gemini', api_key: 'gemini-test-key' }, 'gemini-2.5-flash')],
  ['mock', subject(mockFixtures, { id: 'mock', type: 'mock' }, 'mock-chat')],
];

const REQUEST_CASES = ['text', 'streamText', 'toolCall', 'streamToolCall', 'toolResult', 'imageInput', 'stopSequence', 'maxTokens', 'streamSameAsText'] as const;
const NON_STREAM_CASES = ['text', 'toolCall', 'toolResult', 'imageInput', 'stopSequence', 'maxTokens'] as const;
const STREAM_CASES = ['streamText', 'streamToolCall', 'streamSameAsText'] as const;
const ERROR_CASES = ['badRequest', 'unauthorized', 'rateLimited', 'serverError', 'overloaded'] as const;

function expectOutput(out: Output, exp: ExpectedOutput): void {
  expect(out.content).toBe(exp.content ?? '');
  expect(out.toolCalls).toEqual(exp.tool_calls ?? []);
  expect(out.finish).toBe(exp.finish_reason);
  const usage = out.usage === undefined ? undefined : { ...out.usage };
  // A provider that does not report cached tokens has nothing to compare.
  if (usage && exp.usage.cached_tokens === undefined) delete usage.cached_tokens;
  expect(usage).toEqual(exp.usage);
}

function streamOf(s: Subject, c: ConformanceCase): { pieces: ChatPiece[]; out: Output } {
  const chunks = c.upstream.chunks;
  if (!chunks) throw new Error('the fixture has no recorded stream');
  const { pieces } = feed(s, chunks);
  return { pieces, out: assemble(pieces) };
}

function expectCleanEnd(pieces: StreamPiece[]): void {
  expect(pieces.filter((p) => p.error).map((p) => p.error?.message)).toEqual([]);
  expect(pieces.at(-1)?.done).toBe(true);
}

describe.each(SUBJECTS)('%s adapter (SPEC §4: translation to and from the OpenAI shape)', (name, s) => {
  const fx: ConformanceFixtures = s.fixtures;
  const publicModel = s.model.id;

  it('ships fixtures for its own provider type, with the cases the suite relies on', () => {
    expect(fx.type).toBe(name);
    expect(s.adapter.type).toBe(name);
    for (const k of STREAM_CASES) expect(fx[k].upstream.chunks?.length, k).toBeGreaterThan(0);
    for (const k of NON_STREAM_CASES) expect(fx[k].upstream.body, k).toBeTypeOf('string');
    expect(fx.toolCall.expected.tool_calls?.length).toBeGreaterThan(0);
    expect(fx.streamToolCall.expected.tool_calls?.length).toBeGreaterThan(0);
    expect(fx.maxTokens.expected.finish_reason).toBe('length');
    expect(fx.stopSequence.request.stop).toBeTruthy();
    expect(fx.toolResult.request.messages.some((m) => m.role === 'tool')).toBe(true);
    expect(JSON.stringify(fx.imageInput.request.messages)).toContain('image_url');
    expect(fx.malformedStream.chunks?.length).toBeGreaterThan(0);
  });

  describe('requests', () => {
    it.each(REQUEST_CASES)('translates the %s request into one the provider accepts (its fixture check passes)', (k) => {
      const c = fx[k];
      const up = translate(s, c);
      expect(up.url).toMatch(/^https?:\/\//);
      expect(c.checkRequest?.(up.body, up.url, up.headers)).toBeUndefined();
    });

    it('the fixture checks can fail: a plain text request does not pass the image or tool-result check', () => {
      const up = translate(s, fx.text);
      expect(fx.imageInput.checkRequest?.(up.body, up.url, up.headers)).toBeTypeOf('string');
      expect(fx.toolResult.checkRequest?.(up.body, up.url, up.headers)).toBeTypeOf('string');
    });

    it('never sends the Tollgate-only "models" field or the gateway\'s public model id upstream', () => {
      const up = translate(s, { ...fx.text, request: { ...fx.text.request, models: ['some-fallback'] } });
      expect(up.body).not.toHaveProperty('models');
      expect(JSON.stringify(up.body)).not.toContain('some-fallback');
    });
  });

  describe('non-stream answers', () => {
    it.each(NON_STREAM_CASES)('%s: the recorded answer becomes the expected chat.completion', (k) => {
      const { completion, out } = runText(s, fx[k].upstream.body ?? '');
      expect(completion.object).toBe('chat.completion');
      expect(completion.model).toBe(publicModel);
      expect(completion.choices[0].message.role).toBe('assistant');
      expectOutput(out, fx[k].expected);
    });

    it('text: plain text, finish_reason stop, exact usage', () => {
      const { out } = runText(s, fx.text.upstream.body ?? '');
      expect(out.content.length).toBeGreaterThan(0);
      expect(out.toolCalls).toEqual([]);
      expect(out.finish).toBe('stop');
      expect(out.usage?.prompt_tokens).toBe(fx.text.expected.usage.prompt_tokens);
    });

    it('max tokens: an answer cut by the output limit reports finish_reason "length"', () => {
      expect(runText(s, fx.maxTokens.upstream.body ?? '').out.finish).toBe('length');
    });

    it('stop sequence: the answer ends with finish_reason "stop" and without the stop text', () => {
      const { out } = runText(s, fx.stopSequence.upstream.body ?? '');
      expect(out.finish).toBe('stop');
      const stops = fx.stopSequence.request.stop;
      for (const stop of typeof stops === 'string' ? [stops] : (stops ?? [])) expect(out.content).not.toContain(stop);
    });

    it('tool call: names and parsed arguments as expected, finish_reason tool_calls, distinct non-empty ids', () => {
      const { out } = runText(s, fx.toolCall.upstream.body ?? '');
      expect(out.toolCalls).toEqual(fx.toolCall.expected.tool_calls);
      expect(out.finish).toBe('tool_calls');
      expect(out.toolCallIds.every((id) => id.length > 0)).toBe(true);
      expect(new Set(out.toolCallIds).size).toBe(out.toolCallIds.length);
    });

    it('tool round trip: the calls just received, sent back with their results, translate into the next request', () => {
      const { completion, out } = runText(s, fx.toolCall.upstream.body ?? '');
      const calls = completion.choices[0].message.tool_calls ?? [];
      const followUp = {
        ...fx.toolCall.request,
        tool_choice: 'auto' as const,
        messages: [
          ...fx.toolCall.request.messages,
          { role: 'assistant' as const, content: null, tool_calls: calls },
          ...calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: 'RESULT-18C-SUNNY' })),
        ],
      };
      const up = translate(s, { ...fx.toolCall, request: followUp });
      const sent = JSON.stringify(up.body);
      expect(sent).toContain('RESULT-18C-SUNNY');
      for (const tc of out.toolCalls) expect(sent).toContain(tc.name);
      // …and the recorded follow-up turn translates as its fixture demands.
      const result = translate(s, fx.toolResult);
      expect(fx.toolResult.checkRequest?.(result.body, result.url, result.headers)).toBeUndefined();
    });

    it('malformed: a 200 body that is not the provider\'s format throws GatewayError provider_error (502)', () => {
      let thrown: unknown;
      try {
        s.adapter.chatResponse(fx.malformed.body ?? '', s.ctx(false));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(GatewayError);
      expect(thrown).toMatchObject({ code: 'provider_error', status: 502 });
    });
  });

  describe('streams', () => {
    it.each(STREAM_CASES)('%s: the recorded stream assembles into the expected answer and ends cleanly', (k) => {
      const { pieces, out } = streamOf(s, fx[k]);
      expectOutput(out, fx[k].expected);
      expectCleanEnd(pieces);
    });

    it('stream text: the concatenated content deltas equal the expected text', () => {
      const { out } = streamOf(s, fx.streamText);
      expect(out.content).toBe(fx.streamText.expected.content);
      expect(out.toolCalls).toEqual([]);
    });

    it('stream tool call: arguments assembled from the deltas parse to the expected values', () => {
      const { out } = streamOf(s, fx.streamToolCall);
      expect(out.toolCalls).toEqual(fx.streamToolCall.expected.tool_calls);
      expect(out.finish).toBe('tool_calls');
      expect(out.toolCallIds.every((id) => id.length > 0)).toBe(true);
    });

    it('usage: the same output streamed reports exactly the usage of the non-stream answer', () => {
      const streamed = streamOf(s, fx.streamSameAsText).out;
      const whole = runText(s, fx.text.upstream.body ?? '').out;
      expect(streamed.usage).toBeDefined();
      expect(streamed.usage).toEqual(whole.usage);
      expect(streamed.content).toBe(whole.content);
      expect(streamed.finish).toBe(whole.finish);
    });

    it('usage arrives in exactly one piece, marked usage-only when it has no choices', () => {
      const { pieces } = streamOf(s, fx.streamSameAsText);
      const withUsage = pieces.filter((p) => p.usage);
      expect(withUsage).toHaveLength(1);
      const chunk = JSON.parse(withUsage[0].json ?? '{"choices":[]}') as ChatChunk;
      expect(withUsage[0].usageOnly === true).toBe(chunk.choices.length === 0);
    });

    it('gives the same result whether the bytes arrive in the recorded pieces or one byte at a time', () => {
      for (const k of STREAM_CASES) {
        const bytes = new TextEncoder().encode((fx[k].upstream.chunks ?? []).join(''));
        const byByte = feed(s, Array.from(bytes, (b) => Uint8Array.of(b))).pieces;
        expect(assemble(byByte), k).toEqual(streamOf(s, fx[k]).out);
        expectCleanEnd(byByte);
      }
    });

    it('every emitted chunk is a chat.completion.chunk whose model is the public model id, one id per stream', () => {
      let checked = 0;
      for (const k of [...STREAM_CASES, 'malformedStream'] as const) {
        const chunks = k === 'malformedStream' ? fx.malformedStream.chunks : fx[k].upstream.chunks;
        const ids = new Set<string>();
        for (const p of feed(s, chunks ?? []).pieces) {
          if (p.json === undefined) continue;
          const chunk = JSON.parse(p.json) as ChatChunk;
          expect(chunk.object, p.json).toBe('chat.completion.chunk');
          expect(chunk.model, p.json).toBe(publicModel);
          expect(chunk.id, p.json).toBeTypeOf('string');
          ids.add(chunk.id);
          expect(chunk.created, p.json).toBeTypeOf('number');
          expect(Array.isArray(chunk.choices), p.json).toBe(true);
          for (const c of chunk.choices) {
            expect(c.index).toBeTypeOf('number');
            expect(c.delta).toBeTypeOf('object');
          }
          checked++;
        }
        expect(ids.size, `${k}: chunk ids`).toBe(1);
      }
      expect(checked).toBeGreaterThan(5);
    });

    it.each(STREAM_CASES)('%s: does not buffer — each upstream event yields its output on the push that delivers it', (k) => {
      const events = sseEventsOf(fx[k].upstream.chunks ?? []);
      expect(events.length).toBeGreaterThan(0);
      const { perPush, fromEnd } = feed(s, events);
      // The first event already opens the answer (at least the role chunk).
      expect(perPush[0].length).toBeGreaterThan(0);
      let carrying = 0;
      events.forEach((ev, i) => {
        const want = eventCarries(name, ev);
        const got = emitted(perPush[i]);
        if (want.text || want.args || want.finish) carrying++;
        expect({ event: i, text: got.text, args: got.args }).toEqual({ event: i, text: want.text, args: want.args });
        if (want.finish) expect(got.finish, `event ${i} carries the finish reason`).toBe(true);
      });
      expect(carrying).toBeGreaterThan(0);
      // Nothing the client should see was held back for the end of the body.
      expect(emitted(fromEnd)).toMatchObject({ text: '', args: '' });
    });

    it('malformed stream: broken bytes end in an error piece carrying a GatewayError, never a throw', () => {
      let pieces: StreamPiece[] = [];
      expect(() => {
        pieces = feed(s, fx.malformedStream.chunks ?? []).pieces;
      }).not.toThrow();
      const errors = pieces.filter((p) => p.error);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0].error).toBeInstanceOf(GatewayError);
      expect(errors[0].error?.status).toBeGreaterThanOrEqual(500);
      expect(pieces.at(-1)?.error).toBeDefined();
      expect(pieces.some((p) => p.done)).toBe(false);
      // What arrived before the break was still forwarded.
      expect(emitted(pieces).text.length).toBeGreaterThan(0);
    });
  });

  describe('errors (SPEC §5, §12)', () => {
    it.each(ERROR_CASES)('%s: maps to the expected status, code and retryability', (k) => {
      const e = fx.errors[k];
      const err = s.adapter.mapError(e.upstream.status, e.upstream.body ?? '', e.upstream.headers ?? {});
      expect(err).toBeInstanceOf(GatewayError);
      expect({ status: err.status, code: err.code, retryable: err.retryable }).toEqual({ status: e.status, code: e.code, retryable: e.retryable });
      expect(err.upstreamStatus).toBeTypeOf('number');
      expect(err.message.length).toBeGreaterThan(0);
      if (s.provider.api_key) expect(err.message).not.toContain(s.provider.api_key);
    });

    it('the suite covers the statuses SPEC names: 400 refused as 400 and not retried, 401/429/5xx retryable', () => {
      const { badRequest, unauthorized, rateLimited, serverError, overloaded } = fx.errors;
      expect(badRequest.upstream.status).toBe(400);
      expect(unauthorized.upstream.status === 401 || unauthorized.upstream.status === 400).toBe(true);
      expect(rateLimited.upstream.status).toBe(429);
      expect(serverError.upstream.status).toBe(500);
      expect(overloaded.upstream.status).toBeGreaterThanOrEqual(503);
      expect(badRequest.retryable).toBe(false);
      expect([unauthorized, rateLimited, serverError, overloaded].every((e) => e.retryable)).toBe(true);
    });

    it('a rate limit keeps the provider\'s retry hint', () => {
      const e = fx.errors.rateLimited;
      const err = s.adapter.mapError(e.upstream.status, e.upstream.body ?? '', e.upstream.headers ?? {});
      expect(err.retryAfterS).toBeGreaterThan(0);
    });

    it('a 400 passes the provider\'s own words to the client', () => {
      const e = fx.errors.badRequest;
      const err = s.adapter.mapError(e.upstream.status, e.upstream.body ?? '', e.upstream.headers ?? {});
      expect(err.message).toContain(`(${s.provider.id})`);
      expect(err.message.length).toBeGreaterThan(`(${s.provider.id})`.length + 20);
    });
  });
});
