// SPEC §3–§5 end to end, per provider type: the official `openai` SDK talks to a Tollgate
// gateway whose models are served by local fakes of each provider's real API (OpenAI-compatible,
// Anthropic Messages, Gemini) and by the in-process mock. Whatever is upstream, the client sees
// the same OpenAI answers, streams, tool calls, usage, billing and mapped errors.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-upstream.js';
import { type FakeGemini, startFakeGemini } from '../fakes/gemini-upstream.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-upstream.js';
import { type UsageRecord, usageOf } from '../helpers/account.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const MAX_ATTEMPTS = 3;
const pricing = { input_per_mtok: 1, output_per_mtok: 2 };
const chatModel = (id: string, provider: string, upstream: string) => ({ id, context_window: 32000, max_output_tokens: 4096, pricing, channels: [{ provider, upstream_model: upstream }] });
const embeddingModel = (id: string, provider: string, upstream: string) => ({
  id,
  kind: 'embedding',
  context_window: 8192,
  max_output_tokens: 1,
  pricing: { input_per_mtok: 0.5, output_per_mtok: 0 },
  channels: [{ provider, upstream_model: upstream }],
});

const weatherTool: OpenAI.Chat.Completions.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'], additionalProperties: false },
    strict: true,
  },
};

let openaiUp: FakeOpenAI;
let anthropicUp: FakeAnthropic;
let geminiUp: FakeGemini;
let gw: TestGateway;
let mk: string;
let client: OpenAI;

interface ProviderCase {
  type: string;
  providerId: string;
  model: string;
  /** Makes the next `n` upstream calls fail with a rate limit or overload. */
  failNext(n: number): void;
  /** Request headers that make the upstream fail (the in-process mock is scripted per request). */
  failHeaders?: Record<string, string>;
  /** Upstream requests seen so far, when the fake records them. */
  seen?(): number;
}

const CASES: ProviderCase[] = [
  { type: 'openai', providerId: 'oai', model: 'oai-chat', failNext: (n) => openaiUp.script({ status: 429, code: 'rate_limit_exceeded', times: n }), seen: () => openaiUp.requests.length },
  { type: 'anthropic', providerId: 'ant', model: 'ant-chat', failNext: (n) => anthropicUp.script({ status: 529, type: 'overloaded_error', times: n }), seen: () => anthropicUp.requests.length },
  {
    type: 'gemini',
    providerId: 'gem',
    model: 'gem-chat',
    failNext: (n) => geminiUp.script(...Array.from({ length: n }, () => ({ kind: 'error' as const, status: 429, googleStatus: 'RESOURCE_EXHAUSTED' }))),
    seen: () => geminiUp.requests.length,
  },
  { type: 'mock', providerId: 'mock', model: 'mock-chat', failNext: () => {}, failHeaders: { 'x-mock-fault': 'status=503' } },
];

beforeAll(async () => {
  [openaiUp, anthropicUp, geminiUp] = await Promise.all([
    startFakeOpenAI({ apiKey: 'sk-upstream-openai' }),
    startFakeAnthropic({ apiKey: 'sk-ant-upstream' }),
    startFakeGemini({ apiKey: 'gemini-upstream-key' }),
  ]);
  gw = await startTestGateway({
    raw: {
      providers: [
        { id: 'oai', type: 'openai', base_url: openaiUp.url, api_key: 'sk-upstream-openai' },
        { id: 'ant', type: 'anthropic', base_url: anthropicUp.url, api_key: 'sk-ant-upstream' },
        { id: 'gem', type: 'gemini', base_url: geminiUp.baseUrl, api_key: 'gemini-upstream-key' },
        { id: 'mock', type: 'mock' },
      ],
      models: [
        chatModel('oai-chat', 'oai', 'gpt-test'),
        chatModel('ant-chat', 'ant', 'claude-sonnet-4-6'),
        chatModel('gem-chat', 'gem', 'gemini-2.5-flash'),
        chatModel('mock-chat', 'mock', 'mock-chat'),
        embeddingModel('oai-embed', 'oai', 'text-embedding-3-small'),
        embeddingModel('gem-embed', 'gem', 'gemini-embedding-001'),
      ],
      routing: { max_attempts: MAX_ATTEMPTS, retry_base_ms: 1, retry_max_ms: 5, retry_budget_ratio: 1 },
      // Failures scripted below must not open breakers for the tests that follow.
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
      cache: { exact: { enabled: false } },
    },
  });
  const org = await gw.createOrg(25);
  mk = org.mk;
  const { key } = await gw.createKey(mk);
  client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 10_000 });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([openaiUp?.close(), anthropicUp?.close(), geminiUp?.close()]);
});

async function usageRecord(requestId: string | null): Promise<UsageRecord> {
  expect(requestId).toBeTruthy();
  const rec = (await usageOf(gw, mk)).find((r) => r.request_id === requestId);
  if (!rec) throw new Error(`no usage record for request ${requestId}`);
  return rec;
}

describe.each(CASES)('through the $type provider (SPEC §3, §4)', (p) => {
  const ask = 'echo: Say hello to the gateway';
  let nonStream: { content: string; usage: OpenAI.CompletionUsage | undefined };

  it('non-stream: answers a chat.completion with text, the public model id and usage, billed', async () => {
    const { data, response } = await client.chat.completions.create({ model: p.model, messages: [{ role: 'user', content: ask }] }).withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe(p.model);
    const choice = data.choices[0];
    expect(choice.finish_reason).toBe('stop');
    expect(choice.message.content).toContain('Say hello to the gateway');
    expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);
    nonStream = { content: choice.message.content ?? '', usage: data.usage };

    const rec = await usageRecord(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ model: p.model, status: 200, prompt_tokens: data.usage?.prompt_tokens, completion_tokens: data.usage?.completion_tokens, stream: false });
    expect(rec.cost_usd).toBeGreaterThan(0);
  });

  it('stream: the deltas concatenate to the non-stream text, usage comes last and equals it, billed the same', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: p.model, messages: [{ role: 'user', content: ask }], stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    let text = '';
    let chunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      expect(chunk.model).toBe(p.model);
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) {
        expect(chunk.choices).toEqual([]);
        usage = chunk.usage;
      }
    }
    expect(chunks).toBeGreaterThan(2);
    expect(finish).toBe('stop');
    expect(text).toBe(nonStream.content);
    expect(usage?.prompt_tokens).toBe(nonStream.usage?.prompt_tokens);
    expect(usage?.completion_tokens).toBe(nonStream.usage?.completion_tokens);

    const rec = await usageRecord(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ model: p.model, status: 200, stream: true, prompt_tokens: usage?.prompt_tokens, completion_tokens: usage?.completion_tokens, estimated: false });
    expect(rec.cost_usd).toBeGreaterThan(0);
  });

  it('tool call (non-stream): returns tool_calls with the function name and JSON arguments', async () => {
    const data = await client.chat.completions.create({
      model: p.model,
      messages: [{ role: 'user', content: 'What is the weather in Paris? Use the tool.' }],
      tools: [weatherTool],
      tool_choice: 'required',
    });
    const choice = data.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    const call = choice.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') return;
    expect(call.id.length).toBeGreaterThan(0);
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ location: expect.any(String) });
  });

  it('tool call (stream): the SDK stream helper assembles tool_calls with parsed JSON arguments', async () => {
    const runner = client.chat.completions.stream({
      model: p.model,
      messages: [{ role: 'user', content: 'What is the weather in Paris? Use the tool.' }],
      tools: [weatherTool],
      tool_choice: 'required',
      stream_options: { include_usage: true },
    });
    let argumentDeltas = 0;
    runner.on('tool_calls.function.arguments.delta', () => argumentDeltas++);
    const final = await runner.finalChatCompletion();
    expect(final.model).toBe(p.model);
    const choice = final.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    const calls = choice.message.tool_calls ?? [];
    expect(calls).toHaveLength(1);
    const call = calls[0];
    expect(call.function.name).toBe('get_weather');
    expect(call.function.parsed_arguments).toEqual({ location: expect.any(String) });
    expect(JSON.parse(call.function.arguments)).toEqual(call.function.parsed_arguments);
    expect(argumentDeltas).toBeGreaterThan(0);
    expect(final.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it('an upstream rate limit / overload on every attempt surfaces after the retries (429 upstream_rate_limited or 502 provider_error), and nothing is charged', async () => {
    const before = p.seen?.();
    p.failNext(MAX_ATTEMPTS);
    let caught: unknown;
    try {
      await client.chat.completions.create({ model: p.model, messages: [{ role: 'user', content: ask }] }, { headers: p.failHeaders });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OpenAI.APIError);
    const err = caught as InstanceType<typeof OpenAI.APIError>;
    // Every attempt a 429: the provider is rate limiting the gateway, and the client is told so.
    const rateLimited = p.type === 'openai' || p.type === 'gemini';
    expect(err.status).toBe(rateLimited ? 429 : 502);
    expect(err.code).toBe(rateLimited ? 'upstream_rate_limited' : 'provider_error');
    expect(err.type).toBe(rateLimited ? 'rate_limit_error' : 'upstream_error');
    // Names the provider (by its configured id or its type) so the operator knows where to look.
    if (!rateLimited) expect(err.message).toMatch(new RegExp(`provider \\((${p.providerId}|${p.type})\\)`));
    if (before !== undefined) expect(p.seen?.()).toBe(before + MAX_ATTEMPTS);
    const rec = await usageRecord(err.requestID ?? null);
    expect(rec).toMatchObject({ status: rateLimited ? 429 : 502, error_code: rateLimited ? 'upstream_rate_limited' : 'provider_error', cost_usd: 0 });
    expect((rec as UsageRecord & { attempts?: number }).attempts).toBe(MAX_ATTEMPTS);
  });

  // The in-process mock fails per request header, not once: nothing to script for it here.
  if (p.failHeaders !== undefined) return;
  it('one rate-limited attempt is retried invisibly: the client gets the answer', async () => {
    const before = p.seen?.() ?? 0;
    p.failNext(1);
    const data = await client.chat.completions.create({ model: p.model, messages: [{ role: 'user', content: ask }] });
    expect(data.choices[0].message.content).toBe(nonStream.content);
    expect(p.seen?.()).toBe(before + 2);
  });
});

describe('POST /v1/embeddings through openai and gemini providers (SPEC §2)', () => {
  it.each([
    ['openai', 'oai-embed'],
    ['gemini', 'gem-embed'],
  ])('%s: the SDK gets one vector per input and the request is billed', async (_type, model) => {
    const { data, response } = await client.embeddings.create({ model, input: ['the gateway bills tokens', 'a second input'] }).withResponse();
    expect(data.model).toBe(model);
    expect(data.data.map((d) => d.index)).toEqual([0, 1]);
    for (const d of data.data) {
      // The SDK asks for base64 and decodes it: a wrong encoding shows up as a garbage vector.
      expect(d.embedding.length).toBeGreaterThanOrEqual(64);
      expect(d.embedding.every((x) => Number.isFinite(x))).toBe(true);
      expect(Math.hypot(...d.embedding)).toBeCloseTo(1, 3);
    }
    expect(data.data[0].embedding).not.toEqual(data.data[1].embedding);
    expect(data.usage.prompt_tokens).toBeGreaterThan(0);
    const rec = await usageRecord(response.headers.get('x-request-id'));
    expect(rec).toMatchObject({ model, status: 200, prompt_tokens: data.usage.prompt_tokens, completion_tokens: 0 });
    expect(rec.cost_usd).toBeGreaterThan(0);
  });

  it('openai: float vectors asked for explicitly arrive as floats of the requested size', async () => {
    const data = await client.embeddings.create({ model: 'oai-embed', input: 'hello', encoding_format: 'float', dimensions: 32 });
    expect(data.data[0].embedding).toHaveLength(32);
    const sent = openaiUp.requests.at(-1)?.body;
    expect(sent).toMatchObject({ model: 'text-embedding-3-small', encoding_format: 'float', dimensions: 32 });
  });
});
