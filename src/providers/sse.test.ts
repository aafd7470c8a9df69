import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Feeds `input` cut at the given byte offsets; returns every event and the end's verdict. */
function parse(input: Uint8Array, cuts: number[]): { events: SseEvent[]; truncated: boolean } {
  const p = new SseParser();
  const events: SseEvent[] = [];
  let at = 0;
  for (const cut of [...cuts, input.byteLength]) {
    events.push(...p.push(input.subarray(at, cut)));
    at = cut;
  }
  const end = p.end();
  return { events: [...events, ...end.events], truncated: end.truncated };
}

const STREAM =
  '\uFEFFdata: {"text":"Ça marche 🙂"}\n\n' +
  ': a comment\n' +
  'event: message_delta\r\ndata: {"a":1}\r\n\r\n' +
  'data:no space\n\n' +
  'data: one\ndata: two\n\n' +
  'data:\n\n' +
  'event: ping\n\n' +
  'data: [DONE]\n\n';

const EXPECTED: SseEvent[] = [
  { event: undefined, data: '{"text":"Ça marche 🙂"}' },
  { event: 'message_delta', data: '{"a":1}' },
  { event: undefined, data: 'no space' },
  { event: undefined, data: 'one\ntwo' },
  { event: undefined, data: '' },
  { event: undefined, data: '[DONE]' },
];

describe('SSE parser', () => {
  it('reads events, comments, CRLF, multi-line data and a leading byte order mark', () => {
    expect(parse(bytes(STREAM), [])).toEqual({ events: EXPECTED, truncated: false });
  });

  it('gives the same events whatever the network cuts, inside multi-byte characters included', () => {
    const input = bytes(STREAM);
    for (let cut = 1; cut < input.byteLength; cut++) {
      expect(parse(input, [cut]).events, `cut at byte ${cut}`).toEqual(EXPECTED);
    }
    const everyByte = Array.from({ length: input.byteLength - 1 }, (_, i) => i + 1);
    expect(parse(input, everyByte).events).toEqual(EXPECTED);
  });

  it('holds a partial event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.push(bytes('data: {"a":'))).toEqual([]);
    expect(p.push(bytes('1}\n'))).toEqual([]);
    expect(p.push(bytes('\n'))).toEqual([{ event: undefined, data: '{"a":1}' }]);
  });

  it('reports a stream cut mid-event, and a clean end as not truncated', () => {
    expect(parse(bytes('data: [DONE]\n\ndata: {"a"'), []).truncated).toBe(true);
    expect(parse(bytes('data: [DONE]\n\ndata: {"a":1}\n'), []).truncated).toBe(true);
    expect(parse(bytes('data: [DONE]\n\n'), []).truncated).toBe(false);
  });

  it('decodes invalid UTF-8 as replacement characters, never throwing', () => {
    const input = new Uint8Array([...bytes('data: a'), 0xff, 0xc3, ...bytes('b\n\n')]);
    expect(parse(input, [8]).events).toEqual([{ event: undefined, data: 'a\uFFFD\uFFFDb' }]);
  });
});
