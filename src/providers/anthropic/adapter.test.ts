import { describe, expect, it } from 'vitest';
import type { ModelConfig, ProviderConfig } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import type { ChatRequest } from '../../core/types.js';
import type { AdapterContext } from '../types.js';
import { createAnthropicAdapter } from './adapter.js';

function provider(over: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    id: 'anthropic',
    type: 'anthropic',
    api_key: 'sk-ant-test',
    headers: {},
    timeouts: { connect_ms: 5000, first_byte_ms: 60000, idle_ms: 30000, request_ms: 600000 },
    connections: 16,
    max_in_flight: 20000,
    queue_timeout_ms: 2000,
    http2: false,
    tokens_per_second: 0,
    ...over,
  };
}

const model: ModelConfig = {
  id: 'claude-sonnet-4.5',
  kind: 'chat',
  context_window: 200000,
  max_output_tokens: 64000,
  pricing: { input_per_mtok: 3, output_per_mtok: 15 },
  maintenance: false,
  channels: [{ provider: 'anthropic', upstream_model: 'claude-sonnet-4-5-20250929', priority: 0, weight: 1 }],
};

function ctx(stream = false): AdapterContext {
  return { provider: provider(), model, upstreamModel: 'claude-sonnet-4-5-20250929', stream, requestId: 'req-1' };
}

const adapter = createAnthropicAdapter(provider());

// biome-ignore lint/suspicious/noExplicitAny: translated bodies are inspected field by field
type Body = Record<string, any>;

function translate(req: Partial<ChatRequest>, stream = false): Body {
  const full = { model: 'claude-sonnet-4.5', messages: [{ role: 'user', content: 'hi' }], ...req } as ChatRequest;
  const up = adapter.chatRequest(full, ctx(stream));
  return JSON.parse(up.body ?? '{}') as Body;
}

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('endpoint and headers', () => {
  it('posts to api.anthropic.com/v1/messages by default with key, version and JSON headers', () => {
    const up = adapter.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, ctx());
    expect(up.method).toBe('POST');
    expect(up.url).toBe('https://api.anthropic.com/v1/messages');
    expect(up.headers).toMatchObject({ 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });
  });

  it.each([
    ['http://127.0.0.1:9999', 'http://127.0.0.1:9999/v1/messages'],
    ['http://127.0.0.1:9999/', 'http://127.0.0.1:9999/v1/messages'],
    ['http://127.0.0.1:9999/v1', 'http://127.0.0.1:9999/v1/messages'],
    ['https://proxy.example/anthropic/v1/', 'https://proxy.example/anthropic/v1/messages'],
  ])('base_url %s is used without doubling /v1', (base, url) => {
    const a = createAnthropicAdapter(provider({ base_url: base }));
    expect(a.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, ctx()).url).toBe(url);
  });

  it('adds the provider headers from config', () => {
    const a = createAnthropicAdapter(provider({ headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } }));
    const up = a.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, ctx());
    expect(up.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
  });

  it('drops temperature and top_p when the operator pins API version 2026-10-21, which removed them', () => {
    const a = createAnthropicAdapter(provider({ headers: { 'anthropic-version': '2026-10-21' } }));
    const up = a.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }], temperature: 0.2, top_p: 0.5 }, ctx());
    expect(up.headers['anthropic-version']).toBe('2026-10-21');
    expect(JSON.parse(up.body ?? '{}')).not.toHaveProperty('temperature');
    expect(JSON.parse(up.body ?? '{}')).not.toHaveProperty('top_p');
  });

  it('sends the upstream model name, not the public slug', () => {
    expect(translate({}).model).toBe('claude-sonnet-4-5-20250929');
  });

  it('probes with a cheap authenticated models listing', () => {
    const probe = adapter.probeRequest?.(provider({ base_url: 'http://h:1/v1' }));
    expect(probe).toMatchObject({ method: 'GET', url: 'http://h:1/v1/models?limit=1' });
    expect(probe?.headers['x-api-key']).toBe('sk-ant-test');
  });

  it('declares the parameters it honours and leaves out the ones it refuses', () => {
    expect(adapter.type).toBe('anthropic');
    expect(adapter.supportedParameters).toEqual(expect.arrayContaining(['temperature', 'top_p', 'stop', 'tools', 'tool_choice', 'max_tokens', 'stream']));
    expect(adapter.supportedParameters).not.toContain('logprobs');
    expect(adapter.supportedParameters).not.toContain('n');
  });
});

describe('messages translation', () => {
  it('lifts system and developer messages into one top-level system string', () => {
    const body = translate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] },
        { role: 'user', content: 'Hello' },
      ],
    });
    expect(body.system).toBe('Be brief.\n\nUse French.');
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }]);
  });

  it('keeps a multi-turn conversation in order', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'two' },
        { role: 'user', content: 'three' },
      ],
    });
    expect(body.messages.map((m: Body) => [m.role, m.content[0].text])).toEqual([
      ['user', 'one'],
      ['assistant', 'two'],
      ['user', 'three'],
    ]);
  });

  it('merges consecutive messages of the same role into one turn', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
        { role: 'assistant', content: 'c' },
        { role: 'assistant', content: 'd' },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'c' }, { type: 'text', text: 'd' }] },
    ]);
  });

  it('drops empty and whitespace-only text, which Anthropic refuses', () => {
    const body = translate({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: ' \n' }, { role: 'user', content: 'r' }] });
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'q' }, { type: 'text', text: 'r' }] }]);
  });

  it('turns an http(s) image URL into a url image source', () => {
    const body = translate({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/cat.jpg' } }] }] });
    expect(body.messages[0].content[0]).toEqual({ type: 'image', source: { type: 'url', url: 'https://x.test/cat.jpg' } });
  });

  it('turns a base64 data URL into a base64 image source with its media type', () => {
    const body = translate({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } }] }] });
    expect(body.messages[0].content[0]).toEqual({ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } });
  });

  it('refuses image types and URLs Anthropic cannot read, naming the message', () => {
    const bmp = thrown(() => translate({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,Qk0=' } }] }] }));
    expect(bmp.code).toBe('invalid_messages');
    expect(bmp.message).toContain('messages[0]');
    expect(bmp.message).toContain('image/bmp');
    const ftp = thrown(() => translate({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }));
    expect(ftp.code).toBe('invalid_messages');
  });

  it('sends inline PDF files as document blocks', () => {
    const body = translate({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=' } }] }] });
    expect(body.messages[0].content[0]).toEqual({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } });
  });

  it('refuses audio input parts', () => {
    const err = thrown(() => translate({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] }] }));
    expect(err.code).toBe('invalid_messages');
    expect(err.message).toContain('input_audio');
  });
});

describe('tool calls and tool results', () => {
  const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

  it('maps tools to name, description and input_schema', () => {
    const body = translate({ tools: [weather, { type: 'function', function: { name: 'now' } }] });
    expect(body.tools).toEqual([
      { name: 'get_weather', description: 'Weather', input_schema: weather.function.parameters },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
  });

  it.each([
    ['auto', { type: 'auto' }],
    ['required', { type: 'any' }],
    ['none', { type: 'none' }],
    [{ type: 'function', function: { name: 'get_weather' } }, { type: 'tool', name: 'get_weather' }],
  ] as const)('maps tool_choice %j', (choice, expected) => {
    expect(translate({ tools: [weather], tool_choice: choice as ChatRequest['tool_choice'] }).tool_choice).toEqual(expected);
  });

  it('turns parallel_tool_calls:false into disable_parallel_tool_use', () => {
    expect(translate({ tools: [weather], parallel_tool_calls: false }).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(translate({ tools: [weather], tool_choice: 'required', parallel_tool_calls: false }).tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
  });

  it('sends no tool_choice when there are no tools', () => {
    const body = translate({ tool_choice: 'auto' });
    expect(body.tool_choice).toBeUndefined();
    expect(body.tools).toBeUndefined();
  });

  it('maps legacy functions and function_call like tools', () => {
    const body = translate({ functions: [{ name: 'f', parameters: { type: 'object' } }], function_call: { name: 'f' } });
    expect(body.tools).toEqual([{ name: 'f', input_schema: { type: 'object' } }]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'f' });
  });

  it('turns assistant tool_calls into tool_use blocks with parsed input, after any text', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'cold' },
      ],
    });
    expect(body.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
      ],
    });
  });

  it('treats empty arguments as an empty input object', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'time?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'now', arguments: '' } }] },
        { role: 'tool', tool_call_id: 't', content: 'noon' },
      ],
    });
    expect(body.messages[1].content[0].input).toEqual({});
  });

  it('refuses tool_calls whose arguments are not a JSON object', () => {
    for (const args of ['{not json', '[1,2]']) {
      const err = thrown(() =>
        translate({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: args } }] }] }),
      );
      expect(err.code).toBe('invalid_messages');
      expect(err.message).toContain("'f'");
    }
  });

  it('merges consecutive tool messages into one user turn of tool_result blocks, ahead of user text', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'both' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
            { id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'a', content: 'A' },
        { role: 'tool', tool_call_id: 'b', content: [{ type: 'text', text: 'B' }] },
        { role: 'user', content: 'thanks' },
      ],
    });
    expect(body.messages).toHaveLength(3);
    expect(body.messages[2]).toEqual({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'a', content: 'A' },
        { type: 'tool_result', tool_use_id: 'b', content: [{ type: 'text', text: 'B' }] },
        { type: 'text', text: 'thanks' },
      ],
    });
  });

  it('pairs legacy function results with the function_call that asked for them', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: null, function_call: { name: 'f', arguments: '{"x":1}' } },
        { role: 'function', name: 'f', content: 'done' },
      ],
    });
    const use = body.messages[1].content[0];
    expect(use).toMatchObject({ type: 'tool_use', name: 'f', input: { x: 1 } });
    expect(body.messages[2].content[0]).toEqual({ type: 'tool_result', tool_use_id: use.id, content: 'done' });
  });
});

describe('sampling parameters', () => {
  it('always sets max_tokens: max_completion_tokens, else max_tokens, else the model limit', () => {
    expect(translate({ max_completion_tokens: 10, max_tokens: 20 }).max_tokens).toBe(10);
    expect(translate({ max_tokens: 20 }).max_tokens).toBe(20);
    expect(translate({}).max_tokens).toBe(64000);
  });

  it.each([
    [0, 0],
    [0.7, 0.7],
    [1, 1],
    [1.5, 1],
    [2, 1],
  ])('clamps temperature %d to Anthropic range as %d', (t, expected) => {
    expect(translate({ temperature: t }).temperature).toBe(expected);
  });

  it('passes top_p and omits unset sampling fields', () => {
    expect(translate({ top_p: 0.9 }).top_p).toBe(0.9);
    const body = translate({});
    expect(body).not.toHaveProperty('temperature');
    expect(body).not.toHaveProperty('top_p');
    expect(body).not.toHaveProperty('stop_sequences');
  });

  it('renames stop to stop_sequences, accepting a string or a list', () => {
    expect(translate({ stop: 'END' }).stop_sequences).toEqual(['END']);
    expect(translate({ stop: ['a', 'b'] }).stop_sequences).toEqual(['a', 'b']);
  });

  it('sends user as metadata.user_id', () => {
    expect(translate({ user: 'u-42' }).metadata).toEqual({ user_id: 'u-42' });
  });

  it('asks for a stream only when streaming', () => {
    expect(translate({ stream: true }, true).stream).toBe(true);
    expect(translate({})).not.toHaveProperty('stream');
  });

  it('appends a JSON instruction to system for response_format, with the schema when given', () => {
    const plain = translate({ messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'u' }], response_format: { type: 'json_object' } });
    expect(plain.system).toMatch(/^S\n\n.*JSON object/);
    const schema = { type: 'object', properties: { a: { type: 'number' } } };
    const withSchema = translate({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
    expect(withSchema.system).toContain(JSON.stringify(schema));
  });

  it('drops harmless parameters Anthropic has no use for', () => {
    const body = translate({
      seed: 1,
      store: true,
      metadata: { a: 'b' },
      service_tier: 'auto',
      prompt_cache_key: 'k',
      stream_options: { include_usage: true },
      presence_penalty: 0,
      frequency_penalty: 0,
      verbosity: 'low',
      reasoning_effort: 'low',
      n: 1,
      logprobs: false,
      logit_bias: {},
    });
    expect(Object.keys(body).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });

  it.each([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['audio', { audio: { voice: 'alloy', format: 'mp3' } }],
    ['prediction', { prediction: { type: 'content', content: 'x' } }],
    ['presence_penalty', { presence_penalty: 0.5 }],
  ])('refuses %s with unsupported_parameter naming the parameter and the model', (param, req) => {
    const err = thrown(() => translate(req as Partial<ChatRequest>));
    expect(err.code).toBe('unsupported_parameter');
    expect(err.status).toBe(400);
    expect(err.param).toBe(param);
    expect(err.message).toContain(`'${param}'`);
    expect(err.message).toContain('claude-sonnet-4.5');
  });
});

describe('non-stream response', () => {
  const c = ctx();
  function respond(body: unknown) {
    return adapter.chatResponse(JSON.stringify(body), c);
  }
  const base = { id: 'msg_01abc', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', stop_sequence: null };

  it('becomes a chat.completion with the public model id and the text', () => {
    const out = respond({ ...base, content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 2 } });
    expect(out).toMatchObject({ id: 'chatcmpl-msg_01abc', object: 'chat.completion', model: 'claude-sonnet-4.5' });
    expect(out.choices).toEqual([{ index: 0, message: { role: 'assistant', content: 'Hi', refusal: null }, finish_reason: 'stop', logprobs: null }]);
    expect(typeof out.created).toBe('number');
  });

  it('turns tool_use blocks into tool_calls with JSON arguments and null content when there is no text', () => {
    const out = respond({ ...base, content: [{ type: 'tool_use', id: 'toolu_9', name: 'f', input: { a: [1] } }], stop_reason: 'tool_use', usage: { input_tokens: 1, output_tokens: 1 } });
    expect(out.choices[0].message.content).toBeNull();
    expect(out.choices[0].message.tool_calls).toEqual([{ id: 'toolu_9', type: 'function', function: { name: 'f', arguments: '{"a":[1]}' } }]);
    expect(out.choices[0].finish_reason).toBe('tool_calls');
  });

  it('ignores thinking blocks', () => {
    const out = respond({ ...base, content: [{ type: 'thinking', thinking: 'hmm', signature: 's' }, { type: 'text', text: 'A' }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } });
    expect(out.choices[0].message.content).toBe('A');
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('maps stop_reason %s to finish_reason %s', (reason, finish) => {
    expect(respond({ ...base, content: [], stop_reason: reason, usage: { input_tokens: 1, output_tokens: 1 } }).choices[0].finish_reason).toBe(finish);
  });

  it('counts cache reads and cache writes as prompt tokens and reports cached_tokens', () => {
    const out = respond({ ...base, content: [], stop_reason: 'end_turn', usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 50, output_tokens: 7 } });
    expect(out.usage).toEqual({ prompt_tokens: 160, completion_tokens: 7, total_tokens: 167, prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 50 } });
  });

  it.each([
    ['not JSON', '<html>bad gateway</html>'],
    ['another API', JSON.stringify({ object: 'chat.completion', choices: [] })],
    ['an error body', JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'x' } })],
  ])('throws a non-retryable provider_error for a body that is %s', (_what, body) => {
    const err = thrown(() => adapter.chatResponse(body, c));
    expect(err.code).toBe('provider_error');
    expect(err.status).toBe(502);
    expect(err.retryable).toBe(false);
  });
});

describe('error mapping', () => {
  const body = (type: string, message: string) => JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_1' });

  it.each([
    [400, 'invalid_request_error', 400, 'invalid_value', false],
    [401, 'authentication_error', 502, 'provider_error', true],
    [403, 'permission_error', 502, 'provider_error', true],
    [404, 'not_found_error', 400, 'invalid_value', false],
    [413, 'request_too_large', 413, 'payload_too_large', false],
    [429, 'rate_limit_error', 502, 'provider_error', true],
    [500, 'api_error', 502, 'provider_error', true],
    [529, 'overloaded_error', 502, 'provider_error', true],
  ])('HTTP %d %s → %d %s (retryable %s)', (status, type, outStatus, code, retryable) => {
    const err = adapter.mapError(status, body(type, 'detail here'), {});
    expect(err.status).toBe(outStatus);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.upstreamStatus).toBe(status);
  });

  it("passes the provider's words on a refused request", () => {
    expect(adapter.mapError(400, body('invalid_request_error', 'max_tokens: Field required'), {}).message).toContain('max_tokens: Field required');
  });

  it('turns "prompt is too long" into context_exceeded', () => {
    const err = adapter.mapError(400, body('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'), {});
    expect(err.code).toBe('context_exceeded');
    expect(err.status).toBe(400);
  });

  it('keeps Retry-After from a rate limit', () => {
    expect(adapter.mapError(429, body('rate_limit_error', 'slow down'), { 'retry-after': '12' }).retryAfterS).toBe(12);
  });

  it('maps a non-JSON body by status alone', () => {
    const err = adapter.mapError(502, '<html>Bad Gateway</html>', {});
    expect(err.code).toBe('provider_error');
    expect(err.retryable).toBe(true);
  });
});
