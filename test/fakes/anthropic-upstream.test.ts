// The official SDK is the judge of the fake: if the fake drifts from the real protocol,
// the SDK's parsing, stream accumulation or error typing breaks here first.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelConfig, ProviderConfig } from '../../src/config/schema.js';
import type { ChatChunk, ChatRequest } from '../../src/core/types.js';
import { createAnthropicAdapter } from '../../src/providers/anthropic/adapter.js';
import type { AdapterContext, } from '../../src/providers/types.js';
import { countFakeTokens, type FakeAnthropic, startFakeAnthropic } from './anthropic-upstream.js';
import { type ChatPiece, withChatJson } from '../helpers/chat-pieces.js';

let fake: FakeAnthropic;
let client: Anthropic;
const MODEL = 'claude-sonnet-4-6';

beforeAll(async () => {
  fake = await startFakeAnthropic({ apiKey: 'sk-ant-fake' });
  client = new Anthropic({ baseURL: fake.url, apiKey: 'sk-ant-fake', maxRetries: 0 });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
});

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
};

describe('non-stream messages', () => {
  it('answers with a deterministic echo and realistic usage', async () => {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 100, system: 'Be nice.', messages: [{ role: 'user', content: 'Hello there' }] });
    expect(msg.type).toBe('message');
    expect(msg.id).toMatch(/^msg_01[A-Za-z0-9]{22}$/);
    expect(msg.role).toBe('assistant');
    expect(msg.model).toBe(MODEL);
    expect(msg.content).toEqual([{ type: 'text', text: 'You said: Hello there' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.stop_sequence).toBeNull();
    expect(msg.usage.output_tokens).toBe(countFakeTokens('You said: Hello there'));
    expect(msg.usage.input_tokens).toBe(countFakeTokens('Be nice.') + 3 + countFakeTokens('Hello there'));
    expect(msg.usage.cache_read_input_tokens).toBe(0);
  });

  it('records what the client sent, headers included', async () => {
    await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    const r = fake.requests[0];
    expect(r.path).toBe('/v1/messages');
    // This SDK generation sends the key as a bearer token and pins API version 2026-10-21.
    expect(r.headers.authorization).toBe('Bearer sk-ant-fake');
    expect(r.headers['anthropic-version']).toBe('2026-10-21');
    expect(r.body).toMatchObject({ model: MODEL, max_tokens: 10 });
  });

  it('honours max_tokens by truncating with stop_reason max_tokens', async () => {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 3, messages: [{ role: 'user', content: 'one two three four five' }] });
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.content).toEqual([{ type: 'text', text: 'You said: one' }]);
    expect(msg.usage.output_tokens).toBe(3);
  });

  it('honours stop_sequences', async () => {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 100, stop_sequences: ['STOP'], messages: [{ role: 'user', content: 'alpha STOP beta' }] });
    expect(msg.stop_reason).toBe('stop_sequence');
    expect(msg.stop_sequence).toBe('STOP');
    expect(msg.content).toEqual([{ type: 'text', text: 'You said: alpha ' }]);
  });
});

describe('streaming messages', () => {
  it('streams the documented event sequence, ping included', async () => {
    const res = await fetch(`${fake.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-fake', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'a b c' }] }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    const names = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(names[0]).toBe('message_start');
    expect(names.slice(1, 3)).toEqual(['content_block_start', 'ping']);
    expect(names.filter((n) => n === 'content_block_delta').length).toBeGreaterThan(1);
    expect(names.slice(-4)).toEqual(['content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  });

  it('produces a finalMessage equal to the non-stream answer, through the SDK accumulator', async () => {
    const params = { model: MODEL, max_tokens: 100, messages: [{ role: 'user' as const, content: 'stream me please' }] };
    const stream = client.messages.stream(params);
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const final = await stream.finalMessage();
    const plain = await client.messages.create(params);
    expect(texts.length).toBeGreaterThan(1);
    expect(texts.join('')).toBe('You said: stream me please');
    expect(final.content).toEqual(plain.content);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.input_tokens).toBe(plain.usage.input_tokens);
    expect(final.usage.output_tokens).toBe(plain.usage.output_tokens);
  });

  it('yields typed raw events in order', async () => {
    const events = await client.messages.create({ model: MODEL, max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'x' }] });
    const types: string[] = [];
    for await (const ev of events) types.push(ev.type);
    expect(types[0]).toBe('message_start');
    expect(types.at(-2)).toBe('message_delta');
    expect(types.at(-1)).toBe('message_stop');
  });

  it('surfaces a scripted mid-stream error event as an SDK APIError', async () => {
    fake.script({ streamError: { type: 'overloaded_error' }, afterEvents: 2 });
    const stream = client.messages.stream({ model: MODEL, max_tokens: 20, messages: [{ role: 'user', content: 'x' }] });
    await expect(stream.finalMessage()).rejects.toMatchObject({ type: 'overloaded_error' });
  });
});

describe('tool use', () => {
  it('calls a tool when tool_choice requires one, with input following the schema', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools: [weatherTool],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'weather in Oslo?' }],
    });
    expect(msg.stop_reason).toBe('tool_use');
    const block = msg.content[0];
    expect(block.type).toBe('tool_use');
    if (block.type !== 'tool_use') return;
    expect(block.id).toMatch(/^toolu_01/);
    expect(block.name).toBe('get_weather');
    expect(block.input).toEqual({ city: 'example', unit: 'celsius' });
  });

  it('calls a tool when asked to "use the tool", and streams its input as input_json_delta', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 100, tools: [weatherTool], messages: [{ role: 'user', content: 'Please use the tool' }] });
    const partials: string[] = [];
    stream.on('inputJson', (p) => partials.push(p));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(final.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'example', unit: 'celsius' } });
    expect(partials.filter((p) => p !== '').length).toBeGreaterThan(1);
  });

  it('answers a tool result with text', async () => {
    const first = await client.messages.create({ model: MODEL, max_tokens: 100, tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather' }, messages: [{ role: 'user', content: 'go' }] });
    const use = first.content[0];
    if (use.type !== 'tool_use') throw new Error('expected tool_use');
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '21 degrees' }] },
      ],
    });
    expect(msg.content).toEqual([{ type: 'text', text: 'Tool result: 21 degrees' }]);
  });

  it('rejects a tool_result that answers no tool_use, as the real API does', async () => {
    await expect(
      client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_nope', content: 'x' }] }] }),
    ).rejects.toBeInstanceOf(Anthropic.BadRequestError);
  });
});

describe('errors', () => {
  it('returns a scripted 529 overloaded_error for the next N requests, then recovers', async () => {
    fake.script({ status: 529, type: 'overloaded_error', times: 2 });
    for (let i = 0; i < 2; i++) {
      const err = await client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.InternalServerError);
      expect(err).toMatchObject({ status: 529, type: 'overloaded_error', error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    }
    const ok = await client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    expect(ok.type).toBe('message');
  });

  it('defaults the error type from the status, e.g. 429 rate_limit_error with retry-after', async () => {
    fake.script({ status: 429, headers: { 'retry-after': '3' } });
    const err = await client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.RateLimitError>).headers.get('retry-after')).toBe('3');
  });

  it('refuses a wrong API key with 401 authentication_error', async () => {
    const bad = new Anthropic({ baseURL: fake.url, apiKey: 'sk-ant-wrong', maxRetries: 0 });
    await expect(bad.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it('refuses a request without anthropic-version', async () => {
    const res = await fetch(`${fake.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-fake', 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it.each([
    ['a system role inside messages', { messages: [{ role: 'system', content: 'x' }] }],
    ['a missing max_tokens', { max_tokens: undefined }],
    ['a sampling parameter on API version 2026-10-21', { temperature: 1 }],
    ['an OpenAI-only field', { n: 2 }],
    ['an empty text block', { messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }],
    ['a whitespace-only text block', { messages: [{ role: 'user', content: [{ type: 'text', text: '  ' }] }] }],
  ])('rejects %s with 400 invalid_request_error', async (_what, patch) => {
    const body = { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }], ...patch };
    const err = await client.messages.create(body as unknown as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err).toMatchObject({ type: 'invalid_request_error' });
  });

  it('keeps sampling parameters on API version 2023-06-01, within 0..1', async () => {
    const legacy = new Anthropic({ baseURL: fake.url, apiKey: 'sk-ant-fake', maxRetries: 0, defaultHeaders: { 'anthropic-version': '2023-06-01' } });
    const create = (temperature: number) =>
      legacy.messages.create({ model: MODEL, max_tokens: 5, temperature, messages: [{ role: 'user', content: 'x' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming);
    await expect(create(0.5)).resolves.toMatchObject({ type: 'message' });
    await expect(create(1.5)).rejects.toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('accepts the key as x-api-key or as a bearer token', async () => {
    const body = JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    const base = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
    const viaHeader = await fetch(`${fake.url}/v1/messages`, { method: 'POST', headers: { ...base, 'x-api-key': 'sk-ant-fake' }, body });
    const viaBearer = await fetch(`${fake.url}/v1/messages`, { method: 'POST', headers: { ...base, authorization: 'Bearer sk-ant-fake' }, body });
    const none = await fetch(`${fake.url}/v1/messages`, { method: 'POST', headers: base, body });
    expect([viaHeader.status, viaBearer.status, none.status]).toEqual([200, 200, 401]);
  });

  it('can cut a stream mid-event, which the SDK reports as a failure', async () => {
    fake.script({ cut: true, afterEvents: 3 });
    const stream = client.messages.stream({ model: MODEL, max_tokens: 20, messages: [{ role: 'user', content: 'x y z' }] });
    await expect(stream.finalMessage()).rejects.toBeDefined();
  });
});

describe('the anthropic adapter against the fake', () => {
  const provider: ProviderConfig = {
    id: 'anthropic',
    type: 'anthropic',
    api_key: 'sk-ant-fake',
    headers: {},
    timeouts: { connect_ms: 1000, first_byte_ms: 1000, idle_ms: 1000, request_ms: 1000 },
    connections: 1,
    max_in_flight: 20000,
    queue_timeout_ms: 2000,
    http2: false,
    tokens_per_second: 0,
  };
  const model: ModelConfig = {
    id: 'claude-sonnet-4.6',
    kind: 'chat',
    context_window: 200000,
    max_output_tokens: 64000,
    pricing: { input_per_mtok: 3, output_per_mtok: 15 },
    maintenance: false,
    channels: [{ provider: 'anthropic', upstream_model: MODEL, priority: 0, weight: 1 }],
  };

  async function send(req: ChatRequest) {
    const adapter = createAnthropicAdapter({ ...provider, base_url: `${fake.url}/v1` });
    const ctx: AdapterContext = { provider, model, upstreamModel: MODEL, stream: req.stream === true, requestId: 'req-e2e' };
    const up = adapter.chatRequest(req, ctx);
    const res = await fetch(up.url, { method: up.method, headers: up.headers, body: up.body });
    if (res.status !== 200) return { error: adapter.mapError(res.status, await res.text(), Object.fromEntries(res.headers)) };
    if (!ctx.stream) return { completion: adapter.chatResponse(await res.text(), ctx) };
    const t = adapter.streamTranslator(ctx);
    const pieces: ChatPiece[] = [];
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) pieces.push(...t.push(bytes));
    pieces.push(...t.end());
    return { pieces: withChatJson(pieces, 'claude-sonnet-4.6') };
  }

  it('gets a chat.completion for a system prompt, merged user turns, an image and a clamped temperature', async () => {
    const out = await send({
      model: 'claude-sonnet-4.6',
      temperature: 1.8,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'first' },
        { role: 'user', content: [{ type: 'text', text: 'second' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      ],
    });
    expect(out.error).toBeUndefined();
    expect(out.completion?.choices[0].message.content).toBe('You said: first second');
    expect(out.completion?.model).toBe('claude-sonnet-4.6');
    expect(out.completion?.usage?.completion_tokens).toBe(countFakeTokens('You said: first second'));
  });

  it('streams a tool call that the client can parse, then accepts the tool result turn', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
    const streamed = await send({ model: 'claude-sonnet-4.6', stream: true, tools, messages: [{ role: 'user', content: 'use the tool please' }] });
    const pieces = streamed.pieces ?? [];
    let id = '';
    let args = '';
    for (const p of pieces) {
      const call = p.json ? (JSON.parse(p.json) as ChatChunk).choices[0]?.delta.tool_calls?.[0] : undefined;
      if (call?.id) id = call.id;
      args += call?.function?.arguments ?? '';
    }
    expect(JSON.parse(args)).toEqual({ q: 'example' });
    expect(pieces.find((p) => p.finishReason)?.finishReason).toBe('tool_calls');
    expect(pieces.at(-1)).toMatchObject({ done: true, usageOnly: true });

    const followUp = await send({
      model: 'claude-sonnet-4.6',
      tools,
      messages: [
        { role: 'user', content: 'use the tool please' },
        { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'lookup', arguments: args } }] },
        { role: 'tool', tool_call_id: id, content: 'found it' },
      ],
    });
    expect(followUp.error).toBeUndefined();
    expect(followUp.completion?.choices[0].message.content).toBe('Tool result: found it');
  });

  it('bills a stream exactly like the same answer without streaming', async () => {
    const req: ChatRequest = { model: 'claude-sonnet-4.6', messages: [{ role: 'user', content: 'same either way' }] };
    const plain = await send(req);
    const streamed = await send({ ...req, stream: true });
    expect(streamed.pieces?.find((p) => p.usage)?.usage).toEqual(plain.completion?.usage);
  });

  it('maps a scripted 529 to a retryable provider_error', async () => {
    fake.script({ status: 529 });
    const out = await send({ model: 'claude-sonnet-4.6', messages: [{ role: 'user', content: 'x' }] });
    expect(out.error).toMatchObject({ code: 'provider_error', status: 502, retryable: true, upstreamStatus: 529 });
  });

  it('turns a scripted mid-stream overloaded_error into an error piece', async () => {
    fake.script({ streamError: { type: 'overloaded_error' }, afterEvents: 3 });
    const out = await send({ model: 'claude-sonnet-4.6', stream: true, messages: [{ role: 'user', content: 'x' }] });
    expect(out.pieces?.at(-1)?.error).toMatchObject({ code: 'provider_error', retryable: true });
  });
});
