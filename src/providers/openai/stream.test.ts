import { describe, expect, it } from 'vitest';
import type { AdapterContext, StreamPiece } from '../types.js';
import { createOpenAIStreamTranslator } from './stream.js';

const UPSTREAM = 'gpt-4o-mini-2024-07-18';
const ctx = (native: boolean, publicModel = 'fast'): AdapterContext =>
  ({ provider: { id: 'openai' }, model: { id: publicModel }, upstreamModel: UPSTREAM, stream: true, requestId: 'req-1', native }) as unknown as AdapterContext;

const HEAD = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"${UPSTREAM}","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":`;
const chunk = (content: string, tail = '},"logprobs":null,"finish_reason":null}]}') => `${HEAD}${JSON.stringify(content)}${tail}`;
const sse = (...events: string[]) => new TextEncoder().encode(events.map((e) => `data: ${e}\n\n`).join(''));

function pieces(native: boolean, events: string[], publicModel?: string): StreamPiece[] {
  const t = createOpenAIStreamTranslator(ctx(native, publicModel));
  return events.flatMap((e) => t.push(sse(e)));
}

/** What the native lane must relay for a chunk: its own text with only the model renamed. */
const renamed = (data: string) => `data: ${data.replace(`"model":"${UPSTREAM}"`, '"model":"fast"')}\n\n`;

describe('OpenAI stream translator, native lane', () => {
  it('relays common chunks as the upstream wrote them, model renamed, and reads their text', () => {
    const events = [
      chunk('Hello'),
      chunk(' wörld 🙂'),
      chunk('say "hi"\n\\ \u00e9 \u2028'),
      chunk(''),
      `${chunk('x', '},"logprobs":null,"finish_reason":null}]')},"usage":null,"obfuscation":"abc"}`,
    ];
    const out = pieces(true, events);
    expect(out).toEqual([
      { frame: renamed(events[0]), text: 'Hello', content: true },
      { frame: renamed(events[1]), text: ' wörld 🙂', content: true },
      { frame: renamed(events[2]), text: 'say "hi"\n\\ \u00e9 \u2028', content: true },
      { frame: renamed(events[3]) },
      { frame: renamed(events[4]), text: 'x', content: true },
    ]);
    for (const [i, p] of out.entries()) expect(JSON.parse(p.frame!.slice(6))).toEqual({ ...JSON.parse(events[i]), model: 'fast' });
  });

  it('relays a chunk unchanged when the upstream already names the public model', () => {
    const e = chunk('Hi');
    expect(pieces(true, [e, e], UPSTREAM).map((p) => p.frame)).toEqual([`data: ${e}\n\n`, `data: ${e}\n\n`]);
  });

  it('reads escaped strings whatever their escapes (\\u, \\/, surrogate pairs)', () => {
    const e = `${HEAD}"a\\/b \\ud83d\\ude00 \\u0041\\t"},"logprobs":null,"finish_reason":null}]}`;
    expect(pieces(true, [chunk('first'), e])[1]).toMatchObject({ text: 'a/b 😀 A\t', content: true });
  });

  // Each case follows a common chunk with the same head, so the chunk is read from where the head ends.
  const cases: Array<[string, string, (p: StreamPiece) => void]> = [
    ['a finish reason', chunk('', '},"logprobs":null,"finish_reason":"stop"}]}'), (p) => expect(p.finishReason).toBe('stop')],
    [
      'usage after the choices',
      chunk('', '},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}'),
      (p) => expect(p).toMatchObject({ finishReason: 'length', usage: { prompt_tokens: 3, completion_tokens: 5 } }),
    ],
    ['an error member', chunk('x', '},"finish_reason":null}],"error":{"message":"overloaded","type":"server_error"}}'), (p) => expect(p.error?.message).toMatch(/overloaded/)],
    ['an invalid escape', `${HEAD}"bad \\q escape"},"finish_reason":null}]}`, (p) => expect(p.error?.message).toMatch(/not JSON/)],
    ['a raw control character in a string', `${HEAD}"tab\there"},"finish_reason":null}]}`, (p) => expect(p.error?.message).toMatch(/not JSON/)],
    ['an unterminated string', `${HEAD}"open},"finish_reason":null}]}`, (p) => expect(p.error?.message).toMatch(/not JSON/)],
    ['trailing garbage', `${chunk('x')}}`, (p) => expect(p.error?.message).toMatch(/not JSON/)],
    ['a bad number', `${chunk('x', '},"finish_reason":null}],"n":01}')}`, (p) => expect(p.error?.message).toMatch(/not JSON/)],
    ['a tool call', chunk('', '},"finish_reason":null}]}').replace('"content":""', '"content":"","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]'), (p) => expect(p).toMatchObject({ content: true, text: '{}' })],
    ['a refusal', chunk('', '},"finish_reason":null}]}').replace('"content":""', '"content":"","refusal":"no"'), (p) => expect(p.content).toBe(true)],
    ['reasoning text', chunk('', '},"finish_reason":null}]}').replace('"content":""', '"content":"","reasoning_content":"hmm"'), (p) => expect(p).toMatchObject({ content: true, text: 'hmm' })],
    ['a second choice', chunk('a', '},"finish_reason":null},{"index":1,"delta":{"content":"b"},"finish_reason":null}]}'), (p) => expect(p.text).toBe('ab')],
    ['spaces between tokens', chunk('a').replace('"choices":[', '"choices": ['), (p) => expect(p).toMatchObject({ text: 'a', content: true })],
  ];
  for (const [name, event, check] of cases) {
    it(`still reads ${name} in a chunk that starts like the previous one`, () => {
      const out = pieces(true, [chunk('primer'), event]);
      expect(out).toHaveLength(2);
      check(out[1]);
      if (!out[1].error) expect(JSON.parse(out[1].frame!.slice(6)).model).toBe('fast');
    });
  }

  it('reports a malformed first chunk', () => {
    expect(pieces(true, [`${HEAD}"x"},"finish_reason":null}]`])[0].error?.message).toMatch(/not JSON/);
  });
});

describe('OpenAI stream translator, translated lane', () => {
  it('turns common chunks into the same text events as the full parse', () => {
    const out = pieces(false, [chunk('Hel'), chunk('lo'), chunk(''), chunk('', '},"logprobs":null,"finish_reason":"stop"}]}')]);
    expect(out).toEqual([
      { events: [{ type: 'start', choice: 0, id: 'chatcmpl-1' }, { type: 'text', choice: 0, text: 'Hel', logprobs: undefined }], text: 'Hel', content: true },
      { events: [{ type: 'text', choice: 0, text: 'lo', logprobs: undefined }], text: 'lo', content: true },
      { events: [] },
      { events: [{ type: 'finish', choice: 0, reason: 'stop' }], finishReason: 'stop' },
    ]);
  });
});
