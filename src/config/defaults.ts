// The embedded default used when no config file exists: the mock provider's demo models,
// SQLite under ./data, a demo org, plus any real provider whose API key is in the environment.
// The admin token and the demo keys are made on the first start and kept under ./data.
import type { Env } from './load.js';

/** The mock provider's demo models (also what the test suites configure). */
export const MOCK_DEMO_MODELS: readonly Record<string, unknown>[] = [
  {
    id: 'mock-chat',
    description: 'Mock model (deterministic, local): echoes and generates text with real token counts',
    context_window: 32000,
    max_output_tokens: 4096,
    pricing: { input_per_mtok: 1, output_per_mtok: 2 },
    channels: [{ provider: 'mock', upstream_model: 'mock-chat' }],
  },
  {
    id: 'mock-chat-large',
    description: 'Mock model (deterministic, local), larger and pricier',
    context_window: 128000,
    max_output_tokens: 16384,
    pricing: { input_per_mtok: 3, output_per_mtok: 15 },
    channels: [{ provider: 'mock', upstream_model: 'mock-chat-large' }],
  },
  {
    id: 'mock-embedding',
    kind: 'embedding',
    description: 'Mock embedding model (deterministic, local)',
    context_window: 8192,
    max_output_tokens: 1,
    pricing: { input_per_mtok: 0.02, output_per_mtok: 0 },
    channels: [{ provider: 'mock', upstream_model: 'mock-embedding' }],
  },
];

/**
 * Anthropic's current Claude models with the ids Claude Code and the Anthropic SDKs send as
 * aliases. Prices from Anthropic's price list: a 5-minute cache write costs 1.25 times the
 * input price and a cache read a tenth of it.
 */
export const CLAUDE_MODELS: readonly Record<string, unknown>[] = [
  claude('claude-fable-5.1', 'claude-fable-5-1', [], 1_000_000, 128_000, 10, 50),
  claude('claude-opus-5.5', 'claude-opus-5-5', [], 1_000_000, 128_000, 4, 20),
  claude('claude-sonnet-5.5', 'claude-sonnet-5-5', [], 1_000_000, 128_000, 2, 10),
  claude('claude-opus-5', 'claude-opus-5', [], 1_000_000, 128_000, 5, 25),
  claude('claude-sonnet-5', 'claude-sonnet-5', [], 1_000_000, 128_000, 2, 10),
  claude('claude-opus-4.5', 'claude-opus-4-5', ['claude-opus-4-5-20251101'], 200_000, 64_000, 5, 25),
  claude('claude-sonnet-4.5', 'claude-sonnet-4-5', ['claude-sonnet-4-5-20250929'], 200_000, 64_000, 3, 15),
  claude('claude-haiku-4.5', 'claude-haiku-4-5', ['claude-haiku-4-5-20251001'], 200_000, 64_000, 1, 5),
];

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

function claude(id: string, upstream: string, dated: string[], contextWindow: number, maxOutput: number, input: number, output: number): Record<string, unknown> {
  const aliases = [upstream, ...dated].filter((a) => a !== id);
  return {
    id,
    ...(aliases.length > 0 ? { aliases } : {}),
    context_window: contextWindow,
    max_output_tokens: maxOutput,
    pricing: { input_per_mtok: input, output_per_mtok: output, cache_write_per_mtok: round6(input * 1.25), cache_read_per_mtok: round6(input / 10) },
    channels: [{ provider: 'anthropic', upstream_model: upstream }],
  };
}

export function defaultConfigInput(env: Env): Record<string, unknown> {
  const providers: Record<string, unknown>[] = [{ id: 'mock', type: 'mock', tokens_per_second: 0 }];
  const models: Record<string, unknown>[] = [...MOCK_DEMO_MODELS];
  if (env.OPENAI_API_KEY) {
    providers.push({ id: 'openai', type: 'openai', base_url: env.OPENAI_BASE_URL || 'https://api.openai.com/v1', api_key: '${OPENAI_API_KEY}' });
    models.push(
      {
        id: 'gpt-5.4',
        context_window: 400000,
        max_output_tokens: 128000,
        pricing: { input_per_mtok: 1.25, output_per_mtok: 10 },
        channels: [{ provider: 'openai', upstream_model: 'gpt-5.4' }],
      },
      {
        id: 'gpt-5.4-mini',
        context_window: 400000,
        max_output_tokens: 128000,
        pricing: { input_per_mtok: 0.25, output_per_mtok: 2 },
        channels: [{ provider: 'openai', upstream_model: 'gpt-5.4-mini' }],
      },
      {
        id: 'text-embedding-3-small',
        kind: 'embedding',
        context_window: 8191,
        max_output_tokens: 1,
        pricing: { input_per_mtok: 0.02, output_per_mtok: 0 },
        channels: [{ provider: 'openai', upstream_model: 'text-embedding-3-small' }],
      },
    );
  }
  if (env.ANTHROPIC_API_KEY) {
    providers.push({ id: 'anthropic', type: 'anthropic', api_key: '${ANTHROPIC_API_KEY}' });
    models.push(...CLAUDE_MODELS);
  }
  if (env.GEMINI_API_KEY) {
    providers.push({ id: 'gemini', type: 'gemini', api_key: '${GEMINI_API_KEY}' });
    models.push({
      id: 'gemini-3-flash-preview',
      context_window: 1048576,
      max_output_tokens: 65536,
      pricing: { input_per_mtok: 0.5, output_per_mtok: 3 },
      channels: [{ provider: 'gemini', upstream_model: 'gemini-3-flash-preview' }],
    });
  }
  return {
    server: { admin_token: '${TOLLGATE_ADMIN_TOKEN}', admin_token_file: './data/admin-token' },
    providers,
    models,
    cache: { semantic: { embedding_model: 'mock-embedding' } },
    demo: { enabled: true, credits_usd: 10, keys_file: './data/demo-keys.json' },
  };
}
