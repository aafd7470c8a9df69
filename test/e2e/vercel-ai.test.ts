// SPEC §3 through the Vercel AI SDK's OpenAI-compatible provider: generateText and streamText.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let provider: ReturnType<typeof createOpenAICompatible>;

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(10);
  const { key } = await gw.createKey(org.mk);
  provider = createOpenAICompatible({ name: 'tollgate', baseURL: `${gw.url}/v1`, apiKey: key, includeUsage: true });
});

afterAll(async () => {
  await gw?.close();
});

describe('SPEC §3 chat completions with the Vercel AI SDK', () => {
  it('generates text with usage', async () => {
    const result = await generateText({ model: provider('mock-chat'), prompt: 'echo: hello from the ai sdk', maxRetries: 0 });
    expect(result.text).toBe('hello from the ai sdk');
    expect(result.finishReason).toBe('stop');
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
  });

  it('streams text with usage at the end', async () => {
    const result = streamText({ model: provider('mock-chat'), prompt: 'echo: streamed by the ai sdk in parts', maxRetries: 0 });
    const parts: string[] = [];
    for await (const delta of result.textStream) parts.push(delta);
    expect(parts.join('')).toBe('streamed by the ai sdk in parts');
    expect(parts.length).toBeGreaterThan(1);
    expect(await result.finishReason).toBe('stop');
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
  });

  it('surfaces a gateway error with its status', async () => {
    const err = (await generateText({ model: provider('mock-chatt'), prompt: 'hi', maxRetries: 0 }).catch((e: unknown) => e)) as { statusCode?: number; message?: string };
    expect(err.statusCode).toBe(404);
    expect(err.message).toContain('did you mean `mock-chat`?');
  });
});
