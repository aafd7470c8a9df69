// The native Responses lane of OpenAI-compatible providers: body and frames pass as they are,
// with only the model replaced; usage, finish state and errors are read from the events.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { createAdapter } from '../../src/providers/registry.js';
import type { AdapterContext, StreamPiece } from '../../src/providers/types.js';

function adapterFor(provider: Record<string, unknown>) {
  const cfg = configSchema.parse({
    providers: [{ id: 'up', type: 'openai', api_key: 'sk-up', ...provider }],
    models: [{ id: 'pub-model', channels: [{ provider: 'up', upstream_model: 'up-model' }] }],
  });
  return { adapter: createAdapter(cfg.providers[0]), ctx: { provider: cfg.providers[0], model: cfg.models[0], upstreamModel: 'up-model', stream: true, requestId: 'r1', native: true } as AdapterContext };
}

const enc = new TextEncoder();

describe('which providers speak Responses natively', () => {
  it('is on for OpenAI itself, off for other OpenAI-compatible servers unless configured', () => {
    expect(adapterFor({}).adapter.native?.responses).toBeDefined();
    expect(adapterFor({ base_url: 'http://127.0.0.1:9/v1' }).adapter.native?.responses).toBeUndefined();
    expect(adapterFor({ base_url: 'http://127.0.0.1:9/v1', responses: true }).adapter.native?.responses).toBeDefined();
    expect(adapterFor({ responses: false }).adapter.native?.responses).toBeUndefined();
  });
});

describe('native request and answer', () => {
  it('sends the body with only the model replaced, to {base_url}/responses with the provider key', () => {
    const { adapter, ctx } = adapterFor({ base_url: 'http://127.0.0.1:9/v1', responses: true });
    const body = { model: 'pub-model', input: [{ type: 'reasoning', encrypted_content: 'gAAAA…', summary: [] }], future_field: { x: 1 }, store: false };
    const req = adapter.native!.responses!.request(body, ctx, {});
    expect(req.url).toBe('http://127.0.0.1:9/v1/responses');
    expect(req.headers.authorization).toBe('Bearer sk-up');
    expect(JSON.parse(req.body!)).toEqual({ ...body, model: 'up-model' });
  });

  it('relays the upstream body with the public model and reads usage and finish state', () => {
    const { adapter, ctx } = adapterFor({});
    const upstream =
      '{"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"model":"up-model-2025","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":16},"x_new":1}';
    const a = adapter.native!.responses!.response!(upstream, ctx);
    expect(a.body).toBe(upstream.replace('"model":"up-model-2025"', '"model":"pub-model"'));
    expect(a.usage).toEqual({ prompt_tokens: 10, completion_tokens: 6, total_tokens: 16, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } });
    expect(a.finishReason).toBe('length');
    expect(a.text).toBe('Hi');
  });
});

describe('native stream', () => {
  const stream = [
    'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","model":"up-model","status":"in_progress","output":[]}}\n\n',
    'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"function_call","name":"f","call_id":"c","arguments":""}}\n\n',
    'event: response.function_call_arguments.delta\ndata: {"type":"response.function_call_arguments.delta","sequence_number":2,"delta":"{}","unknown":true}\n\n',
    'event: response.completed\ndata: {"type":"response.completed","sequence_number":3,"response":{"id":"resp_1","model":"up-model","status":"completed","output":[{"type":"function_call"}],"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}}}\n\n',
  ];

  function feed(chunks: string[]): StreamPiece[] {
    const { adapter, ctx } = adapterFor({});
    const t = adapter.native!.responses!.streamTranslator(ctx);
    const out: StreamPiece[] = [];
    // split across arbitrary byte boundaries
    const all = chunks.join('');
    for (let i = 0; i < all.length; i += 37) out.push(...t.push(enc.encode(all.slice(i, i + 37))));
    out.push(...t.end());
    return out;
  }

  it('relays every frame byte for byte except the model, and reads content, usage and the end', () => {
    const pieces = feed(stream);
    expect(pieces.map((p) => p.frame).join('')).toBe(stream.join('').replaceAll('"model":"up-model"', '"model":"pub-model"'));
    expect(pieces[0].content).toBeFalsy();
    expect(pieces[1].content).toBe(true);
    expect(pieces[2]).toMatchObject({ content: true, text: '{}' });
    expect(pieces[3]).toMatchObject({ done: true, finishReason: 'tool_calls', usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
    expect(pieces.some((p) => p.error)).toBe(false);
  });

  it('turns response.failed and error events into errors, and a stream without its end into a truncation error', () => {
    const failed = feed([stream[0], 'data: {"type":"response.failed","sequence_number":1,"response":{"error":{"code":"server_error","message":"boom"}}}\n\n']);
    expect(failed.some((p) => p.error?.message.includes('boom'))).toBe(true);
    const cut = feed(stream.slice(0, 3));
    expect(cut.at(-1)?.error?.code).toBe('provider_error');
  });
});
