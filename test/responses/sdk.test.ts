// The Responses API through the clients people run: the `openai` SDK's responses.create
// (plain, streamed, function-tool round trips with previous_response_id and with store: false),
// the stored-response routes, LangChain's ChatOpenAI with useResponsesApi, both lanes (the mock
// behind Chat Completions, a Responses upstream natively), and what each answer costs.
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage } from '../helpers/money.js';
import { chatModel, deferred, openaiProvider, type ScriptedUpstream } from '../helpers/upstream.js';
import { FAKE_USAGE, lastInputText, startFakeResponsesUpstream } from './fake-responses-upstream.js';
import { freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();

let gw: TestGateway;
let upstream: ScriptedUpstream;
let client: OpenAI;
let other: OpenAI;
let orgId: string;
/** released by a test once it has seen the partial answer of a failing native stream */
let failGate = deferred();

const WEATHER = { type: 'function' as const, name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false };

beforeAll(async () => {
  upstream = await startFakeResponsesUpstream((req) => {
    const text = lastInputText(req.json);
    if (text.includes('fail before output')) return { fail: 'the upstream broke early' };
    if (text.includes('fail after output')) return { fail: 'the upstream broke', partial: 'Partial answer', gate: failGate.promise };
    return { text: `native says: ${text}` };
  });
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, openaiProvider('native-up', upstream.url, { responses: true })],
      models: [
        ...MOCK_MODELS,
        chatModel('native-model', 'native-up', 'up-model', { pricing: { input_per_mtok: 2, output_per_mtok: 8, cache_read_per_mtok: 0.5 } }),
      ],
    },
  });
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(org.mk)).key, maxRetries: 0, timeout: 10_000 });
  const org2 = await gw.createOrg(10);
  other = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(org2.mk)).key, maxRetries: 0, timeout: 10_000 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('responses.create on a model behind Chat Completions (translated lane)', () => {
  it('answers a plain request with output items, output_text and usage', async () => {
    const r = await client.responses.create({ model: 'mock-chat', input: 'echo: hello from the responses api', instructions: 'Be exact.' });
    expect(r.object).toBe('response');
    expect(r.id).toMatch(/^resp_/);
    expect(r.status).toBe('completed');
    expect(r.model).toBe('mock-chat');
    expect(r.output_text).toBe('hello from the responses api');
    expect(r.output.at(-1)).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    expect(r.usage?.input_tokens).toBeGreaterThan(0);
    expect(r.usage?.output_tokens).toBeGreaterThan(0);
    expect(r.usage?.input_tokens_details.cached_tokens).toBe(0);
    expect(r.usage?.output_tokens_details.reasoning_tokens).toBe(0);
  });

  it('streams events with increasing sequence numbers, ending in response.completed', async () => {
    const stream = await client.responses.create({ model: 'mock-chat', input: 'echo: streamed through the responses api', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const ev of stream) events.push(ev);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events[0].type).toBe('response.created');
    expect(events.at(-1)?.type).toBe('response.completed');
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((e) => (e as { delta: string }).delta).join('')).toBe('streamed through the responses api');
    const done = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(done.response.usage?.output_tokens).toBeGreaterThan(0);
    expect(done.response.id).toBe((events[0] as OpenAI.Responses.ResponseCreatedEvent).response.id);
  });

  it('works with the stream helper and finalResponse()', async () => {
    const final = await client.responses.stream({ model: 'mock-chat', input: 'echo: assembled by the helper' }).finalResponse();
    expect(final.output_text).toBe('assembled by the helper');
  });

  it('reports a cut answer as incomplete with max_output_tokens', async () => {
    const r = await client.responses.create({ model: 'mock-chat', input: 'tell me a long story', max_output_tokens: 3 });
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });

  it('round-trips a function tool with previous_response_id', async () => {
    const first = await client.responses.create({ model: 'mock-chat', input: 'Please use the tool for Paris', tools: [WEATHER] });
    const call = first.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather' });
    expect(JSON.parse(call.arguments)).toEqual({ city: 'mock' });
    const second = await client.responses.create({
      model: 'mock-chat',
      previous_response_id: first.id,
      tools: [WEATHER],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp_c": 3}' }],
    });
    expect(second.output_text).toBe('Tool result received: {"temp_c": 3}');
    expect(second.previous_response_id).toBe(first.id);
  });

  it('round-trips a function tool with store: false and the items sent back explicitly', async () => {
    const input: OpenAI.Responses.ResponseInput = [{ role: 'user', content: 'Please use the tool for Oslo' }];
    const first = await client.responses.create({ model: 'mock-chat', input, tools: [WEATHER], store: false, include: ['reasoning.encrypted_content'] });
    const call = first.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toBeDefined();
    const second = await client.responses.create({
      model: 'mock-chat',
      store: false,
      tools: [WEATHER],
      input: [...input, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
    });
    expect(second.output_text).toBe('Tool result received: sunny');
    // nothing was kept
    await expect(client.responses.retrieve(first.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a built-in tool the Chat upstream cannot run with 400 unsupported_parameter', async () => {
    const err = await client.responses.create({ model: 'mock-chat', input: 'search the web', tools: [{ type: 'web_search' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ code: 'unsupported_parameter', param: 'tools', type: 'invalid_request_error' });
  });

  it('answers bad input with 400 in the OpenAI envelope, naming the parameter', async () => {
    const err = await client.responses.create({ model: 'mock-chat', input: 'x', temperature: 7 }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.error).toMatchObject({ code: 'invalid_value', param: 'temperature' });
  });
});

describe('stored responses', () => {
  it('retrieves, lists the input items of, and deletes a stored response; another org sees 404', async () => {
    const r = await client.responses.create({ model: 'mock-chat', input: [{ role: 'user', content: 'echo: keep me' }], metadata: { ticket: 'T-1' } });
    const got = await client.responses.retrieve(r.id);
    expect(got).toMatchObject({ id: r.id, status: 'completed', metadata: { ticket: 'T-1' } });
    expect(got.output).toEqual(r.output);
    const items = await client.responses.inputItems.list(r.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({ type: 'message', role: 'user' });
    await expect(other.responses.retrieve(r.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.responses.delete(r.id)).rejects.toMatchObject({ status: 404 });
    await expect(other.responses.create({ model: 'mock-chat', input: 'x', previous_response_id: r.id })).rejects.toMatchObject({ status: 404 });
    await client.responses.delete(r.id);
    await expect(client.responses.retrieve(r.id)).rejects.toMatchObject({ status: 404 });
  });

  // Several instances on one store share state through Redis; without it a second one refuses to start.
  it.skipIf(!redisUp)('continues a conversation from another gateway instance sharing the database', async () => {
    const first = await client.responses.create({ model: 'mock-chat', input: 'My name is Ada.' });
    const second = await startTestGateway({ raw: { storage: gw.config.storage, redis: { url: TEST_REDIS_URL, key_prefix: freshPrefix() } } });
    try {
      const c2 = new OpenAI({ baseURL: `${second.url}/v1`, apiKey: client.apiKey, maxRetries: 0 });
      const next = await c2.responses.create({ model: 'mock-chat', previous_response_id: first.id, input: 'echo: continued elsewhere' });
      expect(next.output_text).toBe('continued elsewhere');
      const items = await c2.responses.inputItems.list(next.id);
      expect(items.data).toHaveLength(1);
    } finally {
      await second.close();
    }
  });
});

describe('LangChain ChatOpenAI with useResponsesApi', () => {
  it('invokes and streams through /v1/responses', async () => {
    const llm = new ChatOpenAI({ model: 'mock-chat', useResponsesApi: true, apiKey: client.apiKey, maxRetries: 0, configuration: { baseURL: `${gw.url}/v1` } });
    const msg = await llm.invoke('echo: hello from langchain');
    expect(msg.text).toBe('hello from langchain');
    // the answer is a stored Responses object, so it came through /v1/responses
    expect(msg.id).toMatch(/^resp_/);
    expect((await client.responses.retrieve(String(msg.id))).output_text).toBe('hello from langchain');
    let streamed = '';
    for await (const chunk of await llm.stream('echo: streamed by langchain')) streamed += chunk.text;
    expect(streamed).toBe('streamed by langchain');
  });
});

describe('native lane: a Responses upstream', () => {
  it('passes the body with only the model replaced, and relays the answer with the public model', async () => {
    const body = {
      model: 'native-model',
      input: [
        { type: 'reasoning', id: 'rs_client', summary: [], encrypted_content: 'opaque-client-blob' },
        { role: 'user' as const, content: 'hi native' },
      ],
      store: false,
      include: ['reasoning.encrypted_content'],
      tools: [{ type: 'web_search' }],
      some_future_field: { kept: true },
    };
    const r = (await client.responses.create(body as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming)) as OpenAI.Responses.Response & { upstream_only_field?: string };
    const sent = upstream.requests.at(-1)!.json!;
    expect(sent).toEqual({ ...body, model: 'up-model' });
    expect(r.model).toBe('native-model');
    expect(r.output_text).toBe('native says: hi native');
    expect(r.upstream_only_field).toBe('kept');
    expect(r.usage).toMatchObject(FAKE_USAGE);
  });

  it('relays the stream event by event with the public model', async () => {
    const stream = await client.responses.create({ model: 'native-model', input: 'stream natively', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const ev of stream) events.push(ev);
    expect(events[0]).toMatchObject({ type: 'response.created', response: { model: 'native-model' } });
    expect(events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as { delta: string }).delta).join('')).toBe('native says: stream natively');
    expect(events.at(-1)).toMatchObject({ type: 'response.completed', response: { model: 'native-model', usage: FAKE_USAGE } });
  });

  it('answers an upstream failure before any output as a JSON error, after retrying', async () => {
    const err = await client.responses.create({ model: 'native-model', input: 'fail before output', stream: true }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ code: 'provider_error' });
  });

  it('reports an upstream failure after output as an error event, and bills what was delivered', async () => {
    failGate = deferred();
    const res = await fetch(`${gw.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'native-model', input: 'fail after output', stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      if (text.includes('Partial answer')) failGate.resolve();
    }
    expect(text).toContain('event: response.output_text.delta');
    expect(text).toContain('event: error');
    expect(text).toContain('the upstream broke');
    expect(text).not.toContain('response.completed');
    await flushed(gw);
    const row = (await allUsage(gw.running.gateway.store, orgId)).find((u) => u.request_id === res.headers.get('x-tollgate-request-id'));
    expect(row?.completion_tokens).toBeGreaterThan(0);
    expect(row?.cost_micros).toBeGreaterThan(0);
  });
});

describe('money', () => {
  it('records a usage row with the surface and a charge for every answered request, cached and reasoning tokens priced', async () => {
    const native = await client.responses.create({ model: 'native-model', input: 'priced natively' }).withResponse();
    const translated = await client.responses.create({ model: 'mock-chat', input: 'echo: priced by translation', stream: true }).withResponse();
    for await (const _ev of translated.data) {
      // drain the stream
    }
    await flushed(gw);
    const usage = await allUsage(gw.running.gateway.store, orgId);
    const ledger = await allLedger(gw.running.gateway.store, orgId);
    const nativeRow = usage.find((u) => u.request_id === native.response.headers.get('x-tollgate-request-id'));
    expect(nativeRow).toMatchObject({ surface: 'responses', model: 'native-model', status: 200, prompt_tokens: 40, completion_tokens: 12, cache_read_tokens: 16, reasoning_tokens: 5 });
    // 24 uncached input at $2, 16 cached at $0.50, 12 output at $8 (per million)
    expect(nativeRow?.cost_micros).toBe(24 * 2 + 16 * 0.5 + 12 * 8);
    const translatedRow = usage.find((u) => u.request_id === translated.response.headers.get('x-tollgate-request-id'));
    expect(translatedRow).toMatchObject({ surface: 'responses', model: 'mock-chat', status: 200, stream: true });
    expect(translatedRow?.cost_micros).toBeGreaterThan(0);
    for (const row of [nativeRow, translatedRow]) expect(ledger.find((l) => l.request_id === row?.request_id)?.amount_micros).toBe(-(row?.cost_micros ?? 0));
  });

  it('reserves credit from max_output_tokens: a small cap is admitted where the default reservation is not', async () => {
    const poor = await gw.createOrg(0.01);
    const c = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(poor.mk)).key, maxRetries: 0 });
    // mock-chat-large: $15 per million output tokens; the default reservation (4096) is ~$0.06
    await expect(c.responses.create({ model: 'mock-chat-large', input: 'echo: hi' })).rejects.toMatchObject({ status: 402 });
    const ok = await c.responses.create({ model: 'mock-chat-large', input: 'echo: hi', max_output_tokens: 100 });
    expect(ok.output_text).toBe('hi');
  });

  it('bills a stream broken mid-way for what was delivered', async () => {
    const res = await fetch(`${gw.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json', 'x-mock-fault': 'reset_after=4', 'x-mock-words': '40' },
      body: JSON.stringify({ model: 'mock-chat', input: 'write forty words', stream: true }),
    });
    const text = await res.text();
    expect(text).toContain('event: error');
    expect(text).toContain('event: response.failed');
    expect(text).not.toContain('event: response.completed');
    const requestId = res.headers.get('x-tollgate-request-id');
    await flushed(gw);
    const row = (await allUsage(gw.running.gateway.store, orgId)).find((u) => u.request_id === requestId);
    expect(row?.completion_tokens).toBeGreaterThan(0);
    expect(row?.cost_micros).toBeGreaterThan(0);
  });

  it('bills a stream the client abandons for what was delivered', async () => {
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json', 'x-mock-fault': 'hang_after=4', 'x-mock-words': '40' },
      body: JSON.stringify({ model: 'mock-chat', input: 'write forty words', stream: true }),
      signal: ac.signal,
    });
    const requestId = res.headers.get('x-tollgate-request-id');
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('response.output_text.delta')) seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await vi.waitFor(
      async () => {
        await flushed(gw);
        const row = (await allUsage(gw.running.gateway.store, orgId)).find((u) => u.request_id === requestId);
        expect(row?.completion_tokens).toBeGreaterThan(0);
        expect(row?.cost_micros).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 50 },
    );
  });
});
