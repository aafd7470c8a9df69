// SPEC §3 "Chunks are forwarded as they arrive: no buffering", through the gateway and the
// Anthropic adapter: the upstream writes one event and waits; the test releases the next
// event only once the client holds the translated chunk of the previous one. Any buffering
// (in the translator, the relay or the HTTP writer) stalls the stream and fails the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatedAnthropic, startGatedAnthropic } from '../fakes/gated-anthropic.js';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { StreamReader, sseJson, within } from '../helpers/sse.js';

const EVENTS = [
  {
    type: 'message_start',
    message: {
      id: 'msg_01GatedStreamTest000000',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-6',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 25, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'ping' },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Alpha' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' beta' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' gamma' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_01GatedTool', name: 'get_weather', input: {} } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"location":' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: ' "Paris"}' } },
  { type: 'content_block_stop', index: 1 },
  { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 12 } },
  { type: 'message_stop' },
];

interface ClientView {
  content: string;
  toolName: string;
  args: string;
  finish: string | null;
  usage: { prompt_tokens: number; completion_tokens: number } | undefined;
  done: boolean;
}

/** What the client has assembled from the SSE text received so far. */
function view(text: string): ClientView {
  const v: ClientView = { content: '', toolName: '', args: '', finish: null, usage: undefined, done: text.includes('data: [DONE]\n\n') };
  for (const chunk of sseJson(text)) {
    const choices = (chunk.choices ?? []) as Array<{ delta?: { content?: string; tool_calls?: Array<{ function?: { name?: string; arguments?: string } }> }; finish_reason?: string | null }>;
    for (const c of choices) {
      v.content += c.delta?.content ?? '';
      for (const tc of c.delta?.tool_calls ?? []) {
        v.toolName += tc.function?.name ?? '';
        v.args += tc.function?.arguments ?? '';
      }
      v.finish = c.finish_reason ?? v.finish;
    }
    if (chunk.usage) v.usage = chunk.usage as ClientView['usage'];
  }
  return v;
}

let upstream: GatedAnthropic;
let gw: TestGateway;
let key: string;

beforeAll(async () => {
  upstream = await startGatedAnthropic(EVENTS);
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-gated' }],
      models: [
        {
          id: 'claude-gated',
          context_window: 200000,
          max_output_tokens: 8192,
          pricing: { input_per_mtok: 3, output_per_mtok: 15 },
          channels: [{ provider: 'anthropic', upstream_model: 'claude-sonnet-4-6' }],
        },
      ],
    },
  });
  const { mk } = await gw.createOrg(10);
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('SPEC §3 streaming: chunks are forwarded as they arrive (anthropic provider)', () => {
  it('the client holds the translated chunk for event k before the upstream sends event k+1', async () => {
    const pending = chat(gw.url, key, {
      model: 'claude-gated',
      messages: [{ role: 'user', content: 'Stream slowly, then call the tool.' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
      stream: true,
      stream_options: { include_usage: true },
    });

    // Up to the first text delta: first-token commit holds the headers until content exists.
    upstream.release(4);
    const res = await within(pending, 5000, 'the response headers after the first text delta');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = new StreamReader(res);
    const expectAfter = async (released: number, what: string, ok: (v: ClientView) => boolean) => {
      const text = await reader.until((t) => ok(view(t)), 3000, `${what} (after upstream event ${released - 1})`);
      // The upstream has sent exactly what was released: the client got it without the next event.
      expect(upstream.sent, what).toBe(released);
      return view(text);
    };

    await expectAfter(4, 'the first text delta', (v) => v.content === 'Alpha');
    upstream.release(1);
    await expectAfter(5, 'the second text delta', (v) => v.content === 'Alpha beta');
    upstream.release(1);
    await expectAfter(6, 'the third text delta', (v) => v.content === 'Alpha beta gamma');

    // content_block_stop (nothing to forward), then the tool_use block start.
    upstream.release(2);
    await expectAfter(8, 'the tool call start', (v) => v.toolName === 'get_weather');
    upstream.release(1);
    await expectAfter(9, 'the first argument fragment', (v) => v.args === '{"location":');
    upstream.release(1);
    await expectAfter(10, 'the second argument fragment', (v) => v.args === '{"location": "Paris"}');

    // content_block_stop, then message_delta: the finish reason must not wait for message_stop.
    upstream.release(2);
    const beforeStop = await expectAfter(12, 'the finish reason', (v) => v.finish === 'tool_calls');
    expect(beforeStop.done).toBe(false);

    upstream.release(1);
    const end = await expectAfter(13, 'usage and [DONE]', (v) => v.done);
    expect(end.usage).toMatchObject({ prompt_tokens: 25, completion_tokens: 12 });
    expect(end.content).toBe('Alpha beta gamma');
    expect(JSON.parse(end.args)).toEqual({ location: 'Paris' });
    await reader.rest();
    expect(reader.done).toBe(true);
  });
});
