// The mock provider speaks the OpenAI wire format, so its adapter is the OpenAI-compatible
// one; only its transport differs (in-process, see transport.ts).
import { createOpenAICompatibleAdapter } from '../openai/adapter.js';

export const createMockAdapter = createOpenAICompatibleAdapter({
  type: 'mock',
  defaultBaseUrl: 'http://mock.local/v1',
  url: (base, op) => `${base}/${op}`,
  authHeaders: () => ({}),
});
