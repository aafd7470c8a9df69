// SPEC §4, provider type `azure-openai`: deployment-scoped URLs
// (`<base>/openai/deployments/<upstream_model>/chat/completions?api-version=…`) and the
// `api-key` header, checked on what a recording upstream actually receives through the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseContent, sseJson } from '../helpers/sse.js';
import { chunkFrame, completionBody, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

const DEPLOYMENT = 'gpt-4o prod';
const API_VERSION = '2025-01-01-preview';
const AZURE_KEY = 'azure-upstream-key-0123';

let upstream: ScriptedUpstream;
let gw: TestGateway;
let key: string;

beforeAll(async () => {
  upstream = await startScriptedUpstream((rec, res) => {
    if (rec.json?.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunkFrame({ role: 'assistant', content: '' }));
      res.write(chunkFrame({ content: 'Hello from' }));
      res.write(chunkFrame({ content: ' Azure.' }));
      res.write(chunkFrame({}, 'stop'));
      res.write(`data: ${JSON.stringify({ id: 'chatcmpl-azure', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(completionBody('Hello from Azure.', { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 }));
  });
  // Azure's base URL is the resource root, without /v1.
  const base = upstream.url.replace(/\/v1$/, '');
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'azure', type: 'azure-openai', base_url: `${base}/`, api_key: AZURE_KEY, api_version: API_VERSION }],
      models: [
        {
          id: 'azure-gpt-4o',
          context_window: 128000,
          max_output_tokens: 4096,
          pricing: { input_per_mtok: 2.5, output_per_mtok: 10 },
          channels: [{ provider: 'azure', upstream_model: DEPLOYMENT }],
        },
      ],
      cache: { exact: { enabled: false } },
    },
  });
  const { mk } = await gw.createOrg(10);
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const EXPECTED_PATH = `/openai/deployments/${encodeURIComponent(DEPLOYMENT)}/chat/completions?api-version=${API_VERSION}`;

describe('SPEC §4 azure-openai provider', () => {
  it('non-stream: posts to the deployment URL with api-version and the api-key header, no bearer token', async () => {
    const before = upstream.requests.length;
    const res = await chat(gw.url, key, { model: 'azure-gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: Array<{ message: { content: string } }>; usage: { prompt_tokens: number } };
    expect(body.model).toBe('azure-gpt-4o');
    expect(body.choices[0].message.content).toBe('Hello from Azure.');
    expect(body.usage.prompt_tokens).toBe(9);

    expect(upstream.requests).toHaveLength(before + 1);
    const rec = upstream.requests[before];
    expect(rec.method).toBe('POST');
    expect(rec.path).toBe(EXPECTED_PATH);
    expect(rec.headers['api-key']).toBe(AZURE_KEY);
    expect(rec.headers.authorization).toBeUndefined();
    expect(rec.headers['content-type']).toContain('application/json');
    expect(rec.json?.messages).toEqual([{ role: 'user', content: 'hi' }]);
    expect(rec.json?.stream_options).toBeUndefined();
    // The client's key never travels upstream.
    expect(JSON.stringify(rec.headers)).not.toContain(key);
  });

  it('stream: same URL and header, usage requested upstream, chunks relayed with the public model id', async () => {
    const before = upstream.requests.length;
    const res = await chat(gw.url, key, { model: 'azure-gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(sseContent(text)).toBe('Hello from Azure.');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = sseJson(text);
    expect(chunks.every((c) => c.model === 'azure-gpt-4o')).toBe(true);
    // The client did not ask for usage: the usage-only chunk is kept for billing, not forwarded.
    expect(chunks.some((c) => c.usage)).toBe(false);

    const rec = upstream.requests[before];
    expect(rec.path).toBe(EXPECTED_PATH);
    expect(rec.headers['api-key']).toBe(AZURE_KEY);
    expect(rec.headers.authorization).toBeUndefined();
    expect(rec.json).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });
});
