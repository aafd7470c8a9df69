// Money on the Messages surface: an answer with cache reads and writes costs exactly the sum of
// its price classes (input, cache read, cache write, output), streamed or not, through the
// native lane (Messages clients) and the translated lane (Chat Completions clients) alike.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageOf } from '../helpers/account.js';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

const USAGE = { input_tokens: 1000, cache_read_input_tokens: 10_000, cache_creation_input_tokens: 2000, output_tokens: 500 };
const PRICES = { input_per_mtok: 3, output_per_mtok: 15, cache_read_per_mtok: 0.3, cache_write_per_mtok: 3.75 };
// 1000 × $3 + 10 000 × $0.30 + 2000 × $3.75 + 500 × $15, per million tokens.
const EXPECTED_MICROS = 3000 + 3000 + 7500 + 7500;

function frame(data: Record<string, unknown>): string {
  return `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
}

let upstream: ScriptedUpstream;
let gw: TestGateway;
let mk: string;
let key: string;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => {
    const stream = req.json?.stream === true;
    const message = { id: 'msg_cache', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [{ type: 'text', text: 'Cached answer.' }], stop_reason: 'end_turn', stop_sequence: null, usage: USAGE };
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(message));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(frame({ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...USAGE, output_tokens: 1 } } }));
    res.write(frame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    res.write(frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Cached answer.' } }));
    res.write(frame({ type: 'content_block_stop', index: 0 }));
    res.write(frame({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: USAGE.output_tokens } }));
    res.end(frame({ type: 'message_stop' }));
  });
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'anthropic', type: 'anthropic', base_url: upstream.url, api_key: 'sk-ant-upstream' }],
      models: [chatModel('claude-sonnet-4.5', 'anthropic', 'claude-sonnet-4-5', { aliases: ['claude-sonnet-4-5'], context_window: 200000, max_output_tokens: 64000, pricing: PRICES })],
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('each token class is billed at its price', () => {
  it('charges a Messages answer with cache reads and writes exactly the sum of its classes, streamed and not', async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
    const params = { model: 'claude-sonnet-4-5', max_tokens: 600, messages: [{ role: 'user' as const, content: 'Hello' }] };
    const plain = await client.messages.create(params);
    expect(plain.usage).toMatchObject(USAGE);
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.usage).toMatchObject({ output_tokens: USAGE.output_tokens });
    expect(plain.content).toEqual(streamed.content);

    const rows = (await usageOf(gw, mk)).filter((r) => r.status === 200);
    const costs = rows.map((r) => Math.round(r.cost_usd * 1e6));
    expect(costs).toEqual([EXPECTED_MICROS, EXPECTED_MICROS]);
    expect(rows.every((r) => r.prompt_tokens === 13_000 && r.completion_tokens === 500)).toBe(true);
  });

  it('charges a Chat Completions client the same for the same answer, streamed and not', async () => {
    const before = (await usageOf(gw, mk)).length;
    const plain = await chat(gw.url, key, { model: 'claude-sonnet-4.5', max_tokens: 600, messages: [{ role: 'user', content: 'Hello' }] });
    expect(plain.status).toBe(200);
    const usage = ((await plain.json()) as { usage: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } }).usage;
    expect(usage.prompt_tokens).toBe(13_000);
    expect(usage.prompt_tokens_details?.cached_tokens).toBe(10_000);
    const streamed = await chat(gw.url, key, { model: 'claude-sonnet-4.5', max_tokens: 600, stream: true, messages: [{ role: 'user', content: 'Hello' }] });
    expect(streamed.status).toBe(200);
    await streamed.text();

    const rows = (await usageOf(gw, mk)).filter((r) => r.status === 200);
    expect(rows.length).toBe(before + 2);
    expect(rows.map((r) => Math.round(r.cost_usd * 1e6))).toEqual(Array(rows.length).fill(EXPECTED_MICROS));
  });
});
