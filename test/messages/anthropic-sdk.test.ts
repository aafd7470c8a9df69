// The official @anthropic-ai/sdk against Tollgate, on both lanes: a Claude model whose channel
// is a (fake) Anthropic upstream (native lane) and the mock model (translation lane). Create,
// stream, a tool-use round trip, count_tokens, models.list, and errors as the SDK's own types.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, usageOf } from '../helpers/account.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel } from '../helpers/upstream.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-upstream.js';

let fake: FakeAnthropic;
let gw: TestGateway;
let mk: string;
let key: string;
let client: Anthropic;

const NATIVE = 'claude-test-4.5';
const TRANSLATED = 'mock-agent';
const WEATHER_TOOL = { name: 'get_weather', description: 'Current weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } };

beforeAll(async () => {
  fake = await startFakeAnthropic();
  gw = await startTestGateway({
    raw: {
      providers: [
        { id: 'mock', type: 'mock' },
        { id: 'anthropic', type: 'anthropic', base_url: fake.url, api_key: 'sk-ant-upstream' },
      ],
      models: [
        chatModel(NATIVE, 'anthropic', 'claude-sonnet-4-5', {
          aliases: ['claude-test-4-5', 'claude-test-4-5-20250929'],
          context_window: 200000,
          max_output_tokens: 64000,
          pricing: { input_per_mtok: 3, output_per_mtok: 15, cache_read_per_mtok: 0.3, cache_write_per_mtok: 3.75 },
        }),
        chatModel(TRANSLATED, 'mock', 'mock-chat', { context_window: 200000, max_output_tokens: 64000, pricing: { input_per_mtok: 1, output_per_mtok: 2 } }),
        chatModel('mock-resting', 'mock', 'mock-chat', { maintenance: true }),
      ],
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
  client = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await fake?.close();
});

function textOf(msg: Anthropic.Message): string {
  return msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

describe('messages.create', () => {
  it('answers through the native lane with the upstream\'s message and the public model id', async () => {
    const msg = await client.messages.create({ model: 'claude-test-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] });
    expect(textOf(msg)).toBe('You said: Hello there');
    expect(msg.model).toBe(NATIVE);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(fake.requests.at(-1)?.body).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 100 });
  });

  it('answers through the translation lane in Messages shape', async () => {
    const msg = await client.messages.create({ model: TRANSLATED, max_tokens: 50, messages: [{ role: 'user', content: 'Tell me something' }] });
    expect(msg.type).toBe('message');
    expect(msg.role).toBe('assistant');
    expect(msg.model).toBe(TRANSLATED);
    expect(textOf(msg).length).toBeGreaterThan(0);
    expect(['end_turn', 'max_tokens']).toContain(msg.stop_reason);
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
  });

  it('takes images on the translation lane', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const msg = await client.messages.create({
      model: TRANSLATED,
      max_tokens: 20,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }, { type: 'text', text: 'What is this?' }] }],
    });
    expect(textOf(msg).length).toBeGreaterThan(0);
  });
});

describe('messages.stream', () => {
  it.each([NATIVE, TRANSLATED])('streams %s into a final message equal to the text events', async (model) => {
    const stream = client.messages.stream({ model, max_tokens: 60, messages: [{ role: 'user', content: 'Stream this please' }] });
    let text = '';
    stream.on('text', (t) => {
      text += t;
    });
    const final = await stream.finalMessage();
    expect(text.length).toBeGreaterThan(0);
    expect(textOf(final)).toBe(text);
    expect(final.model).toBe(model);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });
});

describe('a tool-use round trip', () => {
  it.each([NATIVE, TRANSLATED])('%s calls the tool, streamed, and answers from its result', async (model) => {
    const first = await client.messages
      .stream({ model, max_tokens: 200, tools: [WEATHER_TOOL], tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'Weather in Paris? use the tool' }] })
      .finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(call?.name).toBe('get_weather');
    expect(call?.input).toMatchObject({ city: expect.any(String) });

    const second = await client.messages.create({
      model,
      max_tokens: 200,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'Weather in Paris? use the tool' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call!.id, content: '18 degrees and sunny' }] },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    expect(textOf(second)).toContain('18 degrees and sunny');
  });
});

describe('count_tokens', () => {
  it.each([NATIVE, TRANSLATED])('counts the prompt tokens of a request for %s', async (model) => {
    const small = await client.messages.countTokens({ model, messages: [{ role: 'user', content: 'Hi' }] });
    const big = await client.messages.countTokens({ model, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi '.repeat(200) }], tools: [WEATHER_TOOL] });
    expect(small.input_tokens).toBeGreaterThan(0);
    expect(big.input_tokens).toBeGreaterThan(small.input_tokens + 100);
  });
});

describe('models.list', () => {
  it('pages through the models this key may use', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining([NATIVE, TRANSLATED]));
    const one = await client.models.retrieve('claude-test-4-5-20250929');
    expect(one.id).toBe(NATIVE);
  });
});

describe('errors surface as the SDK\'s typed errors with Tollgate\'s code', () => {
  it('a wrong key is an AuthenticationError', async () => {
    const bad = new Anthropic({ baseURL: gw.url, apiKey: 'sk-tg-not-a-real-key', maxRetries: 0 });
    const err = await bad.messages.create({ model: NATIVE, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error', code: 'invalid_api_key' } });
  });

  it('an unknown model is a NotFoundError that suggests the near one', async () => {
    const err = await client.messages.create({ model: 'claude-test-4.6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'not_found_error', code: 'model_not_found' } });
  });

  it('an invalid body is a BadRequestError naming the field', async () => {
    // This SDK version no longer types the sampling fields; older clients still send them.
    const body = { model: NATIVE, max_tokens: 10, temperature: 3, messages: [{ role: 'user', content: 'x' }] } as Anthropic.MessageCreateParamsNonStreaming;
    const err = await client.messages.create(body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_value', param: 'temperature' } });
  });

  it('a model the key may not use is a PermissionDeniedError', async () => {
    const narrow = (await gw.createKey(mk, { allowed_models: [TRANSLATED] })).key;
    const c = new Anthropic({ baseURL: gw.url, apiKey: narrow, maxRetries: 0 });
    const err = await c.messages.create({ model: NATIVE, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
  });

  it('a model with no channel to serve it is 529 overloaded_error, as Anthropic says "overloaded"', async () => {
    const err = await client.messages.create({ model: 'mock-resting', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'overloaded_error', code: 'model_unavailable' } });
  });

  it('a rate limit is a RateLimitError', async () => {
    const limited = (await gw.createKey(mk, { rpm: 1 })).key;
    const c = new Anthropic({ baseURL: gw.url, apiKey: limited, maxRetries: 0 });
    await c.messages.create({ model: TRANSLATED, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    const err = await c.messages.create({ model: TRANSLATED, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'rate_limit_error', code: 'rpm_exceeded' } });
  });
});

describe('usage and charges', () => {
  it('records a usage row with a charge for Messages requests on both lanes', async () => {
    const before = await balanceOf(gw.url, key);
    await client.messages.create({ model: NATIVE, max_tokens: 20, messages: [{ role: 'user', content: 'Bill me natively' }] });
    await client.messages.create({ model: TRANSLATED, max_tokens: 20, messages: [{ role: 'user', content: 'Bill me translated' }] });
    const rows = await usageOf(gw, mk);
    const native = rows.find((r) => r.model === NATIVE && r.status === 200);
    const translated = rows.find((r) => r.model === TRANSLATED && r.status === 200);
    expect(native?.cost_usd).toBeGreaterThan(0);
    expect(translated?.cost_usd).toBeGreaterThan(0);
    // Usage rows name the surface the request came in on.
    expect((native as unknown as { surface: string }).surface).toBe('messages');
    expect((translated as unknown as { surface: string }).surface).toBe('messages');
    const after = await balanceOf(gw.url, key);
    expect(after.balance_usd).toBeLessThan(before.balance_usd);
  });
});

describe('upstream overload (last: it leaves the channel\'s breaker failing)', () => {
  it('an upstream overloaded on every attempt is a server error (InternalServerError) in Anthropic shape', async () => {
    fake.script({ status: 529, times: 10 });
    const err = await client.messages.create({ model: NATIVE, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: expect.stringMatching(/^(api_error|overloaded_error)$/), code: expect.any(String) } });
  });
});
