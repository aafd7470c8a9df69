// A stream's checkpoints (the spool lines that bill it if the process dies mid-stream) are
// approximated without the tokenizer: loading it costs tens of MB, and tokenising an agent's
// long prompt would hold the event loop for milliseconds on every stream whose upstream reports
// the exact usage at the end anyway.
import { describe, expect, it } from 'vitest';
import { relayStream, type StreamEnd, type StreamStart } from '../../src/core/stream-relay.js';
import { approximateTextTokens, countTextTokens } from '../../src/core/tokens.js';
import { createOpenAIStreamTranslator } from '../../src/providers/openai/stream.js';
import type { AdapterContext } from '../../src/providers/types.js';
import { ChatStreamEncoder } from '../../src/surfaces/chat/encode-stream.js';

const ctx = { provider: { id: 'up' }, model: { id: 'public' }, upstreamModel: 'up-model', stream: true, requestId: 'req_cp', native: true } as unknown as AdapterContext;
const facts = { model: 'public', fallbacks: [], stream: true, maxOutputTokens: undefined, n: 1, relayUsageFrames: true };
const info = { requestId: 'req_cp', model: 'public', created: 1, native: true, request: { canonical: { model: 'public', messages: [] }, native: undefined, forwardHeaders: {}, facts } } as never;

const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up-model', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;

/**
 * An upstream stream read event by event: `words` tokens, then the finish, usage and [DONE].
 * Spread, each event arrives in a later turn of the event loop (as tokens from a network do);
 * otherwise all of it is already there.
 */
function start(words: string[], withUsage: boolean, spread = true): StreamStart {
  const events = [chunk({ role: 'assistant', content: '' }), ...words.map((w) => chunk({ content: w }))];
  events.push(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up-model', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
  if (withUsage) events.push(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'up-model', choices: [], usage: { prompt_tokens: 4000, completion_tokens: words.length, total_tokens: 4000 + words.length } })}\n\n`);
  events.push('data: [DONE]\n\n');
  let i = 0;
  const iterator: AsyncIterableIterator<Uint8Array> = {
    next: async () => {
      if (spread) await new Promise((r) => setImmediate(r));
      return i < events.length ? { done: false, value: Buffer.from(events[i++]!) } : { done: true, value: undefined };
    },
    return: async () => ({ done: true, value: undefined }),
    [Symbol.asyncIterator]: () => iterator,
  };
  return { res: { status: 200, headers: {}, body: iterator, discard() {} }, iterator, translator: createOpenAIStreamTranslator(ctx), buffered: [] };
}

async function relay(words: string[], withUsage: boolean, spread = true) {
  const checkpoints: StreamEnd[] = [];
  const finished: StreamEnd[] = [];
  let exactCounts = 0;
  let out = '';
  for await (const s of relayStream(start(words, withUsage, spread), {
    encoder: new ChatStreamEncoder(info, facts as never),
    relayUsageFrames: true,
    signal: new AbortController().signal,
    countPrompt: () => {
      exactCounts++;
      return 4001;
    },
    approximatePrompt: () => 3900,
    finish: (s) => {
      finished.push(s);
      return 10;
    },
    checkpoint: (s) => void checkpoints.push(s),
    onBrokenAfterCommit() {},
  }))
    out += s;
  return { checkpoints, finished, exactCounts, out };
}

describe('stream checkpoints', () => {
  const words = Array.from({ length: 200 }, (_, i) => ` word${i}`);

  it('are approximated without counting the prompt exactly when the upstream reports usage', async () => {
    const r = await relay(words, true);
    expect(r.checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(r.exactCounts, 'the exact (tokenizer) count of the prompt').toBe(0);
    for (const c of r.checkpoints) {
      expect(c.estimated).toBe(true);
      expect(c.usage.prompt).toBe(3900);
    }
    // Each checkpoint covers the text delivered so far, at the approximation's rate.
    const last = r.checkpoints.at(-1)!;
    expect(last.usage.completion).toBeGreaterThan(0);
    expect(last.usage.completion).toBeLessThanOrEqual(approximateTextTokens(words.join('')) + r.checkpoints.length);
    expect(r.finished).toEqual([{ status: 200, errorCode: null, usage: expect.objectContaining({ prompt: 4000, completion: 200 }), estimated: false }]);
  });

  it('are not written for a stream that ends in the turn its frames arrived in: the final row supersedes them', async () => {
    const r = await relay(words, true, false);
    expect(r.checkpoints).toEqual([]);
    expect(r.finished).toEqual([{ status: 200, errorCode: null, usage: expect.objectContaining({ prompt: 4000, completion: 200 }), estimated: false }]);
    // Nothing is written later either: the pending checkpoint went with the final row.
    await new Promise((r2) => setImmediate(r2));
    expect(r.checkpoints).toEqual([]);
  });

  it('still counts exactly, once, what it bills when the upstream reports no usage', async () => {
    const r = await relay(words, false);
    expect(r.exactCounts).toBe(1);
    expect(r.finished).toHaveLength(1);
    expect(r.finished[0]!.estimated).toBe(true);
    expect(r.finished[0]!.usage.prompt).toBe(4001);
    // The checkpoints each counted a part of the text; the final row counts all of it, parts included.
    expect(r.checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(r.finished[0]!.usage.completion).toBe(countTextTokens(words.join('')));
  });
});
