// Provider-specific parameters (vLLM, Ollama, OpenRouter …): refused unless a provider or a
// model declares them in `extra_parameters`; declared ones reach the upstream as sent and are
// listed in the model's supported_parameters; fields that choose an address never pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel, completionBody, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

const VLLM_FIELDS = {
  top_k: 40,
  min_p: 0.05,
  repetition_penalty: 1.1,
  chat_template_kwargs: { enable_thinking: false },
  guided_json: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] },
};
const OTHER_FIELDS = {
  reasoning: { effort: 'high', exclude: true },
  provider: { order: ['deepinfra'], allow_fallbacks: false },
  options: { num_ctx: 8192, mirostat: 2 },
};

let gw: TestGateway;
let vllm: ScriptedUpstream;
let plain: ScriptedUpstream;
let key: string;

beforeAll(async () => {
  const answer = (_rec: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(completionBody('ok'));
  };
  vllm = await startScriptedUpstream(answer);
  plain = await startScriptedUpstream((rec, res) => {
    // The fallback target: fails for a marked request so the fallback can be observed.
    if (rec.json?.model === 'failing') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } }));
      return;
    }
    answer(rec, res);
  });
  gw = await startTestGateway({
    raw: {
      providers: [
        openaiProvider('vllm', vllm.url, { extra_parameters: Object.keys(VLLM_FIELDS) }),
        openaiProvider('plain', plain.url),
        openaiProvider('open', plain.url, { extra_parameters: 'any' }),
      ],
      models: [
        chatModel('vllm-chat', 'vllm', 'qwen'),
        chatModel('plain-chat', 'plain', 'gpt'),
        chatModel('any-chat', 'plain', 'router', { extra_parameters: 'any' }),
        chatModel('open-chat', 'open', 'router'),
        chatModel('listed-chat', 'plain', 'gpt', { extra_parameters: ['top_k'], supported_parameters: ['temperature', 'max_tokens'] }),
        // two channels, only one of whose providers understands top_k
        { ...chatModel('mixed-chat', 'vllm', 'qwen'), channels: [{ provider: 'vllm', upstream_model: 'qwen' }, { provider: 'plain', upstream_model: 'gpt' }] },
        { ...chatModel('declares-top-k', 'plain', 'failing', { extra_parameters: ['top_k'] }) },
      ],
      routing: { retry_base_ms: 0 },
    },
  });
  const org = await gw.createOrg(10);
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await vllm?.close();
  await plain?.close();
});

const USER = [{ role: 'user', content: 'Hello' }];

async function models(): Promise<Map<string, Record<string, unknown>>> {
  const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  const body = (await res.json()) as { data: Record<string, unknown>[] };
  return new Map(body.data.map((m) => [m.id as string, m]));
}

describe('undeclared provider-specific parameters', () => {
  it.each(Object.keys({ ...VLLM_FIELDS, ...OTHER_FIELDS }))('refuses %s with 400 unknown_parameter on a model that does not declare it, before any upstream call', async (field) => {
    const before = plain.requests.length;
    const res = await chat(gw.url, key, { model: 'plain-chat', messages: USER, [field]: { ...VLLM_FIELDS, ...OTHER_FIELDS }[field] });
    const err = await expectError(res, 400, 'unknown_parameter');
    expect(err.param).toBe(field);
    expect(err.message).toContain('extra_parameters');
    expect(plain.requests.length).toBe(before);
  });

  it('refuses a parameter that only some of a model\'s channels declare', async () => {
    const res = await chat(gw.url, key, { model: 'mixed-chat', messages: USER, top_k: 5 });
    expect((await expectError(res, 400, 'unknown_parameter')).param).toBe('top_k');
  });
});

describe('declared provider-specific parameters', () => {
  it("forwards a provider's declared vLLM parameters to the upstream unchanged", async () => {
    const res = await chat(gw.url, key, { model: 'vllm-chat', messages: USER, ...VLLM_FIELDS });
    expect(res.status).toBe(200);
    const sent = vllm.requests.at(-1)?.json ?? {};
    for (const [k, v] of Object.entries(VLLM_FIELDS)) expect(sent[k]).toEqual(v);
  });

  it('forwards them in a stream as well', async () => {
    vllm.requests.length = 0;
    const res = await chat(gw.url, key, { model: 'vllm-chat', messages: USER, stream: true, top_k: 7 });
    await res.text();
    expect(vllm.requests.at(-1)?.json?.top_k).toBe(7);
  });

  it.each(['any-chat', 'open-chat'])('forwards OpenRouter and Ollama fields to a model declaring "any" (%s)', async (model) => {
    const res = await chat(gw.url, key, { model, messages: USER, ...OTHER_FIELDS });
    expect(res.status).toBe(200);
    const sent = plain.requests.at(-1)?.json ?? {};
    for (const [k, v] of Object.entries(OTHER_FIELDS)) expect(sent[k]).toEqual(v);
  });

  it('still refuses an undeclared field on a model that declares a list', async () => {
    const res = await chat(gw.url, key, { model: 'vllm-chat', messages: USER, mirostat: 2 });
    expect((await expectError(res, 400, 'unknown_parameter')).param).toBe('mirostat');
  });

  it("does not send a model's extra parameter to a fallback model that does not declare it", async () => {
    const res = await chat(gw.url, key, { model: 'declares-top-k', models: ['plain-chat'], messages: USER, top_k: 3 });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tollgate-fallback')).toBeTruthy();
    const sent = plain.requests.map((r) => r.json ?? {});
    const primary = sent.filter((b) => b.model === 'failing');
    expect(primary.length).toBeGreaterThan(0);
    for (const b of primary) expect(b.top_k).toBe(3);
    const fallback = sent.at(-1) ?? {};
    expect(fallback.model).toBe('gpt');
    expect('top_k' in fallback).toBe(false);
  });

  it('lists declared parameters in supported_parameters of GET /v1/models', async () => {
    const m = await models();
    const vllmParams = m.get('vllm-chat')?.supported_parameters as string[];
    for (const k of Object.keys(VLLM_FIELDS)) expect(vllmParams).toContain(k);
    expect(vllmParams).toContain('temperature');
    expect(m.get('listed-chat')?.supported_parameters).toEqual(['temperature', 'max_tokens', 'top_k']);
    expect(m.get('any-chat')?.extra_parameters).toBe('any');
    expect(m.get('plain-chat')?.supported_parameters).not.toContain('top_k');
  });
});

describe('fields that choose an upstream address', () => {
  it.each(['api_base', 'base_url', 'baseURL', 'api_url', 'endpoint', 'proxy_url', 'azure_endpoint'])('refuses %s even on a model that accepts any extra parameter', async (field) => {
    const before = plain.requests.length;
    const res = await chat(gw.url, key, { model: 'any-chat', messages: USER, [field]: 'http://169.254.169.254/v1' });
    const err = await expectError(res, 400, 'unknown_parameter');
    expect(err.param).toBe(field);
    expect(err.message).toContain('configuration');
    expect(plain.requests.length).toBe(before);
  });

  it('refuses __proto__ even on a model that accepts any extra parameter', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"model":"any-chat","messages":[{"role":"user","content":"hi"}],"__proto__":{"x":1}}',
    });
    expect((await expectError(res, 400, 'unknown_parameter')).param).toBe('__proto__');
  });

  it('is a config error to declare one as an extra parameter', () => {
    const raw = (extra: unknown) => ({
      providers: [{ id: 'up', type: 'openai', base_url: 'http://127.0.0.1:1/v1', extra_parameters: extra }],
      models: [{ id: 'm', pricing: 'free', channels: [{ provider: 'up', upstream_model: 'x' }] }],
    });
    expect(() => validateConfig(raw(['top_k', 'api_base']), {})).toThrow(/api_base.*upstream address/);
    expect(() => validateConfig(raw(['base_url']), {})).toThrow(/base_url/);
    expect(() => validateConfig(raw(['top_k', 'min_p']), {})).not.toThrow();
    expect(() => validateConfig(raw('any'), {})).not.toThrow();
  });
});
