// SPEC §3 (chat completions): every validation row is a 400 invalid_request_error with the
// row's code, `param` naming the field and a message that names it, checked before any
// upstream call and any charge; every OpenAI parameter is accepted and forwarded upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, usageOf } from '../helpers/account.js';
import { chat, expectError, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseJson } from '../helpers/sse.js';
import { chatModel, lastUserText, openaiProvider, type RecordedRequest, type ScriptedUpstream, startRecordingMockUpstream } from '../helpers/upstream.js';

let gw: TestGateway;
let upstream: ScriptedUpstream;
/** an org that only ever sends invalid requests */
let rejected: { mk: string; key: string };
/** an org for requests that must succeed */
let accepted: { mk: string; key: string };
const CREDITS = 10;

beforeAll(async () => {
  upstream = await startRecordingMockUpstream();
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, openaiProvider('up', upstream.url)],
      models: [
        ...MOCK_MODELS,
        chatModel('mock-limited', 'mock', 'mock-chat', { supported_parameters: ['temperature', 'max_tokens', 'stream'] }),
        chatModel('mock-tiny', 'mock', 'mock-chat', { context_window: 64, max_output_tokens: 32 }),
        chatModel('up-chat', 'up', 'mock-chat'),
      ],
    },
  });
  const a = await gw.createOrg(CREDITS);
  rejected = { mk: a.mk, key: (await gw.createKey(a.mk)).key };
  const b = await gw.createOrg(CREDITS);
  accepted = { mk: b.mk, key: (await gw.createKey(b.mk)).key };
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const USER = [{ role: 'user', content: 'Hello there' }];
const TOOL_CALL = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

function postRaw(key: string, raw: string): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: raw });
}

interface Rejection {
  name: string;
  /** a JSON body, or raw text sent as is */
  body: Record<string, unknown> | string;
  code: string;
  param: string | null;
  /** text the message must contain (the field, and the limit where it helps) */
  mentions: string[];
}

const base = (extra: Record<string, unknown>) => ({ model: 'mock-chat', messages: USER, ...extra });

const REJECTIONS: Rejection[] = [
  { name: 'a body that is not JSON', body: '{"model": "mock-chat", "messages": [', code: 'invalid_json', param: null, mentions: ['JSON'] },
  { name: 'a JSON array', body: '[{"model": "mock-chat"}]', code: 'invalid_json', param: null, mentions: ['JSON object'] },
  { name: 'a JSON string', body: '"hello"', code: 'invalid_json', param: null, mentions: ['JSON object'] },
  { name: 'a missing model', body: { messages: USER }, code: 'missing_required_parameter', param: 'model', mentions: ['"model"'] },
  { name: 'missing messages', body: { model: 'mock-chat' }, code: 'missing_required_parameter', param: 'messages', mentions: ['"messages"'] },
  { name: 'an empty messages array', body: base({ messages: [] }), code: 'invalid_messages', param: 'messages', mentions: ['messages', 'at least one'] },
  { name: 'messages that are not an array', body: base({ messages: 'Hello there' }), code: 'invalid_messages', param: 'messages', mentions: ['messages', 'array'] },
  { name: 'a message without role', body: base({ messages: [{ content: 'hi' }] }), code: 'invalid_messages', param: 'messages[0].role', mentions: ['messages[0]', 'role'] },
  { name: 'an unknown role', body: base({ messages: [{ role: 'robot', content: 'hi' }] }), code: 'invalid_messages', param: 'messages[0].role', mentions: ['robot'] },
  { name: 'a message without content', body: base({ messages: [{ role: 'user' }] }), code: 'invalid_messages', param: 'messages[0].content', mentions: ['messages[0]', 'content'] },
  {
    name: 'a tool message without tool_call_id',
    body: base({ messages: [...USER, { role: 'assistant', content: null, tool_calls: [TOOL_CALL] }, { role: 'tool', content: '21 degrees' }] }),
    code: 'invalid_messages',
    param: 'messages[2].tool_call_id',
    mentions: ['messages[2]', 'tool_call_id'],
  },
  { name: 'temperature 2.5', body: base({ temperature: 2.5 }), code: 'invalid_value', param: 'temperature', mentions: ['temperature', '0', '2'] },
  { name: 'temperature -1', body: base({ temperature: -1 }), code: 'invalid_value', param: 'temperature', mentions: ['temperature', '0', '2'] },
  { name: 'top_p 1.5', body: base({ top_p: 1.5 }), code: 'invalid_value', param: 'top_p', mentions: ['top_p', '1'] },
  { name: 'max_tokens 0', body: base({ max_tokens: 0 }), code: 'invalid_value', param: 'max_tokens', mentions: ['max_tokens'] },
  { name: "max_tokens above the model's output limit", body: base({ max_tokens: 5000 }), code: 'invalid_value', param: 'max_tokens', mentions: ['max_tokens', '4096'] },
  {
    name: "max_completion_tokens above the model's output limit",
    body: base({ max_completion_tokens: 5000 }),
    code: 'invalid_value',
    param: 'max_completion_tokens',
    mentions: ['max_completion_tokens', '4096'],
  },
  { name: 'presence_penalty 3', body: base({ presence_penalty: 3 }), code: 'invalid_value', param: 'presence_penalty', mentions: ['presence_penalty', '2'] },
  { name: 'frequency_penalty 3', body: base({ frequency_penalty: 3 }), code: 'invalid_value', param: 'frequency_penalty', mentions: ['frequency_penalty', '2'] },
  { name: 'n 0', body: base({ n: 0 }), code: 'invalid_value', param: 'n', mentions: ['"n"'] },
  { name: 'five stop strings', body: base({ stop: ['a', 'b', 'c', 'd', 'e'] }), code: 'invalid_value', param: 'stop', mentions: ['stop', '4'] },
  { name: 'temperature "hot" (wrong type)', body: base({ temperature: 'hot' }), code: 'invalid_value', param: 'temperature', mentions: ['temperature', 'number'] },
  { name: 'stream "yes" (wrong type)', body: base({ stream: 'yes' }), code: 'invalid_value', param: 'stream', mentions: ['stream'] },
  { name: 'a model that is not a string', body: base({ model: 42 }), code: 'invalid_value', param: 'model', mentions: ['model'] },
  { name: 'the field api_base', body: base({ api_base: 'http://169.254.169.254' }), code: 'unknown_parameter', param: 'api_base', mentions: ['api_base', 'configuration'] },
  { name: 'the field base_url', body: base({ base_url: 'http://evil.example' }), code: 'unknown_parameter', param: 'base_url', mentions: ['base_url', 'configuration'] },
  { name: 'the field foo', body: base({ foo: 1 }), code: 'unknown_parameter', param: 'foo', mentions: ['foo'] },
  // Names that exist on every JS object must not slip through a plain-object lookup table.
  { name: 'the field __proto__', body: '{"model":"mock-chat","messages":[{"role":"user","content":"hi"}],"__proto__":{"x":1}}', code: 'unknown_parameter', param: '__proto__', mentions: ['__proto__'] },
  { name: 'the field constructor', body: base({ constructor: 'x' }), code: 'unknown_parameter', param: 'constructor', mentions: ['constructor'] },
  { name: 'the field hasOwnProperty', body: base({ hasOwnProperty: true }), code: 'unknown_parameter', param: 'hasOwnProperty', mentions: ['hasOwnProperty'] },
  { name: 'tools on a model that does not support them', body: { ...base({ tools: TOOLS }), model: 'mock-limited' }, code: 'unsupported_parameter', param: 'tools', mentions: ['tools', 'mock-limited'] },
  { name: 'seed on a model that does not support it', body: { ...base({ seed: 7 }), model: 'mock-limited' }, code: 'unsupported_parameter', param: 'seed', mentions: ['seed', 'mock-limited'] },
  {
    name: "a prompt larger than the model's context window",
    body: { model: 'mock-tiny', messages: [{ role: 'user', content: 'tokens '.repeat(200) }] },
    code: 'context_exceeded',
    param: 'messages',
    mentions: ['context window', '64'],
  },
  {
    name: "prompt plus max_tokens above the model's context window",
    body: { model: 'mock-tiny', messages: [{ role: 'user', content: 'tokens '.repeat(40) }], max_tokens: 32 },
    code: 'context_exceeded',
    param: 'messages',
    mentions: ['context window', 'max_tokens'],
  },
];

describe('SPEC §3 chat completions: validation', () => {
  it.each(REJECTIONS)('rejects $name with 400 $code, naming the field, and charges nothing', async ({ body, code, param, mentions }) => {
    const upstreamBefore = upstream.requests.length;
    const res = typeof body === 'string' ? await postRaw(rejected.key, body) : await chat(gw.url, rejected.key, body);
    const err = await expectError(res, 400, code);
    expect(err.type).toBe('invalid_request_error');
    expect(err.param).toBe(param);
    for (const m of mentions) expect(err.message).toContain(m);
    expect(upstream.requests.length, 'no upstream call').toBe(upstreamBefore);
    const balance = await balanceOf(gw.url, rejected.key);
    expect(balance.balance_usd).toBe(CREDITS);
    expect(balance.reserved_usd ?? 0).toBe(0);
    expect(balance.key?.spend_usd).toBe(0);
    expect(await usageOf(gw, rejected.mk)).toEqual([]);
  });

  it('accepts an assistant message with tool_calls and null content', async () => {
    const res = await chat(gw.url, accepted.key, {
      model: 'mock-chat',
      messages: [...USER, { role: 'assistant', content: null, tool_calls: [TOOL_CALL] }, { role: 'tool', tool_call_id: 'call_1', content: '21 degrees' }],
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0].message.content).toContain('21 degrees');
  });

  it('checks the output limit against max_completion_tokens when both are sent', async () => {
    const err = await expectError(await chat(gw.url, rejected.key, base({ max_tokens: 10, max_completion_tokens: 9999 })), 400, 'invalid_value');
    expect(err.param).toBe('max_completion_tokens');
  });
});

/** One request per parameter, each with a valid value (companions where OpenAI requires them). */
const ACCEPTED: Array<{ param: string; extra: Record<string, unknown> }> = [
  { param: 'temperature', extra: { temperature: 0.7 } },
  { param: 'top_p', extra: { top_p: 0.9 } },
  { param: 'max_tokens', extra: { max_tokens: 50 } },
  { param: 'max_completion_tokens', extra: { max_completion_tokens: 50 } },
  { param: 'stream', extra: { stream: true } },
  { param: 'stream_options', extra: { stream: true, stream_options: { include_usage: true } } },
  { param: 'n', extra: { n: 2 } },
  { param: 'stop', extra: { stop: ['END', 'STOP'] } },
  { param: 'presence_penalty', extra: { presence_penalty: 0.5 } },
  { param: 'frequency_penalty', extra: { frequency_penalty: -0.5 } },
  { param: 'logit_bias', extra: { logit_bias: { '1234': 5, '42': -100 } } },
  { param: 'logprobs', extra: { logprobs: true } },
  { param: 'top_logprobs', extra: { logprobs: true, top_logprobs: 3 } },
  { param: 'seed', extra: { seed: 42 } },
  { param: 'tools', extra: { tools: TOOLS } },
  { param: 'tool_choice', extra: { tools: TOOLS, tool_choice: 'auto' } },
  { param: 'parallel_tool_calls', extra: { tools: TOOLS, parallel_tool_calls: false } },
  { param: 'response_format', extra: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } } } },
  { param: 'user', extra: { user: 'user-1234' } },
  { param: 'metadata', extra: { metadata: { team: 'search' } } },
  { param: 'store', extra: { store: false } },
  { param: 'service_tier', extra: { service_tier: 'auto' } },
  { param: 'reasoning_effort', extra: { reasoning_effort: 'low' } },
  { param: 'modalities', extra: { modalities: ['text'] } },
  { param: 'audio', extra: { audio: { voice: 'alloy', format: 'wav' } } },
  { param: 'prediction', extra: { prediction: { type: 'content', content: 'predicted text' } } },
  { param: 'web_search_options', extra: { web_search_options: { search_context_size: 'low' } } },
  { param: 'verbosity', extra: { verbosity: 'low' } },
  { param: 'prompt_cache_key', extra: { prompt_cache_key: 'cache-key-1' } },
  { param: 'safety_identifier', extra: { safety_identifier: 'safety-1' } },
  { param: 'functions', extra: { functions: [{ name: 'get_weather', parameters: { type: 'object', properties: {} } }] } },
  { param: 'function_call', extra: { functions: [{ name: 'get_weather', parameters: { type: 'object', properties: {} } }], function_call: 'auto' } },
];

/** Sends a request to the openai-type upstream and returns what the upstream received. */
async function forwarded(extra: Record<string, unknown>, content: string): Promise<{ res: Response; text: string; sent: RecordedRequest }> {
  const res = await chat(gw.url, accepted.key, { model: 'up-chat', messages: [{ role: 'user', content }], ...extra });
  const text = await res.text();
  const sent = upstream.requests.find((r) => lastUserText(r) === content);
  if (!sent) throw new Error(`the upstream never received "${content}" (gateway answered ${res.status}: ${text})`);
  return { res, text, sent };
}

describe('SPEC §3 chat completions: every OpenAI parameter is accepted and forwarded', () => {
  it.each(ACCEPTED)('accepts $param and forwards it to an openai-type upstream', async ({ param, extra }) => {
    const { res, text, sent } = await forwarded(extra, `accepted parameter ${param}`);
    expect(res.status, text).toBe(200);
    for (const [k, v] of Object.entries(extra)) {
      if (k === 'stream_options') expect(sent.json?.stream_options).toMatchObject(v as object);
      else expect(sent.json?.[k], `upstream body field ${k}`).toEqual(v);
    }
  });

  it("sends the channel's upstream model name, not the public slug", async () => {
    const { sent } = await forwarded({}, 'which model');
    expect(sent.json?.model).toBe('mock-chat');
    expect(sent.path).toBe('/v1/chat/completions');
  });

  it('adds stream_options.include_usage for streams even when the client did not ask, and hides that usage from the client', async () => {
    const { res, text, sent } = await forwarded({ stream: true }, 'stream without usage');
    expect(res.status).toBe(200);
    expect(sent.json?.stream).toBe(true);
    expect(sent.json?.stream_options).toEqual({ include_usage: true });
    const chunks = sseJson(text);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.filter((c) => c.usage != null)).toEqual([]);
  });

  it("does not forward Tollgate's own `models` field", async () => {
    const { res, text, sent } = await forwarded({ models: ['mock-chat'] }, 'with fallback models');
    expect(res.status, text).toBe(200);
    expect(sent.json).toBeDefined();
    expect(Object.keys(sent.json ?? {})).not.toContain('models');
  });
});
