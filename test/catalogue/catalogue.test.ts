// The built-in model catalogue as data: every entry complete and priced, names unique, the
// slugs people type today present; the key variables that expose a vendor's models with no
// config; `catalogue: <id>` in a config with overrides; and the checks on wildcard routes.
import { describe, expect, it } from 'vitest';
import { CATALOGUE, priceName, vendorModels, vendorOfProvider } from '../../src/catalogue/index.js';
import { defaultConfigInput } from '../../src/config/defaults.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { providerTypes } from '../../src/config/schema.js';

function configError(raw: Record<string, unknown>): string {
  try {
    validateConfig(raw, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('catalogue data', () => {
  const vendorIds = new Set(CATALOGUE.vendors.map((v) => v.id));

  it('has every vendor the gateway exposes from a key variable, each with a provider type, base URL and price page', () => {
    expect([...vendorIds].sort()).toEqual(['anthropic', 'deepseek', 'gemini', 'groq', 'mistral', 'openai', 'openrouter', 'zhipu']);
    for (const v of CATALOGUE.vendors) {
      expect(providerTypes, v.id).toContain(v.type);
      expect(v.base_url, v.id).toMatch(/^https:\/\/[a-z0-9.-]+/);
      expect(v.pricing_page, v.id).toMatch(/^https:\/\//);
      expect(v.env.length, v.id).toBeGreaterThan(0);
      for (const name of v.env) expect(name, v.id).toMatch(/^[A-Z][A-Z0-9_]*_API_KEY$/);
    }
    expect(CATALOGUE.vendors.find((v) => v.id === 'zhipu')?.env).toEqual(['ZHIPU_API_KEY', 'GLM_API_KEY']);
  });

  it('includes the slugs people type today', () => {
    const ids = CATALOGUE.models.map((m) => m.id);
    for (const slug of ['gpt-5.4', 'gpt-5.2', 'claude-sonnet-4.5', 'gemini-3-flash-preview', 'glm-5-turbo']) expect(ids).toContain(slug);
  });

  it('has every vendor represented', () => {
    for (const v of vendorIds) expect(vendorModels(v).length, v).toBeGreaterThan(0);
  });

  for (const m of CATALOGUE.models) {
    it(`${m.id}: complete and priced`, () => {
      expect(m.id).toMatch(/^[a-z0-9][a-z0-9._:/-]*$/);
      expect(vendorIds.has(m.vendor), `vendor ${m.vendor}`).toBe(true);
      expect(['chat', 'embedding', 'image', 'transcription', undefined]).toContain(m.kind);
      expect(Number.isInteger(m.context_window) && m.context_window > 0).toBe(true);
      expect(Number.isInteger(m.max_output_tokens) && m.max_output_tokens > 0).toBe(true);
      expect(m.max_output_tokens).toBeLessThanOrEqual(m.context_window);
      const p = m.pricing;
      const { per_image, per_audio_second, ...tokenPrices } = p;
      expect(Object.keys(tokenPrices).sort()).toEqual(['cache_read_per_mtok', 'cache_write_per_mtok', 'input_per_mtok', 'output_per_mtok']);
      for (const v of Object.values(tokenPrices)) expect(Number.isFinite(v) && v >= 0).toBe(true);
      // Priced: nothing in the catalogue is served free; image and audio models have their own unit price.
      expect(p.input_per_mtok).toBeGreaterThan(0);
      if ((m.kind ?? 'chat') === 'chat') expect(p.output_per_mtok).toBeGreaterThan(0);
      if (m.kind === 'image') {
        const prices = typeof per_image === 'number' ? [per_image] : Object.values(per_image ?? {}).flatMap((v) => (typeof v === 'number' ? [v] : Object.values(v)));
        expect(prices.length).toBeGreaterThan(0);
        for (const v of prices) expect(v).toBeGreaterThan(0);
      } else expect(per_image).toBeUndefined();
      if (m.kind === 'transcription') expect(per_audio_second).toBeGreaterThan(0);
      else expect(per_audio_second).toBeUndefined();
      expect(p.cache_read_per_mtok).toBeLessThanOrEqual(p.input_per_mtok);
      expect(p.cache_read_per_mtok).toBeGreaterThan(0);
      expect(p.cache_write_per_mtok).toBeGreaterThanOrEqual(p.input_per_mtok);
      expect(Object.keys(m.capabilities).sort()).toEqual(['json_schema', 'reasoning', 'tools', 'vision']);
      for (const v of Object.values(m.capabilities)) expect(typeof v).toBe('boolean');
      expect(Array.isArray(m.aliases)).toBe(true);
      for (const a of m.aliases) expect(a).toMatch(/^[a-z0-9][a-z0-9._:/-]*$/);
      expect(m.prices_checked).toMatch(/^20\d\d-[01]\d-[0-3]\d$/);
      expect(Number.isNaN(Date.parse(m.prices_checked))).toBe(false);
      expect(m.source).toMatch(/^https:\/\//);
      if (m.upstream !== undefined) expect(m.upstream.length).toBeGreaterThan(0);
    });
  }

  it('gives every id and alias to exactly one entry, so any mix of vendor keys makes a valid config', () => {
    const owner = new Map<string, string>();
    for (const m of CATALOGUE.models) {
      for (const name of [m.id, ...m.aliases]) {
        expect(owner.get(name), `"${name}" is claimed by ${owner.get(name)} and ${m.id}`).toBeUndefined();
        owner.set(name, m.id);
      }
    }
    const every = Object.fromEntries(CATALOGUE.vendors.map((v) => [v.env[0], 'k']));
    const cfg = validateConfig(defaultConfigInput(every), every);
    expect(cfg.models.length).toBe(CATALOGUE.models.length + 3);
  });
});

describe('pricing a name by the catalogue', () => {
  it('prefers the provider\'s own vendor and sends its upstream name', () => {
    expect(priceName('claude-sonnet-4.5', 'anthropic')).toMatchObject({ entry: { id: 'claude-sonnet-4.5' }, upstream: 'claude-sonnet-4-5' });
    expect(priceName('anthropic/claude-sonnet-4.5', 'openrouter')).toMatchObject({ entry: { id: 'anthropic/claude-sonnet-4.5', vendor: 'openrouter' }, upstream: 'anthropic/claude-sonnet-4.5' });
    expect(priceName('openai/gpt-oss-120b', 'groq')).toMatchObject({ entry: { id: 'gpt-oss-120b' }, upstream: 'openai/gpt-oss-120b' });
  });

  it('strips vendor prefixes, keeping the name as requested for another vendor\'s upstream', () => {
    expect(priceName('anthropic/claude-haiku-4.5', 'openrouter')).toMatchObject({ entry: { id: 'claude-haiku-4.5' }, upstream: 'anthropic/claude-haiku-4.5' });
    expect(priceName('x/y/gpt-5.2', undefined)).toMatchObject({ entry: { id: 'gpt-5.2' }, upstream: 'x/y/gpt-5.2' });
  });

  it('knows no price for a name no entry has', () => {
    expect(priceName('gpt-9-imaginary', 'openai')).toBeUndefined();
    expect(priceName('openai/', 'openai')).toBeUndefined();
  });

  it('tells a provider\'s vendor by type, base URL host, or id', () => {
    expect(vendorOfProvider({ id: 'x', type: 'anthropic' })).toBe('anthropic');
    expect(vendorOfProvider({ id: 'x', type: 'openai', base_url: 'https://api.deepseek.com/v1' })).toBe('deepseek');
    expect(vendorOfProvider({ id: 'groq', type: 'openai' })).toBe('groq');
    expect(vendorOfProvider({ id: 'mine', type: 'openai' })).toBe('openai');
    expect(vendorOfProvider({ id: 'local', type: 'openai', base_url: 'http://127.0.0.1:8000/v1' })).toBeUndefined();
    expect(vendorOfProvider({ id: 'mock', type: 'mock' })).toBeUndefined();
  });
});

describe('embedded default: a vendor key variable exposes its catalogue models', () => {
  it('adds nothing but the mock without keys', () => {
    const cfg = validateConfig(defaultConfigInput({}), {});
    expect(cfg.providers.map((p) => p.id)).toEqual(['mock']);
  });

  it('adds DeepSeek as an openai-type provider with its base URL, every model at its catalogue price', () => {
    const env = { DEEPSEEK_API_KEY: 'sk-ds-test' };
    const cfg = validateConfig(defaultConfigInput(env), env);
    expect(cfg.providers.find((p) => p.id === 'deepseek')).toMatchObject({ type: 'openai', base_url: 'https://api.deepseek.com/v1', api_key: 'sk-ds-test' });
    const served = cfg.models.filter((m) => m.channels[0].provider === 'deepseek');
    expect(served.map((m) => m.id).sort()).toEqual(vendorModels('deepseek').map((m) => m.id).sort());
    const chat = cfg.models.find((m) => m.id === 'deepseek-chat');
    expect(chat).toMatchObject({ catalogue: 'deepseek-chat', aliases: ['deepseek-v3.2'], context_window: 128000, max_output_tokens: 8192 });
    expect(chat?.pricing).toEqual({ input_per_mtok: 0.28, output_per_mtok: 0.42, cache_read_per_mtok: 0.028, cache_write_per_mtok: 0.28 });
  });

  it('takes GLM_API_KEY for Zhipu and sends each model under its upstream name', () => {
    const env = { GLM_API_KEY: 'glm-test' };
    const cfg = validateConfig(defaultConfigInput(env), env);
    expect(cfg.providers.find((p) => p.id === 'zhipu')).toMatchObject({ base_url: 'https://api.z.ai/api/paas/v4', api_key: 'glm-test' });
    expect(cfg.models.find((m) => m.id === 'glm-5-turbo')?.pricing).toMatchObject({ input_per_mtok: 1.2, output_per_mtok: 4 });
    const groqEnv = { GROQ_API_KEY: 'gsk' };
    const groq = validateConfig(defaultConfigInput(groqEnv), groqEnv);
    expect(groq.models.find((m) => m.id === 'gpt-oss-120b')?.channels[0]).toMatchObject({ provider: 'groq', upstream_model: 'openai/gpt-oss-120b' });
  });

  it('makes OpenRouter a pass-through provider', () => {
    const env = { OPENROUTER_API_KEY: 'sk-or' };
    const cfg = validateConfig(defaultConfigInput(env), env);
    expect(cfg.providers.find((p) => p.id === 'openrouter')).toMatchObject({ pass_through: true, base_url: 'https://openrouter.ai/api/v1' });
  });

  it('keeps the price the catalogue gives gpt-5.4 and gemini-3-flash-preview', () => {
    const env = { OPENAI_API_KEY: 'k', GEMINI_API_KEY: 'k' };
    const cfg = validateConfig(defaultConfigInput(env), env);
    expect(cfg.models.find((m) => m.id === 'gpt-5.4')?.pricing).toEqual({ input_per_mtok: 2.5, output_per_mtok: 15, cache_read_per_mtok: 0.25, cache_write_per_mtok: 2.5 });
    expect(cfg.models.find((m) => m.id === 'gemini-3-flash-preview')).toMatchObject({ context_window: 1048576, max_output_tokens: 65536, pricing: { input_per_mtok: 0.5, output_per_mtok: 3 } });
  });
});

describe('config: catalogue references', () => {
  const providers = [
    { id: 'oai', type: 'openai', api_key: 'k' },
    { id: 'claude', type: 'anthropic', api_key: 'k' },
  ];

  it('fills a model from its catalogue entry and picks the provider of the entry\'s vendor', () => {
    const cfg = validateConfig({ providers, models: [{ catalogue: 'gpt-5.2' }, { catalogue: 'claude-sonnet-4-5' }] }, {});
    expect(cfg.models[0]).toMatchObject({ id: 'gpt-5.2', catalogue: 'gpt-5.2', context_window: 400000, pricing: { input_per_mtok: 1.75, output_per_mtok: 14 }, channels: [{ provider: 'oai', upstream_model: 'gpt-5.2' }] });
    // By alias: the entry's own id, and Anthropic's name upstream.
    expect(cfg.models[1]).toMatchObject({ id: 'claude-sonnet-4.5', aliases: ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'], channels: [{ provider: 'claude', upstream_model: 'claude-sonnet-4-5' }] });
  });

  it('lets every field beside the reference override the entry, prices one by one', () => {
    const cfg = validateConfig(
      { providers, models: [{ catalogue: 'gpt-5.4', id: 'house-gpt', max_output_tokens: 1000, pricing: { output_per_mtok: 16 }, channels: [{ provider: 'oai', upstream_model: 'gpt-5.4-2026' }] }] },
      {},
    );
    expect(cfg.models[0]).toMatchObject({ id: 'house-gpt', catalogue: 'gpt-5.4', max_output_tokens: 1000, context_window: 1050000, channels: [{ provider: 'oai', upstream_model: 'gpt-5.4-2026' }] });
    expect(cfg.models[0].pricing).toEqual({ input_per_mtok: 2.5, output_per_mtok: 16, cache_read_per_mtok: 0.25, cache_write_per_mtok: 2.5 });
    expect(validateConfig({ providers, models: [{ catalogue: 'gpt-5.4', pricing: 'free' }] }, {}).models[0].pricing.input_per_mtok).toBe(0);
  });

  it('carries an image model\'s per-image prices and a transcription model\'s per-second price', () => {
    const cfg = validateConfig({ providers, models: [{ catalogue: 'gpt-image-1' }, { catalogue: 'whisper-1' }] }, {});
    expect(cfg.models[0]).toMatchObject({ kind: 'image', pricing: { per_image: { '1024x1024': { low: 0.011, medium: 0.042, high: 0.167 } } } });
    expect(cfg.models[1]).toMatchObject({ kind: 'transcription', pricing: { per_audio_second: 0.0001 } });
  });

  it('refuses an unknown entry, suggesting the nearest', () => {
    const text = configError({ providers, models: [{ catalogue: 'gpt-5.3' }] });
    expect(text).toContain('models[0].catalogue: "gpt-5.3" is not in the built-in catalogue; did you mean');
    expect(text).toContain('tollgate models');
  });

  it('refuses a reference no provider can serve, naming the vendor', () => {
    expect(configError({ providers, models: [{ catalogue: 'glm-5-turbo' }] })).toContain('models[0].channels: no configured provider serves "glm-5-turbo" (vendor: Zhipu GLM (Z.ai)): add a provider of type openai with base_url https://api.z.ai/api/paas/v4');
  });
});

describe('config: wildcard routes', () => {
  const providers = [{ id: 'oai', type: 'openai', api_key: 'k' }];

  it('prices from the catalogue by default and forwards the matched name', () => {
    const cfg = validateConfig({ providers, models: [{ id: 'openai/*', channels: [{ provider: 'oai' }] }] }, {});
    expect(cfg.models[0].pricing).toMatchObject({ from_catalogue: true });
    expect(cfg.models[0].channels[0].upstream_model).toBe('*');
  });

  it('keeps a route\'s own price', () => {
    const cfg = validateConfig({ providers, models: [{ id: '*', pricing: 'free', channels: [{ provider: 'oai' }] }] }, {});
    expect(cfg.models[0].pricing).toEqual({ input_per_mtok: 0, output_per_mtok: 0 });
  });

  it('refuses pricing: catalogue on a concrete model and aliases on a route', () => {
    expect(configError({ providers, models: [{ id: 'gpt-5.4', pricing: 'catalogue', channels: [{ provider: 'oai', upstream_model: 'gpt-5.4' }] }] })).toContain('pricing: catalogue is for wildcard routes');
    expect(configError({ providers, models: [{ id: 'openai/*', aliases: ['gpt'], channels: [{ provider: 'oai' }] }] })).toContain('a wildcard route has no aliases');
  });

  it('refuses a "*" anywhere but at the end', () => {
    expect(configError({ providers, models: [{ id: 'open*ai', channels: [{ provider: 'oai' }] }] })).toContain('models[0].id');
  });
});
