// The embedded default used when no config file exists: the mock provider's demo models,
// SQLite under ./data, a demo org, plus each catalogue vendor whose API key is in the
// environment, with that vendor's catalogue models. The admin token and the demo keys are
// made on the first start and kept under ./data.
import { CATALOGUE, upstreamName, vendorModels } from '../catalogue/index.js';
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

export function defaultConfigInput(env: Env): Record<string, unknown> {
  const providers: Record<string, unknown>[] = [{ id: 'mock', type: 'mock', tokens_per_second: 0 }];
  const models: Record<string, unknown>[] = [...MOCK_DEMO_MODELS];
  // Each vendor whose key variable is set: a provider, and every catalogue model of that vendor.
  for (const vendor of CATALOGUE.vendors) {
    const variable = vendor.env.find((name) => env[name]);
    if (!variable) continue;
    const baseUrl = (vendor.base_url_env ? env[vendor.base_url_env] : undefined) || vendor.base_url;
    providers.push({
      id: vendor.id,
      type: vendor.type,
      // Anthropic's and Gemini's adapters know their own endpoints.
      ...(vendor.type === 'openai' ? { base_url: baseUrl } : {}),
      api_key: `\${${variable}}`,
      ...(vendor.pass_through ? { pass_through: true } : {}),
    });
    for (const m of vendorModels(vendor.id)) models.push({ id: m.id, catalogue: m.id, channels: [{ provider: vendor.id, upstream_model: upstreamName(m) }] });
  }
  return {
    server: { admin_token: '${TOLLGATE_ADMIN_TOKEN}', admin_token_file: './data/admin-token' },
    providers,
    models,
    cache: { semantic: { embedding_model: 'mock-embedding' } },
    demo: { enabled: true, credits_usd: 10, keys_file: './data/demo-keys.json' },
  };
}
