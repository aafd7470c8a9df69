// The native Responses lane and Tollgate's own store: answers a Responses upstream gives are kept
// under Tollgate's id (GET, input_items and previous_response_id work through Tollgate, on any
// lane, for the owning org only), and requests that need the native protocol are routed only to
// channels that speak it.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allUsage } from '../helpers/money.js';
import { chatModel, deferred, openaiProvider, type ScriptedUpstream } from '../helpers/upstream.js';
import { FAKE_USAGE, lastInputText, startFakeResponsesUpstream } from './fake-responses-upstream.js';

let gw: TestGateway;
let upstream: ScriptedUpstream;
let client: OpenAI;
let other: OpenAI;
let orgId: string;
let failGate = deferred();

type Frame = Record<string, unknown> & { type: string; sequence_number: number };

function framesOf(text: string): Frame[] {
  return text
    .split('\n\n')
    .map((f) => f.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => l !== undefined)
    .map((l) => JSON.parse(l.slice(6)) as Frame);
}

async function post(body: Record<string, unknown>, key = client.apiKey): Promise<Response> {
  return fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

beforeAll(async () => {
  upstream = await startFakeResponsesUpstream((req) => {
    const text = lastInputText(req.json);
    if (text.includes('fail after output')) return { fail: 'the upstream broke', partial: 'Partial answer', gate: failGate.promise };
    return { text: `native says: ${text}` };
  });
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, openaiProvider('native-up', upstream.url, { responses: true })],
      models: [
        ...MOCK_MODELS,
        chatModel('native-model', 'native-up', 'up-model'),
        // Chat Completions first, the Responses upstream second: native-only requests must skip the first.
        {
          ...chatModel('mixed-model', 'mock', 'mock-chat'),
          channels: [
            { provider: 'mock', upstream_model: 'mock-chat', priority: 0 },
            { provider: 'native-up', upstream_model: 'up-mixed', priority: 1 },
          ],
        },
      ],
    },
  });
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(org.mk)).key, maxRetries: 0, timeout: 10_000 });
  const org2 = await gw.createOrg(10);
  other = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(org2.mk)).key, maxRetries: 0, timeout: 10_000 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('native answers are stored under Tollgate\'s id', () => {
  it('keeps a non-stream answer and its input: GET, input_items, continuation natively and translated; another org gets 404', async () => {
    const first = await client.responses.create({ model: 'native-model', input: 'My name is Ada.' });
    expect(first.output_text).toBe('native says: My name is Ada.');
    expect(first.id).toMatch(/^resp_/);
    expect(first.id).not.toMatch(/^resp_up_/);
    expect(first.model).toBe('native-model');

    const got = await client.responses.retrieve(first.id);
    expect(got).toMatchObject({ id: first.id, model: 'native-model', status: 'completed', usage: FAKE_USAGE });
    expect(JSON.stringify(got.output)).toContain('native says: My name is Ada.');
    const cost = (first.usage as { cost?: number } | undefined)?.cost;
    expect(cost).toBeGreaterThan(0);
    expect((got.usage as { cost?: number } | undefined)?.cost).toBe(cost);
    const items = await client.responses.inputItems.list(first.id);
    expect(items.data).toHaveLength(1);
    expect(JSON.stringify(items.data[0])).toContain('My name is Ada.');
    expect(await other.responses.retrieve(first.id).catch((e) => e.status)).toBe(404);

    // Continued on the native lane: the upstream gets the whole conversation, not our id.
    const next = await client.responses.create({ model: 'native-model', previous_response_id: first.id, input: 'What is my name?' });
    expect(next.output_text).toBe('native says: What is my name?');
    const sent = upstream.requests.at(-1)!.json!;
    expect(sent).not.toHaveProperty('previous_response_id');
    const conversation = JSON.stringify(sent.input);
    expect(conversation).toContain('My name is Ada.');
    expect(conversation).toContain('native says: My name is Ada.');
    expect(conversation).not.toContain(first.id);

    // …and on a model behind Chat Completions (the mock), from the stored history.
    const before = upstream.requests.length;
    const translated = await client.responses.create({ model: 'mock-chat', previous_response_id: first.id, input: 'echo: still here' });
    expect(translated.output_text).toBe('still here');
    expect(translated.previous_response_id).toBe(first.id);
    expect(upstream.requests.length).toBe(before);

    // Another org cannot continue it.
    expect(await other.responses.create({ model: 'mock-chat', previous_response_id: first.id, input: 'x' }).catch((e) => e.status)).toBe(404);
  });

  it('gives a streamed answer Tollgate\'s id in every frame that carries the response, and keeps it; store: false keeps nothing', async () => {
    const res = await post({ model: 'native-model', input: 'stream and keep', stream: true });
    expect(res.status).toBe(200);
    const frames = framesOf(await res.text());
    const ids = new Set(frames.filter((f) => f.response).map((f) => (f.response as { id: string }).id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(id).toMatch(/^resp_/);
    expect(id).not.toMatch(/^resp_up_/);
    expect(frames.at(-1)?.type).toBe('response.completed');
    expect(((frames[frames.length - 1].response as { usage: { cost?: number } }).usage.cost ?? 0) > 0).toBe(true);
    const got = await client.responses.retrieve(id);
    expect(got).toMatchObject({ id, model: 'native-model', status: 'completed' });
    expect(JSON.stringify(got.output)).toContain('native says: stream and keep');

    const unkept = framesOf(await (await post({ model: 'native-model', input: 'stream, keep nothing', stream: true, store: false })).text());
    const unkeptId = (unkept[unkept.length - 1].response as { id: string }).id;
    expect(unkeptId).not.toMatch(/^resp_up_/);
    expect(await client.responses.retrieve(unkeptId).catch((e) => e.status)).toBe(404);
  });

  it('leaves a continuation of an id only the upstream holds to the upstream: its id, nothing kept', async () => {
    const r = await client.responses.create({ model: 'native-model', previous_response_id: 'resp_up_elsewhere', input: 'continue upstream' });
    expect(upstream.requests.at(-1)?.json).toMatchObject({ previous_response_id: 'resp_up_elsewhere', input: 'continue upstream' });
    expect(r.id).toMatch(/^resp_up_/);
    expect(await client.responses.retrieve(r.id).catch((e) => e.status)).toBe(404);
  });

  it('ends a native stream that fails after output with error then response.failed, numbered after the upstream\'s events, billed for what was delivered', async () => {
    failGate = deferred();
    const res = await post({ model: 'native-model', input: 'fail after output', stream: true });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      if (text.includes('Partial answer')) failGate.resolve();
    }
    const frames = framesOf(text);
    expect(frames.map((f) => f.sequence_number)).toEqual(frames.map((_, i) => i));
    expect(frames.at(-2)).toMatchObject({ type: 'error', code: 'provider_error' });
    expect(frames.at(-1)).toMatchObject({ type: 'response.failed', response: { status: 'failed', error: { code: 'provider_error' } } });
    const id = (frames[0].response as { id: string }).id;
    expect((frames[frames.length - 1].response as { id: string }).id).toBe(id);
    expect(await client.responses.retrieve(id).catch((e) => e.status)).toBe(404);
    await flushed(gw);
    const row = (await allUsage(gw.running.gateway.store, orgId)).find((u) => u.request_id === res.headers.get('x-tollgate-request-id'));
    expect(row).toMatchObject({ surface: 'responses', status: 502 });
    expect(row?.completion_tokens).toBeGreaterThan(0);
    expect(row?.cost_micros).toBeGreaterThan(0);
  });
});

describe('routing requests that need the native protocol', () => {
  it('serves a plain request on the preferred Chat channel, and a built-in tool only on the Responses channel', async () => {
    const before = upstream.requests.length;
    const plain = await client.responses.create({ model: 'mixed-model', input: 'echo: plain' });
    expect(plain.output_text).toBe('plain');
    expect(upstream.requests.length).toBe(before);

    for (let i = 0; i < 4; i++) {
      const searched = await client.responses.create({ model: 'mixed-model', input: `search ${i}`, tools: [{ type: 'web_search' }] } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      expect(searched.output_text).toBe(`native says: search ${i}`);
      expect(upstream.requests.at(-1)?.json).toMatchObject({ model: 'up-mixed', tools: [{ type: 'web_search' }] });
    }
    expect(upstream.requests.length).toBe(before + 4);
  });

  it('sends an id only an upstream may hold to the Responses channel of a mixed model', async () => {
    const before = upstream.requests.length;
    await client.responses.create({ model: 'mixed-model', previous_response_id: 'resp_up_other', input: 'go on', stream: false });
    expect(upstream.requests.length).toBe(before + 1);
    expect(upstream.requests.at(-1)?.json).toMatchObject({ model: 'up-mixed', previous_response_id: 'resp_up_other' });
  });

  it('refuses, before any upstream call, what a model without a Responses upstream cannot serve', async () => {
    const before = upstream.requests.length;
    const res = await post({ model: 'mock-chat', input: 'search', tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }, { type: 'web_search' }], stream: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; code: string; param: string; message: string } };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_parameter', param: 'tools' });
    expect(body.error.message).toContain('"web_search"');
    const unknown = await post({ model: 'mock-chat', input: 'x', previous_response_id: 'resp_nowhere' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'not_found', param: 'previous_response_id' });
    expect(upstream.requests.length).toBe(before);
  });
});
