// SPEC §3 through LangChain's ChatOpenAI pointed at Tollgate: invoke and stream.
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let model: ChatOpenAI;

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(10);
  const { key } = await gw.createKey(org.mk);
  model = new ChatOpenAI({ model: 'mock-chat', apiKey: key, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0, timeout: 5000 });
});

afterAll(async () => {
  await gw?.close();
});

describe('SPEC §3 chat completions with LangChain ChatOpenAI', () => {
  it('invokes the model and reports token usage', async () => {
    const message = await model.invoke('echo: hello from langchain');
    expect(message.content).toBe('hello from langchain');
    expect(message.usage_metadata?.input_tokens).toBeGreaterThan(0);
    expect(message.usage_metadata?.output_tokens).toBeGreaterThan(0);
    expect(message.response_metadata?.finish_reason).toBe('stop');
  });

  it('streams the answer chunk by chunk', async () => {
    const chunks: string[] = [];
    for await (const chunk of await model.stream('echo: streamed by langchain in pieces')) {
      if (typeof chunk.content === 'string' && chunk.content.length > 0) chunks.push(chunk.content);
    }
    expect(chunks.join('')).toBe('streamed by langchain in pieces');
    expect(chunks.length).toBeGreaterThan(1);
  });

  it('surfaces a gateway error with its status', async () => {
    const wrong = new ChatOpenAI({ model: 'mock-chatt', apiKey: model.apiKey, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0 });
    const err = (await wrong.invoke('hi').catch((e: unknown) => e)) as { status?: number; message?: string };
    expect(err.status).toBe(404);
    expect(err.message).toContain('did you mean `mock-chat`?');
  });
});
