// Model names as agents send them: `aliases` in the config resolve to the model, the embedded
// default with ANTHROPIC_API_KEY carries the current Claude models with their ids as aliases,
// and GET /v1/models has the fields Anthropic's SDK reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vendorModels } from '../../src/catalogue/index.js';
import { defaultConfigInput } from '../../src/config/defaults.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { chat, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel } from '../helpers/upstream.js';

function configError(raw: Record<string, unknown>): string {
  try {
    validateConfig(raw, {});
  } catch (err) {
    if (err instanceof ConfigError) return `${err.message}\n${err.problems.join('\n')}`;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config: model aliases', () => {
  const providers = [{ id: 'mock', type: 'mock' }];

  it('refuses an alias that is another model\'s id, naming the field', () => {
    const text = configError({ providers, models: [chatModel('a', 'mock', 'mock-chat', { aliases: ['b'] }), chatModel('b', 'mock', 'mock-chat')] });
    expect(text).toContain('models[0].aliases[0]');
    expect(text).toContain('"b" is already the id of a model');
  });

  it('refuses one alias on two models', () => {
    const text = configError({ providers, models: [chatModel('a', 'mock', 'mock-chat', { aliases: ['x'] }), chatModel('b', 'mock', 'mock-chat', { aliases: ['x'] })] });
    expect(text).toContain('models[1].aliases[0]: "x" is already an alias of "a"');
  });

  it('refuses an alias that is not a lowercase slug', () => {
    expect(configError({ providers, models: [chatModel('a', 'mock', 'mock-chat', { aliases: ['Claude Sonnet'] })] })).toContain('aliases');
  });
});

describe('embedded default with ANTHROPIC_API_KEY', () => {
  const config = validateConfig(defaultConfigInput({ ANTHROPIC_API_KEY: 'sk-ant-x' }), { ANTHROPIC_API_KEY: 'sk-ant-x' });

  it('adds the current Claude models with the ids Claude Code sends as aliases', () => {
    const sonnet = config.models.find((m) => m.id === 'claude-sonnet-4.5');
    expect(sonnet?.aliases).toEqual(['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929']);
    expect(sonnet?.channels).toEqual([expect.objectContaining({ provider: 'anthropic', upstream_model: 'claude-sonnet-4-5' })]);
    const haiku = config.models.find((m) => m.id === 'claude-haiku-4.5');
    expect(haiku?.aliases).toContain('claude-haiku-4-5-20251001');
    expect(config.models.filter((m) => m.channels[0].provider === 'anthropic').length).toBe(vendorModels('anthropic').length);
  });

  it('prices every class: input, output, cache write at 1.25× input and cache read at 0.1× input', () => {
    const sonnet = config.models.find((m) => m.id === 'claude-sonnet-4.5');
    expect(sonnet).toMatchObject({ context_window: 200000, max_output_tokens: 64000 });
    expect(sonnet?.pricing).toEqual({ input_per_mtok: 3, output_per_mtok: 15, cache_write_per_mtok: 3.75, cache_read_per_mtok: 0.3 });
    const opus = config.models.find((m) => m.id === 'claude-opus-5.5');
    expect(opus).toMatchObject({ context_window: 1_000_000, max_output_tokens: 128_000 });
    expect(opus?.pricing).toEqual({ input_per_mtok: 4, output_per_mtok: 20, cache_write_per_mtok: 5, cache_read_per_mtok: 0.4 });
  });
});

describe('resolving aliases on requests', () => {
  let gw: TestGateway;
  let key: string;

  beforeAll(async () => {
    gw = await startTestGateway({
      raw: { models: [...MOCK_MODELS, chatModel('claude-test-4.5', 'mock', 'mock-chat', { aliases: ['claude-test-4-5', 'claude-test-4-5-20250929'], description: 'A Claude stand-in' })] },
    });
    const org = await gw.createOrg(10);
    key = (await gw.createKey(org.mk)).key;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('serves a request that names a model by a dated alias, answering with the public id', async () => {
    const res = await chat(gw.url, key, { model: 'claude-test-4-5-20250929', messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: string }).model).toBe('claude-test-4.5');
  });

  it('finds a model by alias at GET /v1/models/{id}', async () => {
    const res = await fetch(`${gw.url}/v1/models/claude-test-4-5`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'claude-test-4.5', aliases: ['claude-test-4-5', 'claude-test-4-5-20250929'] });
  });

  it('lists models with the fields Anthropic SDKs read (type, display_name, created_at, has_more, first_id, last_id)', async () => {
    const res = await fetch(`${gw.url}/v1/models`, { headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01' } });
    const body = (await res.json()) as { data: Array<Record<string, unknown>>; has_more: boolean; first_id: string; last_id: string };
    expect(body.has_more).toBe(false);
    expect(body.first_id).toBe(body.data[0].id);
    expect(body.last_id).toBe(body.data.at(-1)?.id);
    for (const m of body.data) expect(m).toMatchObject({ type: 'model', display_name: expect.any(String), created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(body.data.find((m) => m.id === 'mock-embedding')?.kind).toBe('embedding');
  });
});
