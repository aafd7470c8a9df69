// SPEC §2/§3/§12 through the official `openai` SDK, the client users actually run: chat
// (plain, streamed, the stream helper), tool calls, embeddings, models, and typed errors.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let client: OpenAI;
let key: string;

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(10);
  key = (await gw.createKey(org.mk)).key;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0, timeout: 5000 });
});

afterAll(async () => {
  await gw?.close();
});

const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
  },
};

describe('SPEC §3 chat completions with the openai SDK', () => {
  it('creates a completion', async () => {
    const completion = await client.chat.completions.create({ model: 'mock-chat', messages: [{ role: 'user', content: 'echo: hello from the sdk' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('mock-chat');
    expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: 'hello from the sdk' });
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams chunks with for await, with usage on the last chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'mock-chat',
      messages: [{ role: 'user', content: 'echo: streamed through the sdk' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('streamed through the sdk');
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'mock-chat')).toBe(true);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBeGreaterThan(0);
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean)).toEqual(['stop']);
  });

  it('works with the stream helper and finalChatCompletion()', async () => {
    const runner = client.chat.completions.stream({ model: 'mock-chat', messages: [{ role: 'user', content: 'echo: assembled by the helper' }] });
    const deltas: string[] = [];
    runner.on('content', (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    expect(final.choices[0].message.content).toBe('assembled by the helper');
    expect(deltas.join('')).toBe('assembled by the helper');
    expect(deltas.length).toBeGreaterThan(1);
  });

  it('returns a tool call when the prompt asks to use the tool, and answers the tool result', async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Please use the tool to get the weather in Paris' }];
    const first = await client.chat.completions.create({ model: 'mock-chat', messages, tools: [WEATHER_TOOL] });
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    const call = first.choices[0].message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function tool call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'mock', unit: 'celsius' });
    const second = await client.chat.completions.create({
      model: 'mock-chat',
      tools: [WEATHER_TOOL],
      messages: [...messages, first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '21 degrees and sunny' }],
    });
    expect(second.choices[0].message.content).toContain('21 degrees and sunny');
  });

  it('assembles a streamed tool call in finalChatCompletion()', async () => {
    const runner = client.chat.completions.stream({ model: 'mock-chat', messages: [{ role: 'user', content: 'use the tool for Berlin' }], tools: [WEATHER_TOOL] });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.name).toBe('get_weather');
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'mock', unit: 'celsius' });
  });
});

describe('SPEC §2 embeddings and models with the openai SDK', () => {
  it('creates embeddings', async () => {
    const res = await client.embeddings.create({ model: 'mock-embedding', input: ['the gateway routes requests', 'bills tokens exactly'] });
    expect(res.data).toHaveLength(2);
    for (const [i, d] of res.data.entries()) {
      expect(d.index).toBe(i);
      expect(d.embedding.length).toBeGreaterThan(0);
      expect(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
    }
    expect(res.data[0].embedding).not.toEqual(res.data[1].embedding);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('creates embeddings with encoding_format "float"', async () => {
    const res = await client.embeddings.create({ model: 'mock-embedding', input: 'one text', encoding_format: 'float', dimensions: 64 });
    expect(res.data[0].embedding).toHaveLength(64);
  });

  it('lists and retrieves models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['mock-chat', 'mock-chat-large', 'mock-embedding']));
    const one = await client.models.retrieve('mock-chat');
    expect(one).toMatchObject({ id: 'mock-chat', object: 'model' });
  });
});

describe('SPEC §12 errors surface as the SDK typed errors', () => {
  it('raises AuthenticationError (401 invalid_api_key) for a bad key', async () => {
    const bad = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-tg-not-a-real-key', maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const e = err as InstanceType<typeof OpenAI.AuthenticationError>;
    expect(e.status).toBe(401);
    expect(e.code).toBe('invalid_api_key');
    expect(e.type).toBe('authentication_error');
    expect(e.requestID).toMatch(/\S+/);
  });

  it('raises NotFoundError (404 model_not_found) with the suggestion', async () => {
    const err = await client.chat.completions.create({ model: 'mock-chatt', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const e = err as InstanceType<typeof OpenAI.NotFoundError>;
    expect(e.status).toBe(404);
    expect(e.code).toBe('model_not_found');
    expect(e.param).toBe('model');
    expect(e.message).toContain('did you mean `mock-chat`?');
  });

  it('raises BadRequestError (400 invalid_value) naming the parameter', async () => {
    const err = await client.chat.completions.create({ model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }], temperature: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_value');
    expect(e.param).toBe('temperature');
    expect(e.type).toBe('invalid_request_error');
  });

  it('raises an APIError for a failure after the stream started', async () => {
    const stream = await client.chat.completions.create(
      { model: 'mock-chat', messages: [{ role: 'user', content: 'echo: this stream breaks after a few chunks' }], stream: true },
      { headers: { 'x-mock-fault': 'reset_after=3' } },
    );
    let text = '';
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })().catch((e: unknown) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).message).toMatch(/provider/i);
  });
});
