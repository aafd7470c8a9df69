// Provider types → adapter factory and transport. Adding a provider is one folder and one
// line here.
import type { ProviderConfig, ProviderType } from '../config/schema.js';
import { createHttpTransport, type Transport } from '../routing/transport.js';
import { createAnthropicAdapter } from './anthropic/adapter.js';
import { createGeminiAdapter } from './gemini/adapter.js';
import { createMockAdapter } from './mock/adapter.js';
import { createMockTransport } from './mock/transport.js';
import { createAzureOpenAIAdapter, createOpenAIAdapter } from './openai/adapter.js';
import type { AdapterFactory, ProviderAdapter } from './types.js';

const ADAPTERS: Readonly<Partial<Record<ProviderType, AdapterFactory>>> = {
  openai: createOpenAIAdapter,
  anthropic: createAnthropicAdapter,
  gemini: createGeminiAdapter,
  'azure-openai': createAzureOpenAIAdapter,
  mock: createMockAdapter,
};


export function createAdapter(provider: ProviderConfig): ProviderAdapter {
  const factory = ADAPTERS[provider.type];
  if (!factory) throw new Error(`provider type "${provider.type}" is not available in this build`);
  return factory(provider);
}

export function createTransport(provider: ProviderConfig): Transport {
  return provider.type === 'mock' ? createMockTransport(provider) : createHttpTransport(provider);
}
