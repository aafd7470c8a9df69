// The translated lane end to end against a scripted Chat Completions upstream: a custom tool
// (Codex's apply_patch) round trip, streamed, both with previous_response_id and with the items
// sent back explicitly; a streamed answer cut by the output limit ending in response.incomplete;
// cached and reasoning tokens reported in the Responses usage, on the usage row, and priced.
import type { ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allUsage } from '../helpers/money.js';
import { chatModel, openaiProvider, type RecordedRequest, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

type Json = Record<string, unknown>;

const PATCH = '*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch';
const USAGE = { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70, prompt_tokens_details: { cached_tokens: 30 }, completion_tokens_details: { reasoning_tokens: 8 } };
const APPLY_PATCH = { type: 'custom' as const, name: 'apply_patch', description: 'Edit files with a patch' };

let gw: TestGateway;
let upstream: ScriptedUpstream;
let client: OpenAI;
let orgId: string;

type Delta = { content?: string; reasoning_content?: string; tool_calls?: unknown[] };

/** What the scripted Chat upstream answers, from the last message it was sent. */
function decide(req: RecordedRequest): { deltas: Delta[]; finish: string } {
  const messages = (req.json?.messages ?? []) as Json[];
  const last = messages[messages.length - 1];
  if (last?.role === 'tool') return { deltas: [{ content: `patched: ${String(last.content)}` }], finish: 'stop' };
  const text = typeof last?.content === 'string' ? last.content : '';
  if (text.includes('patch')) {
    const args = JSON.stringify({ input: PATCH });
    return {
      deltas: [
        { reasoning_content: 'A patch is needed.' },
        { tool_calls: [{ index: 0, id: 'call_patch_1', type: 'function', function: { name: 'apply_patch', arguments: args.slice(0, 10) } }] },
        { tool_calls: [{ index: 0, function: { arguments: args.slice(10) } }] },
      ],
      finish: 'tool_calls',
    };
  }
  if (text.includes('cut')) return { deltas: [{ content: 'Once upon' }, { content: ' a time' }], finish: 'length' };
  return { deltas: [{ reasoning_content: 'Think first.' }, { content: 'Plain answer.' }], finish: 'stop' };
}

function answer(req: RecordedRequest, res: ServerResponse): void {
  const { deltas, finish } = decide(req);
  const head = { id: 'chatcmpl-1', created: 1, model: 'chat-up' };
  if (!req.json?.stream) {
    const message: Json = { role: 'assistant', content: null };
    for (const d of deltas) {
      if (d.content) message.content = String(message.content ?? '') + d.content;
      if (d.reasoning_content) message.reasoning_content = d.reasoning_content;
    }
    // The streamed call's pieces, as one call.
    const calls = deltas.flatMap((d) => (d.tool_calls ?? []) as Array<{ id?: string; function: { name?: string; arguments: string } }>);
    if (calls.length > 0) {
      message.tool_calls = [{ id: calls[0].id, type: 'function', function: { name: calls[0].function.name, arguments: calls.map((c) => c.function.arguments).join('') } }];
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...head, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: finish }], usage: USAGE }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (choices: unknown[], extra: Json = {}) => res.write(`data: ${JSON.stringify({ ...head, object: 'chat.completion.chunk', choices, ...extra })}\n\n`);
  chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  for (const d of deltas) chunk([{ index: 0, delta: d, finish_reason: null }]);
  chunk([{ index: 0, delta: {}, finish_reason: finish }]);
  chunk([], { usage: USAGE });
  res.end('data: [DONE]\n\n');
}

beforeAll(async () => {
  upstream = await startScriptedUpstream(answer);
  gw = await startTestGateway({
    raw: {
      providers: [openaiProvider('chat-up', upstream.url)],
      models: [chatModel('chat-model', 'chat-up', 'chat-up', { pricing: { input_per_mtok: 2, output_per_mtok: 8, cache_read_per_mtok: 0.5 } })],
    },
  });
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: (await gw.createKey(org.mk)).key, maxRetries: 0, timeout: 10_000 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

async function streamed(body: Json): Promise<{ events: Json[]; done: Json; requestId: string | null }> {
  const res = await fetch(`${gw.url}/v1/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  expect(res.status).toBe(200);
  const events = (await res.text())
    .split('\n\n')
    .map((f) => f.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => l !== undefined)
    .map((l) => JSON.parse(l.slice(6)) as Json);
  expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  return { events, done: events[events.length - 1], requestId: res.headers.get('x-tollgate-request-id') };
}

function lastUpstreamMessages(): Json[] {
  return (upstream.requests[upstream.requests.length - 1].json?.messages ?? []) as Json[];
}

describe('custom tools on the translated lane', () => {
  it('streams a custom tool call as custom_tool_call items, then continues with its output by previous_response_id', async () => {
    const first = await streamed({ model: 'chat-model', input: 'please patch the file', tools: [APPLY_PATCH] });
    // The upstream was offered the custom tool as a function taking one string.
    const offered = (upstream.requests[upstream.requests.length - 1].json?.tools ?? []) as Json[];
    expect(offered).toMatchObject([{ type: 'function', function: { name: 'apply_patch', parameters: { type: 'object', properties: { input: { type: 'string' } } } } }]);
    const input = first.events.filter((e) => e.type === 'response.custom_tool_call_input.delta').map((e) => e.delta).join('');
    expect(input).toBe(PATCH);
    expect(first.events.find((e) => e.type === 'response.custom_tool_call_input.done')).toMatchObject({ input: PATCH });
    expect(first.events.some((e) => e.type === 'response.function_call_arguments.delta')).toBe(false);
    expect(first.done.type).toBe('response.completed');
    const response = first.done.response as { id: string; output: Json[] };
    const call = response.output.find((o) => o.type === 'custom_tool_call');
    expect(call).toMatchObject({ type: 'custom_tool_call', call_id: 'call_patch_1', name: 'apply_patch', input: PATCH, status: 'completed' });

    const next = await streamed({ model: 'chat-model', previous_response_id: response.id, tools: [APPLY_PATCH], input: [{ type: 'custom_tool_call_output', call_id: 'call_patch_1', output: 'Done, 1 file added.' }] });
    expect(next.done.type).toBe('response.completed');
    expect(JSON.stringify((next.done.response as Json).output)).toContain('patched: Done, 1 file added.');
    const sent = lastUpstreamMessages();
    expect(sent.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_patch_1', type: 'function', function: { name: 'apply_patch', arguments: JSON.stringify({ input: PATCH }) } }] });
    expect(sent.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_patch_1', content: 'Done, 1 file added.' });
  });

  it('continues with store: false and the items sent back explicitly', async () => {
    const first = await client.responses.create({ model: 'chat-model', input: 'patch it', tools: [APPLY_PATCH], store: false });
    const call = first.output.find((o) => o.type === 'custom_tool_call') as OpenAI.Responses.ResponseCustomToolCall;
    expect(call).toMatchObject({ name: 'apply_patch', input: PATCH });
    const next = await client.responses.create({
      model: 'chat-model',
      tools: [APPLY_PATCH],
      store: false,
      input: [{ role: 'user', content: 'patch it' }, ...first.output, { type: 'custom_tool_call_output', call_id: call.call_id, output: 'ok' }] as OpenAI.Responses.ResponseInputItem[],
    });
    expect(next.output_text).toBe('patched: ok');
    expect(lastUpstreamMessages().at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: call.call_id, function: { name: 'apply_patch' } }] });
  });
});

describe('finish states and usage', () => {
  it('ends a stream cut by the output limit with response.incomplete, the message marked incomplete', async () => {
    const { events, done } = await streamed({ model: 'chat-model', input: 'cut me short', max_output_tokens: 16 });
    expect(done.type).toBe('response.incomplete');
    expect(done.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    const message = ((done.response as Json).output as Json[]).find((o) => o.type === 'message');
    expect(message).toMatchObject({ status: 'incomplete', content: [{ type: 'output_text', text: 'Once upon a time' }] });
    expect(events.some((e) => e.type === 'response.completed')).toBe(false);
    expect(upstream.requests[upstream.requests.length - 1].json).toMatchObject({ max_completion_tokens: 16 });
  });

  it('reports cached and reasoning tokens in the usage, records them, and prices the cached part at its own rate', async () => {
    const { done, requestId } = await streamed({ model: 'chat-model', input: 'hello' });
    expect(done.type).toBe('response.completed');
    const cost = (50 - 30) * 2 + 30 * 0.5 + 20 * 8;
    expect((done.response as Json).usage).toEqual({
      input_tokens: 50,
      input_tokens_details: { cached_tokens: 30 },
      output_tokens: 20,
      output_tokens_details: { reasoning_tokens: 8 },
      total_tokens: 70,
      cost: cost / 1e6,
    });
    const reasoning = ((done.response as Json).output as Json[])[0];
    expect(reasoning).toMatchObject({ type: 'reasoning', summary: [{ type: 'summary_text', text: 'Think first.' }] });
    await flushed(gw);
    const row = (await allUsage(gw.running.gateway.store, orgId)).find((u) => u.request_id === requestId);
    expect(row).toMatchObject({ surface: 'responses', prompt_tokens: 50, completion_tokens: 20, cache_read_tokens: 30, reasoning_tokens: 8, cost_micros: cost });
  });
});
