import { describe, expect, it } from 'vitest';
import type { ModelConfig, ProviderConfig } from '../../config/schema.js';
import type { ChatChunk } from '../../core/types.js';
import type { AdapterContext, } from '../types.js';
import { createAnthropicAdapter } from './adapter.js';
import { type ChatPiece, withChatJson } from '../../../test/helpers/chat-pieces.js';

const provider: ProviderConfig = {
  id: 'anthropic',
  type: 'anthropic',
  api_key: 'k',
  headers: {},
  timeouts: { connect_ms: 1, first_byte_ms: 1, idle_ms: 1, request_ms: 1 },
  connections: 1,
    max_in_flight: 20000,
    queue_timeout_ms: 2000,
    http2: false,
  tokens_per_second: 0,
};
const model: ModelConfig = {
  id: 'claude-haiku-4.5',
  kind: 'chat',
  context_window: 200000,
  max_output_tokens: 8192,
  pricing: { input_per_mtok: 1, output_per_mtok: 5 },
  maintenance: false,
  channels: [{ provider: 'anthropic', upstream_model: 'claude-haiku-4-5', priority: 0, weight: 1 }],
};
const ctx: AdapterContext = { provider, model, upstreamModel: 'claude-haiku-4-5', stream: true, requestId: 'req-7' };
const adapter = createAnthropicAdapter(provider);

type Json = Record<string, unknown>;
const frame = (data: Json): string => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;

const start: Json = {
  type: 'message_start',
  message: {
    id: 'msg_01Stream',
    type: 'message',
    role: 'assistant',
    model: 'claude-haiku-4-5',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 25, cache_creation_input_tokens: 3, cache_read_input_tokens: 40, output_tokens: 1 },
  },
};
const textStart: Json = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } };
const text = (t: string, index = 0): Json => ({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: t } });
const stop = (index: number): Json => ({ type: 'content_block_stop', index });
const delta = (reason: string, output: number): Json => ({ type: 'message_delta', delta: { stop_reason: reason, stop_sequence: null }, usage: { output_tokens: output } });
const messageStop: Json = { type: 'message_stop' };
const ping: Json = { type: 'ping' };

function bytesOf(events: Json[]): Uint8Array {
  return new TextEncoder().encode(events.map(frame).join(''));
}

/** Feeds the bytes in pieces of `size`, so that lines, events and multi-byte characters straddle pieces. */
function run(bytes: Uint8Array, size = bytes.length): ChatPiece[] {
  const t = adapter.streamTranslator(ctx);
  const out: ChatPiece[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(...t.push(bytes.subarray(at, at + size)));
  out.push(...t.end());
  return withChatJson(out, ctx.model.id);
}

function chunks(pieces: ChatPiece[]): ChatChunk[] {
  return pieces.filter((p) => p.json !== undefined).map((p) => JSON.parse(p.json as string) as ChatChunk);
}

function contentOf(pieces: ChatPiece[]): string {
  return chunks(pieces)
    .map((c) => c.choices[0]?.delta.content ?? '')
    .join('');
}

const simple = [start, textStart, ping, text('Héllo, '), text('wörld 🌍!'), stop(0), delta('end_turn', 6), messageStop];

describe('stream: text', () => {
  it('starts with a role chunk that is not content, then content chunks', () => {
    const pieces = run(bytesOf(simple));
    const first = JSON.parse(pieces[0].json as string) as ChatChunk;
    expect(first.choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null });
    expect(pieces[0].content).toBe(false);
    expect(pieces[1]).toMatchObject({ content: true, text: 'Héllo, ' });
  });

  it('every chunk is a chat.completion.chunk with one stable id and the public model id', () => {
    const cs = chunks(run(bytesOf(simple)));
    expect(cs.length).toBeGreaterThan(3);
    for (const c of cs) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe('chatcmpl-msg_01Stream');
      expect(c.model).toBe('claude-haiku-4.5');
      expect(typeof c.created).toBe('number');
    }
  });

  it.each([1, 2, 3, 5, 17, 64])('yields the same text when bytes arrive %d at a time (mid-line, mid-UTF-8)', (size) => {
    const pieces = run(bytesOf(simple), size);
    expect(contentOf(pieces)).toBe('Héllo, wörld 🌍!');
    expect(pieces.some((p) => p.error)).toBe(false);
  });

  it('accepts CRLF line endings', () => {
    const crlf = new TextEncoder().encode(simple.map(frame).join('').replace(/\n/g, '\r\n'));
    expect(contentOf(run(crlf, 9))).toBe('Héllo, wörld 🌍!');
  });

  it('emits the finish reason as an empty-delta chunk on message_delta', () => {
    const pieces = run(bytesOf(simple));
    const finish = pieces.find((p) => p.finishReason);
    expect(finish?.finishReason).toBe('stop');
    expect((JSON.parse(finish?.json as string) as ChatChunk).choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' });
  });

  it.each([
    ['max_tokens', 'length'],
    ['stop_sequence', 'stop'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('maps stop_reason %s to %s', (reason, finish) => {
    const pieces = run(bytesOf([start, textStart, text('x'), stop(0), delta(reason, 2), messageStop]));
    expect(pieces.find((p) => p.finishReason)?.finishReason).toBe(finish);
  });

  it('ends with a usage-only chunk on message_stop carrying input from message_start and the final output count', () => {
    const pieces = run(bytesOf(simple));
    const last = pieces[pieces.length - 1];
    const usage = { prompt_tokens: 68, completion_tokens: 6, total_tokens: 74, prompt_tokens_details: { cached_tokens: 40 } };
    expect(last).toMatchObject({ usageOnly: true, done: true, usage });
    expect(JSON.parse(last.json as string)).toMatchObject({ choices: [], usage });
  });

  it('treats message_delta usage as running totals that replace earlier values', () => {
    const events = [start, textStart, text('a'), delta('end_turn', 3), { type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 5, input_tokens: 30 } }, messageStop];
    const last = run(bytesOf(events)).at(-1);
    expect(last?.usage).toMatchObject({ prompt_tokens: 73, completion_tokens: 5 });
  });

  it('passes thinking on as reasoning (not content) and ignores ping, content_block_stop and unknown events', () => {
    const events = [
      start,
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'secret' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
      stop(0),
      { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      ping,
      { type: 'some_future_event', foo: 1 },
      text('visible', 1),
      stop(1),
      delta('end_turn', 4),
      messageStop,
    ];
    const pieces = run(bytesOf(events));
    expect(contentOf(pieces)).toBe('visible');
    const reasoning = chunks(pieces).map((c) => (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '');
    expect(reasoning.join('')).toBe('secret');
    expect(pieces.flatMap((p) => p.events ?? []).filter((e) => e.type === 'reasoning_signature')).toEqual([{ type: 'reasoning_signature', choice: 0, signature: 'sig' }]);
    expect(pieces.filter((p) => p.content)).toHaveLength(2);
  });
});

describe('stream: tool calls', () => {
  const toolEvents: Json[] = [
    start,
    textStart,
    text('Let me check.'),
    stop(0),
    { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_A', name: 'get_weather', input: {} } },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Par' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'is"}' } },
    stop(1),
    { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_B', name: 'get_time', input: {} } },
    { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"tz":"CET"}' } },
    stop(2),
    delta('tool_use', 40),
    messageStop,
  ];

  it('opens each tool_use block with id, name and empty arguments, numbering tool calls from 0', () => {
    const cs = chunks(run(bytesOf(toolEvents), 11));
    const opens = cs.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).filter((t) => t.id);
    expect(opens).toEqual([
      { index: 0, id: 'toolu_A', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 1, id: 'toolu_B', type: 'function', function: { name: 'get_time', arguments: '' } },
    ]);
  });

  it('streams input_json_delta as argument deltas that concatenate to the full JSON', () => {
    const pieces = run(bytesOf(toolEvents), 4);
    const args = ['', ''];
    for (const c of chunks(pieces)) for (const t of c.choices[0]?.delta.tool_calls ?? []) args[t.index] += t.function?.arguments ?? '';
    expect(JSON.parse(args[0])).toEqual({ city: 'Paris' });
    expect(JSON.parse(args[1])).toEqual({ tz: 'CET' });
    expect(pieces.filter((p) => p.text === 'is"}')).toHaveLength(1);
    expect(pieces.find((p) => p.finishReason)?.finishReason).toBe('tool_calls');
  });

  it('marks tool-call pieces as content for first-token commit', () => {
    const pieces = run(bytesOf(toolEvents));
    const toolPieces = pieces.filter((p) => p.json?.includes('"tool_calls":['));
    expect(toolPieces.length).toBe(5);
    expect(toolPieces.every((p) => p.content === true)).toBe(true);
  });
});

describe('stream: failures', () => {
  it('turns an error event into an error piece mapped like the HTTP error', () => {
    const events = [start, textStart, text('par'), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }];
    const pieces = run(bytesOf(events), 7);
    const err = pieces.find((p) => p.error)?.error;
    expect(err?.code).toBe('provider_error');
    expect(err?.retryable).toBe(true);
    expect(err?.message).toContain('Overloaded');
    expect(pieces.filter((p) => p.error)).toHaveLength(1);
  });

  it('maps an invalid_request_error event to a non-retryable 400', () => {
    const pieces = run(bytesOf([start, { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }]));
    expect(pieces.find((p) => p.error)?.error).toMatchObject({ status: 400, retryable: false });
  });

  it('reports a stream that ends before message_stop as provider_error "ended early"', () => {
    const pieces = run(bytesOf([start, textStart, text('half')]));
    const err = pieces.at(-1)?.error;
    expect(err?.code).toBe('provider_error');
    expect(err?.message).toMatch(/ended early/);
    expect(pieces.some((p) => p.done)).toBe(false);
  });

  it('reports a stream cut mid-JSON as an error piece, not a throw', () => {
    const bytes = new TextEncoder().encode(`${frame(start)}event: content_block_delta\ndata: {"type":"content_block_delta","ind`);
    const pieces = run(bytes, 13);
    expect(pieces.at(-1)?.error?.code).toBe('provider_error');
  });

  it('reports a complete event with malformed JSON as an error piece and ignores what follows', () => {
    const bytes = new TextEncoder().encode(`${frame(start)}event: content_block_delta\ndata: {"type":"content_bl,,}\n\n${frame(text('late'))}${frame(messageStop)}`);
    const pieces = run(bytes, 5);
    const errors = pieces.filter((p) => p.error);
    expect(errors).toHaveLength(1);
    expect(errors[0].error?.code).toBe('provider_error');
    expect(contentOf(pieces)).toBe('');
  });

  it('returns nothing more from end() after message_stop', () => {
    const t = adapter.streamTranslator(ctx);
    t.push(bytesOf(simple));
    expect(t.end()).toEqual([]);
  });
});
