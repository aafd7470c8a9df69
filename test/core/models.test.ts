// SPEC §4 (and §2): GET /v1/models lists the models a key may use in OpenAI list shape with
// Tollgate's fields; maintenance models are hidden and answer 503; lookups suggest near ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel } from '../helpers/upstream.js';

let gw: TestGateway;
let key: string;
let narrowKey: string;

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      models: [
        ...MOCK_MODELS,
        chatModel('mock-limited', 'mock', 'mock-chat', { supported_parameters: ['temperature', 'max_tokens', 'stream'], pricing: { input_per_mtok: 0.5, output_per_mtok: 1.5 } }),
        chatModel('mock-retired', 'mock', 'mock-chat', { maintenance: true }),
      ],
    },
  });
  const org = await gw.createOrg(10);
  key = (await gw.createKey(org.mk)).key;
  narrowKey = (await gw.createKey(org.mk, { allowed_models: ['mock-chat'] })).key;
});

afterAll(async () => {
  await gw?.close();
});

const get = (path: string, k = key) => fetch(gw.url + path, { headers: { authorization: `Bearer ${k}` } });

interface ModelEntry {
  id: string;
  object: string;
  context_length: number;
  max_output_tokens: number;
  pricing: { input_per_mtok: number; output_per_mtok: number };
  supported_parameters: string[];
}

describe('SPEC §4 GET /v1/models', () => {
  it('lists every permitted model in OpenAI list shape with context_length, max_output_tokens, pricing and supported_parameters', async () => {
    const res = await get('/v1/models');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; data: ModelEntry[] };
    expect(body.object).toBe('list');
    expect(body.data.map((m) => m.id).sort()).toEqual(['mock-chat', 'mock-chat-large', 'mock-embedding', 'mock-limited']);
    for (const m of body.data) {
      expect(m).toMatchObject({
        id: expect.any(String),
        object: 'model',
        context_length: expect.any(Number),
        max_output_tokens: expect.any(Number),
        pricing: { input_per_mtok: expect.any(Number), output_per_mtok: expect.any(Number) },
      });
      expect(Array.isArray(m.supported_parameters)).toBe(true);
    }
    const chatEntry = body.data.find((m) => m.id === 'mock-chat')!;
    expect(chatEntry).toMatchObject({ context_length: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 1, output_per_mtok: 2 } });
    expect(chatEntry.supported_parameters).toEqual(expect.arrayContaining(['temperature', 'tools', 'stream', 'max_tokens']));
    const limited = body.data.find((m) => m.id === 'mock-limited')!;
    expect(limited.pricing).toMatchObject({ input_per_mtok: 0.5, output_per_mtok: 1.5 });
    expect(limited.supported_parameters).toEqual(['temperature', 'max_tokens', 'stream']);
  });

  it('leaves out a model in maintenance', async () => {
    const body = (await (await get('/v1/models')).json()) as { data: ModelEntry[] };
    expect(body.data.map((m) => m.id)).not.toContain('mock-retired');
  });

  it("lists only the models the key's allowed_models permit", async () => {
    const body = (await (await get('/v1/models', narrowKey)).json()) as { data: ModelEntry[] };
    expect(body.data.map((m) => m.id)).toEqual(['mock-chat']);
  });

  it('needs an inference key', async () => {
    await expectError(await fetch(`${gw.url}/v1/models`), 401, 'missing_api_key');
  });
});

describe('SPEC §4 GET /v1/models/{id}', () => {
  it('returns one model in the same shape as the list', async () => {
    const res = await get('/v1/models/mock-chat-large');
    expect(res.status).toBe(200);
    const list = (await (await get('/v1/models')).json()) as { data: ModelEntry[] };
    expect(await res.json()).toEqual(list.data.find((m) => m.id === 'mock-chat-large'));
  });

  it('returns 404 model_not_found with a did-you-mean suggestion for a near id', async () => {
    const err = await expectError(await get('/v1/models/Mock-Chat-Large'), 404, 'model_not_found');
    expect(err.type).toBe('not_found_error');
    expect(err.message).toContain('did you mean `mock-chat-large`?');
  });

  it('returns 404 for a model in maintenance', async () => {
    const err = await expectError(await get('/v1/models/mock-retired'), 404, 'model_not_found');
    expect(err.message).toContain('mock-retired');
  });

  it('does not suggest a model the key may not use', async () => {
    const err = await expectError(await get('/v1/models/mock-chat-larg', narrowKey), 404, 'model_not_found');
    expect(err.message).not.toContain('mock-chat-large');
  });
});

describe('SPEC §4 models in maintenance', () => {
  it('answers a chat request with 503 model_unavailable', async () => {
    const res = await chat(gw.url, key, { model: 'mock-retired', messages: [{ role: 'user', content: 'Hello' }] });
    const err = await expectError(res, 503, 'model_unavailable');
    expect(err.type).toBe('upstream_error');
    expect(err.message).toContain('mock-retired');
  });

  it('charges nothing for the refused request', async () => {
    const org = await gw.createOrg(5);
    const k = (await gw.createKey(org.mk)).key;
    await (await chat(gw.url, k, { model: 'mock-retired', messages: [{ role: 'user', content: 'Hello' }] })).text();
    const balance = (await (await get('/api/balance', k)).json()) as { balance_usd: number };
    expect(balance.balance_usd).toBe(5);
  });
});
