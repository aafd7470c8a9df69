// The translated lane to a provider with its own protocol: an Anthropic Messages upstream that
// thinks before it answers. Its thinking becomes a reasoning item with a summary; its signature
// travels sealed in encrypted_content; usage and finish state are mapped.
import type { ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allUsage } from '../helpers/money.js';
import { chatModel, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

function anthropicAnswer(res: ServerResponse, stop: 'end_turn' | 'max_tokens', stream: boolean): void {
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'msg_a2',
        type: 'message',
        role: 'assistant',
        model: 'claude-x',
        content: [
          { type: 'thinking', thinking: 'The user greets; greet back.', signature: 'sig-anthropic-2' },
          { type: 'text', text: 'Hello there.' },
        ],
        stop_reason: stop,
        stop_sequence: null,
        usage: { input_tokens: 30, cache_read_input_tokens: 10, output_tokens: 9 },
      }),
    );
    return;
  }
  const ev = (data: Record<string, unknown>) => res.write(`event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  ev({ type: 'message_start', message: { id: 'msg_a1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, usage: { input_tokens: 30, cache_read_input_tokens: 10, output_tokens: 1 } } });
  ev({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
  ev({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'The user greets; ' } });
  ev({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'greet back.' } });
  ev({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig-anthropic-1' } });
  ev({ type: 'content_block_stop', index: 0 });
  ev({ type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } });
  ev({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hello ' } });
  ev({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'there.' } });
  ev({ type: 'content_block_stop', index: 1 });
  ev({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 9 } });
  ev({ type: 'message_stop' });
  res.end();
}

let gw: TestGateway;
let upstream: ScriptedUpstream;
let client: OpenAI;
let orgId: string;

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => anthropicAnswer(res, JSON.stringify(req.json?.messages).includes('cut') ? 'max_tokens' : 'end_turn', req.json?.stream === true));
  gw = await startTestGateway({
    raw: {
      providers: [
        { id: 'mock', type: 'mock' },
        { id: 'ant', type: 'anthropic', base_url: upstream.url.replace(/\/v1$/, ''), api_key: 'upstream-secret-key' },
      ],
      models: [chatModel('claude-x', 'ant', 'claude-x')],
    },
  });
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(org.mk)).key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('Responses translated to Anthropic Messages', () => {
  it('streams the thinking as a reasoning summary, then the text, with the signature sealed when asked', async () => {
    const stream = await client.responses.create({ model: 'claude-x', input: 'Hi!', stream: true, store: false, include: ['reasoning.encrypted_content'], reasoning: { effort: 'low', summary: 'auto' } });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const ev of stream) events.push(ev);
    const summary = events.filter((e) => e.type === 'response.reasoning_summary_text.delta').map((e) => (e as { delta: string }).delta);
    expect(summary.join('')).toBe('The user greets; greet back.');
    const done = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(done.type).toBe('response.completed');
    const [reasoning, message] = done.response.output as [OpenAI.Responses.ResponseReasoningItem, OpenAI.Responses.ResponseOutputMessage];
    expect(reasoning).toMatchObject({ type: 'reasoning', summary: [{ type: 'summary_text', text: 'The user greets; greet back.' }] });
    expect(reasoning.encrypted_content).toEqual(expect.any(String));
    expect(reasoning.encrypted_content).not.toContain('sig-anthropic-1');
    expect(message.content).toEqual([expect.objectContaining({ type: 'output_text', text: 'Hello there.' })]);
    expect(done.response.usage).toMatchObject({ input_tokens: 40, input_tokens_details: { cached_tokens: 10 }, output_tokens: 9 });
    // the request reached Anthropic as a Messages request
    expect(upstream.requests.at(-1)?.path).toBe('/v1/messages');
    expect(upstream.requests.at(-1)?.json).toMatchObject({ model: 'claude-x', messages: [{ role: 'user' }] });
    expect(JSON.stringify(upstream.requests.at(-1)?.json?.messages)).toContain('Hi!');
  });

  it('maps a max_tokens stop to an incomplete response (not streamed), and records the usage', async () => {
    const r = await client.responses.create({ model: 'claude-x', input: 'cut me short' });
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(r.output_text).toBe('Hello there.');
    expect(r.output[0]).toMatchObject({ type: 'reasoning', summary: [{ type: 'summary_text', text: 'The user greets; greet back.' }] });
    expect(r.output[0]).not.toHaveProperty('encrypted_content');
    await flushed(gw);
    const rows = await allUsage(gw.running.gateway.store, orgId);
    expect(rows.every((u) => u.surface === 'responses' && u.cost_micros > 0)).toBe(true);
  });
});
