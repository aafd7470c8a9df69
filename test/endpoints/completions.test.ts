// POST /v1/completions: the legacy text completions API through the official `openai` SDK,
// natively to an OpenAI-compatible upstream (the mock) and translated to chat for Anthropic,
// where fill-in-the-middle cannot be honoured and is refused before any charge.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, usageOf } from '../helpers/account.js';
import { expectError, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic-upstream.js';

let gw: TestGateway;
let anthropic: FakeAnthropic;
let client: OpenAI;
let key: string;
let mk: string;

const post = (body: unknown) =>
  fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  anthropic = await startFakeAnthropic();
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, { id: 'claude', type: 'anthropic', base_url: anthropic.url, api_key: 'test-key' }],
      models: [
        ...MOCK_MODELS,
        { id: 'claude-test', pricing: { input_per_mtok: 3, output_per_mtok: 15 }, channels: [{ provider: 'claude', upstream_model: 'claude-test-upstream' }] },
      ],
      limits: { key_rpm: null },
      cache: { exact: { enabled: false } },
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await gw?.close();
  await anthropic?.close();
});

describe('POST /v1/completions', () => {
  it('answers a prompt with a text_completion, billed from the upstream usage', async () => {
    const before = await balanceOf(gw.url, mk);
    const c = await client.completions.create({ model: 'mock-chat', prompt: 'echo: fill me in', max_tokens: 50 });
    expect(c.object).toBe('text_completion');
    expect(c.model).toBe('mock-chat');
    expect(c.choices[0].text).toBe('fill me in');
    expect(c.choices[0].finish_reason).toBe('stop');
    expect(c.usage?.prompt_tokens).toBeGreaterThan(0);
    const rows = await usageOf(gw, mk);
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(row).toMatchObject({ model: 'mock-chat', status: 200, prompt_tokens: c.usage!.prompt_tokens, completion_tokens: c.usage!.completion_tokens });
    const expected = (c.usage!.prompt_tokens * 1 + c.usage!.completion_tokens * 2) / 1e6;
    expect(row!.cost_usd).toBeCloseTo(expected, 6);
    const after = await balanceOf(gw.url, mk);
    expect(before.balance_usd - after.balance_usd).toBeCloseTo(expected, 6);
  });

  it('passes suffix (fill-in-the-middle) to a native upstream: the answer depends on it', async () => {
    const a = await client.completions.create({ model: 'mock-chat', prompt: 'def add(a, b):', suffix: '\n  return c' });
    const b = await client.completions.create({ model: 'mock-chat', prompt: 'def add(a, b):', suffix: '\n  return d' });
    expect(a.choices[0].text).not.toBe(b.choices[0].text);
    expect(a.usage!.prompt_tokens).toBeGreaterThan(0);
  });

  it('answers several prompts with a choice each, and n choices per prompt', async () => {
    const c = await client.completions.create({ model: 'mock-chat', prompt: ['echo: one', 'echo: two'], n: 2 });
    expect(c.choices.map((x) => x.index)).toEqual([0, 1, 2, 3]);
    expect(c.choices[0].text).toBe('one');
    expect(c.choices[2].text).toBe('two');
  });

  it('streams text_completion chunks ending with usage and [DONE]', async () => {
    const stream = await client.completions.create({ model: 'mock-chat', prompt: 'echo: streamed words here', stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('text_completion');
      expect(chunk.model).toBe('mock-chat');
      for (const ch of chunk.choices) {
        text += ch.text;
        finish = ch.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('streamed words here');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('translates to chat for a provider without /completions (Anthropic), in both stream and JSON', async () => {
    const c = await client.completions.create({ model: 'claude-test', prompt: 'Say something', max_tokens: 40 });
    expect(c.object).toBe('text_completion');
    expect(c.model).toBe('claude-test');
    expect(c.choices[0].text.length).toBeGreaterThan(0);
    expect(c.usage!.completion_tokens).toBeGreaterThan(0);
    const sent = anthropic.requests.at(-1)!.body as { messages: Array<{ role: string; content: unknown }>; max_tokens: number };
    expect(sent.messages[0].role).toBe('user');
    expect(sent.max_tokens).toBe(40);
    const stream = await client.completions.create({ model: 'claude-test', prompt: 'Say something else', max_tokens: 40, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: unknown;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) text += ch.text;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage).toBeDefined();
  });

  it('refuses suffix on a translated provider with a 400, before any upstream call or charge', async () => {
    const before = await balanceOf(gw.url, mk);
    const calls = anthropic.requests.length;
    const res = await post({ model: 'claude-test', prompt: 'def f():', suffix: 'return 1' });
    const err = await expectError(res, 400, 'unsupported_parameter');
    expect(err.param).toBe('suffix');
    expect(err.message).toContain('/completions');
    expect(anthropic.requests.length).toBe(calls);
    expect((await balanceOf(gw.url, mk)).balance_usd).toBe(before.balance_usd);
  });

  it('refuses hostile bodies with clear 400s', async () => {
    await expectError(await post({ model: 'mock-chat' }), 400, 'missing_required_parameter');
    await expectError(await post({ model: 'mock-chat', prompt: [1, 'x'] }), 400, 'invalid_value');
    await expectError(await post({ model: 'mock-chat', prompt: 'x', max_tokens: -1 }), 400, 'invalid_value');
    await expectError(await post({ model: 'mock-chat', prompt: 'x', messages: [] }), 400, 'unknown_parameter');
    await expectError(await post({ model: 'mock-chat', prompt: 'x', stop: [1] }), 400, 'invalid_value');
    await expectError(await post({ model: 'mock-chat', prompt: 'x', max_tokens: 1_000_000 }), 400, 'invalid_value');
    await expectError(await post([1, 2]), 400, 'invalid_json');
  });
});
