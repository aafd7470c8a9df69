// Cost on every answer: the usage object carries `cost` (USD) equal to the ledger's charge for
// that request id, on every surface, streamed or not, native lane or translated; non-stream
// answers carry x-tollgate-cost-usd; attempts, the serving model and any fallback are headers;
// a cache hit costs 0 and says so.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_MODELS, chat, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseEvents, sseJson } from '../helpers/sse.js';
import { chatModel, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { startFakeResponsesUpstream } from '../responses/fake-responses-upstream.js';

const USAGE = { input_tokens: 1000, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 500 };
const PRICES = { input_per_mtok: 3, output_per_mtok: 15 };

function frame(data: Record<string, unknown>): string {
  return `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
}

let anthropic: ScriptedUpstream;
let responsesUp: ScriptedUpstream;
let gw: TestGateway;
let mk: string;
let key: string;

beforeAll(async () => {
  anthropic = await startScriptedUpstream((req, res) => {
    if (JSON.stringify(req.json ?? {}).includes('please fail')) {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'down' } }));
      return;
    }
    const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-up', content: [{ type: 'text', text: 'Priced answer.' }], stop_reason: 'end_turn', stop_sequence: null, usage: USAGE };
    if (req.json?.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(message));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(frame({ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...USAGE, output_tokens: 1 } } }));
    res.write(frame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    res.write(frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Priced answer.' } }));
    res.write(frame({ type: 'content_block_stop', index: 0 }));
    res.write(frame({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: USAGE.output_tokens } }));
    res.end(frame({ type: 'message_stop' }));
  });
  responsesUp = await startFakeResponsesUpstream(() => ({ text: 'Native responses answer.' }));
  gw = await startTestGateway({
    raw: {
      providers: [
        { id: 'mock', type: 'mock' },
        { id: 'anthropic', type: 'anthropic', base_url: anthropic.url, api_key: 'sk-ant-upstream' },
        openaiProvider('resp', responsesUp.url, { responses: true }),
      ],
      models: [
        ...MOCK_MODELS,
        chatModel('claude-priced', 'anthropic', 'claude-up', { pricing: PRICES }),
        chatModel('resp-native', 'resp', 'resp-up', { pricing: PRICES }),
      ],
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await anthropic?.close();
  await responsesUp?.close();
});

/** The ledger's charge for one request id, in micro-USD (0 when there is none). */
async function chargeOf(requestId: string): Promise<number> {
  await flushed(gw);
  const res = await fetch(`${gw.url}/api/ledger?limit=200`, { headers: { authorization: `Bearer ${mk}` } });
  const rows = ((await res.json()) as { data: Array<{ kind: string; amount_usd: number; request_id: string | null }> }).data;
  const mine = rows.filter((r) => r.request_id === requestId && r.kind === 'charge');
  return Math.round(-mine.reduce((s, r) => s + r.amount_usd, 0) * 1e6) + 0;
}

const micros = (usd: unknown) => Math.round((usd as number) * 1e6);

function post(path: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** The non-stream answer's cost in its body and header, and the ledger charge for its request id. */
async function nonStream(res: Response, usageOf: (b: Record<string, unknown>) => unknown): Promise<{ body: number; header: number; ledger: number; res: Response }> {
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  const json = (await res.json()) as Record<string, unknown>;
  const usage = usageOf(json) as { cost?: unknown };
  expect(typeof usage.cost).toBe('number');
  const header = res.headers.get('x-tollgate-cost-usd');
  expect(header).toMatch(/^\d+\.\d{6}$/);
  return { body: micros(usage.cost), header: micros(Number(header)), ledger: await chargeOf(res.headers.get('x-tollgate-request-id')!), res };
}

describe('cost on non-stream answers', () => {
  it('chat (mock, native lane): usage.cost and x-tollgate-cost-usd equal the ledger charge; attempts and model are headers', async () => {
    const r = await nonStream(await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'cost please' }] }), (b) => b.usage);
    expect(r.ledger).toBeGreaterThan(0);
    expect(r.body).toBe(r.ledger);
    expect(r.header).toBe(r.ledger);
    expect(r.res.headers.get('x-tollgate-attempts')).toBe('1');
    expect(r.res.headers.get('x-tollgate-model')).toBe('mock-chat');
    expect(r.res.headers.get('x-tollgate-fallback')).toBeNull();
  });

  it('chat (Anthropic, translated lane)', async () => {
    const r = await nonStream(await chat(gw.url, key, { model: 'claude-priced', max_tokens: 600, messages: [{ role: 'user', content: 'Hello' }] }), (b) => b.usage);
    expect(r.ledger).toBe(3000 + 7500);
    expect(r.body).toBe(r.ledger);
    expect(r.header).toBe(r.ledger);
  });

  it('messages (native lane) through the Anthropic SDK, which still parses the answer', async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    const { data, response } = await client.messages.create({ model: 'claude-priced', max_tokens: 600, messages: [{ role: 'user', content: 'Hello' }] }).withResponse();
    expect(data.content).toEqual([{ type: 'text', text: 'Priced answer.' }]);
    const ledger = await chargeOf(response.headers.get('x-tollgate-request-id')!);
    expect(ledger).toBe(10_500);
    expect(micros((data.usage as unknown as { cost: number }).cost)).toBe(ledger);
    expect(micros(Number(response.headers.get('x-tollgate-cost-usd')))).toBe(ledger);
  });

  it('messages (translated lane, mock)', async () => {
    const r = await nonStream(await post('/v1/messages', { model: 'mock-chat', max_tokens: 100, messages: [{ role: 'user', content: 'Hello messages' }] }), (b) => b.usage);
    expect(r.ledger).toBeGreaterThan(0);
    expect(r.body).toBe(r.ledger);
    expect(r.header).toBe(r.ledger);
  });

  it('responses (translated lane, mock) and (native lane)', async () => {
    for (const model of ['mock-chat', 'resp-native']) {
      const r = await nonStream(await post('/v1/responses', { model, input: 'Hello responses', store: false }), (b) => b.usage);
      expect(r.ledger).toBeGreaterThan(0);
      expect(r.body).toBe(r.ledger);
      expect(r.header).toBe(r.ledger);
    }
  });

  it('completions (mock)', async () => {
    const r = await nonStream(await post('/v1/completions', { model: 'mock-chat', prompt: 'Say something priced', max_tokens: 20 }), (b) => b.usage);
    expect(r.ledger).toBeGreaterThan(0);
    expect(r.body).toBe(r.ledger);
    expect(r.header).toBe(r.ledger);
  });

  it('embeddings', async () => {
    const r = await nonStream(await post('/v1/embeddings', { model: 'mock-embedding', input: 'embed this text for money '.repeat(400) }), (b) => b.usage);
    expect(r.ledger).toBeGreaterThan(0);
    expect(r.body).toBe(r.ledger);
    expect(r.header).toBe(r.ledger);
    expect(r.res.headers.get('x-tollgate-attempts')).toBe('1');
  });

  it('the openai SDK still parses a chat answer whose usage carries cost', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'mock-chat', messages: [{ role: 'user', content: 'sdk cost' }] }).withResponse();
    expect(typeof data.choices[0].message.content).toBe('string');
    expect(micros((data.usage as unknown as { cost: number }).cost)).toBe(await chargeOf(response.headers.get('x-tollgate-request-id')!));
  });

  it('a fallback says so: x-tollgate-fallback, the serving model and every attempt', async () => {
    const res = await chat(gw.url, key, { model: 'claude-priced', models: ['mock-chat'], max_tokens: 100, messages: [{ role: 'user', content: 'please fail' }] });
    const r = await nonStream(res, (b) => b.usage);
    expect(res.headers.get('x-tollgate-fallback')).toBe('claude-priced -> mock-chat');
    expect(res.headers.get('x-tollgate-model')).toBe('mock-chat');
    expect(Number(res.headers.get('x-tollgate-attempts'))).toBeGreaterThanOrEqual(2);
    expect(r.body).toBe(r.ledger);
  });
});

describe('cost on stream answers', () => {
  async function streamed(path: string, body: Record<string, unknown>): Promise<{ text: string; ledger: number; res: Response }> {
    const res = await post(path, { ...body, stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tollgate-attempts')).toBe('1');
    const text = await res.text();
    return { text, ledger: await chargeOf(res.headers.get('x-tollgate-request-id')!), res };
  }

  it('chat (mock, native lane): the final usage chunk carries cost', async () => {
    const s = await streamed('/v1/chat/completions', { model: 'mock-chat', stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream cost' }] });
    const last = sseJson(s.text).at(-1) as { usage: { cost: number }; choices: unknown[] };
    expect(last.choices).toEqual([]);
    expect(s.ledger).toBeGreaterThan(0);
    expect(micros(last.usage.cost)).toBe(s.ledger);
    expect(s.text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('completions (mock): the final usage chunk carries cost', async () => {
    const s = await streamed('/v1/completions', { model: 'mock-chat', prompt: 'Stream something priced', max_tokens: 20, stream_options: { include_usage: true } });
    const last = sseJson(s.text).at(-1) as { usage: { cost: number } };
    expect(s.ledger).toBeGreaterThan(0);
    expect(micros(last.usage.cost)).toBe(s.ledger);
  });

  it('chat (Anthropic, translated lane)', async () => {
    const s = await streamed('/v1/chat/completions', { model: 'claude-priced', max_tokens: 600, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hello' }] });
    const last = sseJson(s.text).at(-1) as { usage: { cost: number } };
    expect(s.ledger).toBe(10_500);
    expect(micros(last.usage.cost)).toBe(s.ledger);
  });

  it('messages (native lane): message_delta carries cost, and message_stop still closes the stream', async () => {
    const s = await streamed('/v1/messages', { model: 'claude-priced', max_tokens: 600, messages: [{ role: 'user', content: 'Hello' }] });
    const events = sseEvents(s.text);
    expect(events.at(-1)).toMatch(/^event: message_stop/);
    const delta = events.find((e) => e.startsWith('event: message_delta'))!;
    const usage = (JSON.parse(delta.slice(delta.indexOf('data:') + 5)) as { usage: { cost: number; output_tokens: number } }).usage;
    expect(usage.output_tokens).toBe(500);
    expect(s.ledger).toBe(10_500);
    expect(micros(usage.cost)).toBe(s.ledger);
  });

  it('the Anthropic SDK still parses a stream whose message_delta usage carries cost', async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    const final = await client.messages.stream({ model: 'claude-priced', max_tokens: 600, messages: [{ role: 'user', content: 'Hello' }] }).finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'Priced answer.' }]);
    expect(final.usage.output_tokens).toBe(500);
  });

  it('messages (translated lane, mock)', async () => {
    const s = await streamed('/v1/messages', { model: 'mock-chat', max_tokens: 100, messages: [{ role: 'user', content: 'Hello stream' }] });
    const delta = sseEvents(s.text).find((e) => e.startsWith('event: message_delta'))!;
    const usage = (JSON.parse(delta.slice(delta.indexOf('data:') + 5)) as { usage: { cost: number } }).usage;
    expect(s.ledger).toBeGreaterThan(0);
    expect(micros(usage.cost)).toBe(s.ledger);
  });

  it('responses (translated and native lanes): response.completed carries cost', async () => {
    for (const model of ['mock-chat', 'resp-native']) {
      const s = await streamed('/v1/responses', { model, input: 'Hello stream', store: false });
      const done = sseEvents(s.text).find((e) => e.startsWith('event: response.completed'))!;
      const usage = (JSON.parse(done.slice(done.indexOf('data:') + 5)) as { response: { usage: { cost: number } } }).response.usage;
      expect(s.ledger).toBeGreaterThan(0);
      expect(micros(usage.cost)).toBe(s.ledger);
    }
  });
});

describe('a cache hit costs nothing and says so', () => {
  it('the hit answers cost 0 in usage and header, with no charge, while the miss carried its charge', async () => {
    const body = { model: 'mock-chat', temperature: 0, messages: [{ role: 'user', content: 'cache me for the cost test' }] };
    const miss = await nonStream(await chat(gw.url, key, body), (b) => b.usage);
    expect(miss.res.headers.get('x-tollgate-cache')).toBe('MISS');
    expect(miss.body).toBe(miss.ledger);
    const hit = await nonStream(await chat(gw.url, key, body), (b) => b.usage);
    expect(hit.res.headers.get('x-tollgate-cache')).toBe('HIT');
    expect(hit.body).toBe(0);
    expect(hit.header).toBe(0);
    expect(hit.ledger).toBe(0);
    expect(hit.res.headers.get('x-tollgate-attempts')).toBe('0');
  });

  it('a Messages hit too (its stored body carried the first answer cost)', async () => {
    const body = { model: 'mock-chat', temperature: 0, max_tokens: 50, messages: [{ role: 'user', content: 'cache this message cost' }] };
    const miss = await nonStream(await post('/v1/messages', body), (b) => b.usage);
    expect(miss.body).toBeGreaterThan(0);
    const hit = await nonStream(await post('/v1/messages', body), (b) => b.usage);
    expect(hit.res.headers.get('x-tollgate-cache')).toBe('HIT');
    expect(hit.body).toBe(0);
    expect(hit.ledger).toBe(0);
  });
});
