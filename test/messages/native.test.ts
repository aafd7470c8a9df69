// The native lane of the Anthropic adapter: the client's Messages body reaches Anthropic with
// only `model` replaced and the client's version and beta headers; the answer and the stream
// come back byte for byte except the model id, with usage, stop reason and errors read.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenUsageOf } from '../../src/core/canonical.js';
import type { ModelConfig, ProviderConfig } from '../../src/config/schema.js';
import { createAnthropicAdapter } from '../../src/providers/anthropic/adapter.js';
import type { AdapterContext, NativeProtocol, StreamPiece } from '../../src/providers/types.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-upstream.js';
import { startTestGateway } from '../helpers/gateway.js';
import { chatModel } from '../helpers/upstream.js';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const PDF = Buffer.from('%PDF-1.4\n%…\n').toString('base64');

function provider(baseUrl: string, headers: Record<string, string> = {}): ProviderConfig {
  return { id: 'anthropic', type: 'anthropic', base_url: baseUrl, api_key: 'sk-ant-upstream', headers, timeouts: { connect_ms: 1000, first_byte_ms: 1000, idle_ms: 1000, request_ms: 1000 }, connections: 4, max_in_flight: 20000, queue_timeout_ms: 2000, http2: false, tokens_per_second: 0 };
}

const MODEL = { id: 'claude-sonnet-4.5', kind: 'chat', context_window: 200000, max_output_tokens: 64000, pricing: { input_per_mtok: 3, output_per_mtok: 15 }, maintenance: false, channels: [] } as unknown as ModelConfig;

function context(p: ProviderConfig, stream: boolean): AdapterContext {
  return { provider: p, model: MODEL, upstreamModel: 'claude-sonnet-4-5', stream, requestId: 'req_native', native: true };
}

function nativeOf(p: ProviderConfig): NativeProtocol {
  const n = createAnthropicAdapter(p).native?.messages;
  if (!n) throw new Error('the Anthropic adapter offers no native Messages protocol');
  return n;
}

/** A request with every block type, cache_control in several places and fields this gateway does not know. */
const EVERY_BLOCK = {
  model: 'claude-sonnet-4-5-20250929',
  max_tokens: 2048,
  system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Look at these.' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
        { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF }, cache_control: { type: 'ephemeral', ttl: '1h' } },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'The user wants the weather.', signature: 'EqQBCkYIBxgCKkD…signature' },
        { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP' },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris', units: ['c'] } },
      ],
    },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_01A', content: [{ type: 'text', text: '18°C, ☀️' }], cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Thanks — and tomorrow?' },
      ],
    },
  ],
  tools: [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } }, cache_control: { type: 'ephemeral' } }],
  tool_choice: { type: 'auto', disable_parallel_tool_use: false },
  thinking: { type: 'enabled', budget_tokens: 1024 },
  stop_sequences: ['\n\nHuman:'],
  temperature: 1,
  top_k: 5,
  metadata: { user_id: 'user-123' },
  service_tier: 'auto',
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  stream: false,
};

describe('native lane request', () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    fake = await startFakeAnthropic();
  });
  afterAll(async () => {
    await fake?.close();
  });

  it('sends a body with every block type to Anthropic identical to the client\'s except model', async () => {
    const p = provider(fake.url);
    const up = nativeOf(p).request(EVERY_BLOCK, context(p, false), { 'anthropic-version': '2023-06-01' });
    const res = await fetch(up.url, { method: up.method, headers: up.headers, body: up.body });
    expect(res.status).toBe(200);
    const seen = fake.requests.at(-1)!;
    expect(seen.path).toBe('/v1/messages');
    expect(seen.body).toEqual({ ...EVERY_BLOCK, model: 'claude-sonnet-4-5' });
    // Key order is the client's, too: only the value of `model` changed.
    expect(up.body).toBe(JSON.stringify(EVERY_BLOCK).replace('"claude-sonnet-4-5-20250929"', '"claude-sonnet-4-5"'));
    expect(seen.headers['x-api-key']).toBe('sk-ant-upstream');
  });

  it('forwards the client\'s anthropic-version and anthropic-beta, merging beta flags with the operator\'s', () => {
    const p = provider('http://127.0.0.1:1', { 'anthropic-beta': 'context-1m-2025-08-07' });
    const up = nativeOf(p).request(EVERY_BLOCK, context(p, true), { 'anthropic-version': '2026-10-21', 'anthropic-beta': 'interleaved-thinking-2025-05-14,context-1m-2025-08-07' });
    expect(up.url).toBe('http://127.0.0.1:1/v1/messages');
    expect(up.headers['anthropic-version']).toBe('2026-10-21');
    expect(up.headers['anthropic-beta']).toBe('context-1m-2025-08-07,interleaved-thinking-2025-05-14');
  });

  it('keeps an operator-pinned anthropic-version', () => {
    const p = provider('http://127.0.0.1:1', { 'anthropic-version': '2023-06-01' });
    const up = nativeOf(p).request(EVERY_BLOCK, context(p, false), { 'anthropic-version': '2026-10-21' });
    expect(up.headers['anthropic-version']).toBe('2023-06-01');
  });
});

describe('native lane answer', () => {
  const body = `{"id":"msg_01X","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"thinking","thinking":"Hm.","signature":"sig=="},{"type":"text","text":"It is \\"sunny\\" — 18°C","citations":null},{"type":"tool_use","id":"toolu_1","name":"f","input":{"model":"keep me"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":40,"output_tokens_details":{"thinking_tokens":7},"future_field":{"x":1}},"container":null}`;

  it('relays the upstream body as it was, with only the model id replaced, and reads usage and stop reason', () => {
    const p = provider('http://127.0.0.1:1');
    const a = nativeOf(p).response!(body, context(p, false));
    expect(a.body).toBe(body.replace('"model":"claude-sonnet-4-5-20250929"', '"model":"claude-sonnet-4.5"'));
    expect(a.finishReason).toBe('tool_calls');
    expect(tokenUsageOf(a.usage)).toEqual({ prompt: 2112, completion: 40, cacheRead: 2000, cacheWrite: 100, reasoning: 7 });
    expect(a.text).toContain('It is "sunny"');
  });

  it('refuses a body that is not a Messages answer as a provider error', () => {
    const p = provider('http://127.0.0.1:1');
    expect(() => nativeOf(p).response!('<html>', context(p, false))).toThrow(expect.objectContaining({ code: 'provider_error' }));
  });
});

/** An upstream stream with every kind of frame, including one this gateway has never seen. */
const STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01S","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":50,"cache_read_input_tokens":3000,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me see…"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCkYIBxgC=="}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"query\\": \\"weather\\"}"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":2}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":3,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","url":"https://example.com","title":"Weather","encrypted_content":"abc","page_age":null}]}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":3}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":4,"content_block":{"type":"text","text":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"Sunny — 18°C "}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":4,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","url":"https://example.com","cited_text":"18"}}}\n\n',
  'event: future_event_2027\ndata: {"type":"future_event_2027","payload":[1,2,3]}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":4}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":57,"output_tokens_details":{"thinking_tokens":20},"server_tool_use":{"web_search_requests":1}}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

describe('native lane stream', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Odd-sized writes split frames, lines and multi-byte characters across network chunks.
      const bytes = Buffer.from(STREAM);
      for (let at = 0; at < bytes.length; at += 37) res.write(bytes.subarray(at, at + 37));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function relay(): Promise<StreamPiece[]> {
    const p = provider(url);
    const ctx = context(p, true);
    const native = nativeOf(p);
    const up = native.request({ ...EVERY_BLOCK, stream: true }, ctx, {});
    const res = await fetch(up.url, { method: up.method, headers: up.headers, body: up.body });
    const t = native.streamTranslator(ctx);
    const pieces: StreamPiece[] = [];
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) pieces.push(...t.push(chunk));
    pieces.push(...t.end());
    return pieces;
  }

  it('relays every frame byte for byte except the model id in message_start', async () => {
    const pieces = await relay();
    const relayed = pieces.map((p) => p.frame ?? '').join('');
    expect(relayed).toBe(STREAM.replace('"model":"claude-sonnet-4-5-20250929"', '"model":"claude-sonnet-4.5"'));
    expect(pieces.some((p) => p.error)).toBe(false);
  });

  it('reads usage with cache and thinking tokens, the stop reason, the end, and the output text for counting', async () => {
    const pieces = await relay();
    const last = pieces.at(-1)!;
    expect(last.done).toBe(true);
    expect(tokenUsageOf(last.usage)).toEqual({ prompt: 3060, completion: 57, cacheRead: 3000, cacheWrite: 50, reasoning: 20 });
    expect(pieces.find((p) => p.finishReason)?.finishReason).toBe('stop');
    expect(pieces.map((p) => p.text ?? '').join('')).toBe('Let me see…{"query": "weather"}Sunny — 18°C ');
    expect(pieces.find((p) => p.frame?.includes('message_start'))?.content).toBe(false);
    expect(pieces.find((p) => p.frame?.includes('text_delta'))?.content).toBe(true);
  });

  it('turns an error event into an error piece and a stream cut before message_stop into a retryable provider error', () => {
    const p = provider(url);
    const ctx = context(p, true);
    const t = nativeOf(p).streamTranslator(ctx);
    const enc = new TextEncoder();
    const first = t.push(enc.encode(STREAM.slice(0, STREAM.indexOf('event: content_block_start'))));
    expect(first[0].frame).toContain('"model":"claude-sonnet-4.5"');
    const err = t.push(enc.encode('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'));
    expect(err).toEqual([{ error: expect.objectContaining({ code: 'provider_error', upstreamStatus: 529, retryable: true }) }]);

    const cut = nativeOf(p).streamTranslator(ctx);
    cut.push(enc.encode(STREAM.slice(0, 400)));
    const tail = cut.end();
    expect(tail.at(-1)?.error).toMatchObject({ code: 'provider_error', retryable: true });
    expect(tail.some((piece) => piece.frame?.includes('content_block_start'))).toBe(false);
  });
});

describe('native lane through the gateway', () => {
  it('delivers the upstream stream to a Messages client byte for byte except the model id, and the body upstream is the client\'s except model', async () => {
    const seen: string[] = [];
    const upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push(body);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const bytes = Buffer.from(STREAM);
        for (let at = 0; at < bytes.length; at += 37) res.write(bytes.subarray(at, at + 37));
        res.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const gw = await startTestGateway({
      raw: {
        providers: [{ id: 'anthropic', type: 'anthropic', base_url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, api_key: 'sk-ant-upstream' }],
        models: [chatModel('claude-sonnet-4.5', 'anthropic', 'claude-sonnet-4-5', { aliases: ['claude-sonnet-4-5-20250929'], context_window: 200000, max_output_tokens: 64000 })],
      },
    });
    try {
      const org = await gw.createOrg(10);
      const key = (await gw.createKey(org.mk)).key;
      const body = { ...EVERY_BLOCK, stream: true };
      const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      // The only other change: the closing usage (message_delta) carries the request's cost.
      const text = await res.text();
      const delta = text.split('\n\n').find((e) => e.startsWith('event: message_delta')) ?? '';
      const cost = (JSON.parse(delta.slice(delta.indexOf('data:') + 5)) as { usage: { cost: number } }).usage.cost;
      expect(cost).toBeGreaterThan(0);
      const expected = STREAM.replace('"model":"claude-sonnet-4-5-20250929"', '"model":"claude-sonnet-4.5"').replace('"web_search_requests":1}}}', `"web_search_requests":1},"cost":${cost}}}`);
      expect(text).toBe(expected);
      expect(JSON.parse(seen[0])).toEqual({ ...body, model: 'claude-sonnet-4-5' });
    } finally {
      await gw.close();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});
