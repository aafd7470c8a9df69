// The Responses surface in isolation: parsing to the canonical request, model checks, the
// response object, and the stream events the translated lane writes.
import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/core/canonical.js';
import { GatewayError } from '../../src/core/errors.js';
import type { ChatCompletion } from '../../src/core/types.js';
import type { ModelRuntime } from '../../src/routing/channels.js';
import type { StoredResponseRow } from '../../src/store/types.js';
import { createResponsesSurface } from '../../src/surfaces/responses/index.js';
import type { AnswerTotals, Caller } from '../../src/surfaces/types.js';

function memoryStore() {
  const rows = new Map<string, StoredResponseRow>();
  return {
    rows,
    async putResponse(r: StoredResponseRow) {
      if (!rows.has(r.id)) rows.set(r.id, structuredClone(r));
    },
    async getResponse(orgId: string, id: string, now: number) {
      const r = rows.get(id);
      return r && r.org_id === orgId && r.expires_at > now ? structuredClone(r) : undefined;
    },
    async deleteResponse(orgId: string, id: string) {
      const r = rows.get(id);
      if (!r || r.org_id !== orgId) return false;
      return rows.delete(id);
    },
  };
}

let n = 0;
const caller = (orgId = 'org_a'): Caller => ({ orgId, keyId: 'key_1', requestId: `req_${++n}` });

function model(native: boolean, over: Partial<ModelRuntime['config']> = {}): ModelRuntime {
  return {
    config: { id: 'm', max_output_tokens: 1000, context_window: 8000, ...over },
    channels: [{ adapter: native ? { native: { responses: {} } } : {} }],
    supported: undefined,
  } as unknown as ModelRuntime;
}

const totals: AnswerTotals = { usage: { prompt: 20, completion: 7, cacheRead: 5, cacheWrite: 0, reasoning: 3 }, estimated: false, costMicros: 1234 };

function setup() {
  const store = memoryStore();
  const surface = createResponsesSurface({ store, retentionDays: 30, log: { warn: () => undefined } });
  return { store, surface };
}

function completion(message: ChatCompletion['choices'][0]['message'], finish: ChatCompletion['choices'][0]['finish_reason'] = 'stop'): ChatCompletion {
  return { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message, finish_reason: finish }] };
}

async function badRequest(p: unknown): Promise<GatewayError> {
  try {
    await (typeof p === 'function' ? (p as () => unknown)() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error('expected an error');
}

/** Parses the SSE text a stream encoder wrote. */
function frames(text: string): Array<Record<string, unknown> & { type: string; sequence_number: number }> {
  return text
    .split('\n\n')
    .filter((f) => f.trim() !== '')
    .map((f) => {
      const lines = f.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6));
      expect(data.type).toBe(event);
      return data;
    });
}

describe('parse: Responses request → canonical request', () => {
  it('turns a string input and instructions into a system and a user message, with the facts', async () => {
    const { surface } = setup();
    const p = await surface.parse({ model: 'm', input: 'Hi', instructions: 'Be brief.', max_output_tokens: 50, temperature: 0.2, top_p: 0.9, stream: true }, {}, caller());
    expect(p.canonical.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(p.canonical).toMatchObject({ model: 'm', stream: true, max_completion_tokens: 50, temperature: 0.2, top_p: 0.9, tollgate: { surface: 'responses' } });
    expect(p.facts).toEqual({ model: 'm', fallbacks: [], stream: true, maxOutputTokens: 50, n: 1, relayUsageFrames: false });
  });

  it('converts messages with text and image parts, function calls and their outputs', async () => {
    const { surface } = setup();
    const p = await surface.parse(
      {
        model: 'm',
        tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
        input: [
          { role: 'developer', content: 'Use tools.' },
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather here?' }, { type: 'input_image', image_url: 'https://x/y.png', detail: 'low' }] },
          { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
          { type: 'function_call_output', call_id: 'call_1', output: '{"temp":3}' },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is 3°C.' }] },
        ],
      },
      {},
      caller(),
    );
    expect(p.canonical.messages).toEqual([
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather here?' }, { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":3}' },
      { role: 'assistant', content: 'It is 3°C.' },
    ]);
    expect(p.canonical.tools).toEqual([{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]);
  });

  it('offers custom and namespaced tools as functions and maps tool_choice, text.format and reasoning', async () => {
    const { surface } = setup();
    const p = await surface.parse(
      {
        model: 'm',
        input: [
          { type: 'message', role: 'user', content: 'patch it' },
          { type: 'custom_tool_call', call_id: 'c1', name: 'apply_patch', input: '*** Begin Patch' },
          { type: 'custom_tool_call_output', call_id: 'c1', output: 'done' },
        ],
        tools: [
          { type: 'custom', name: 'apply_patch', description: 'Edit files', format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' } },
          { type: 'namespace', name: 'agents', description: 'x', tools: [{ type: 'function', name: 'spawn', parameters: { type: 'object' } }] },
        ],
        tool_choice: { type: 'function', name: 'spawn' },
        parallel_tool_calls: false,
        text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
        reasoning: { effort: 'high', summary: 'auto' },
      },
      {},
      caller(),
    );
    expect(p.canonical.messages[1]).toEqual({ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' } }] });
    expect(p.canonical.tools?.[0].function.name).toBe('apply_patch');
    expect(p.canonical.tools?.[0].function.description).toContain('start: "x"');
    expect(p.canonical.tools?.[0].function.parameters).toMatchObject({ required: ['input'] });
    expect(p.canonical.tools?.[1].function.name).toBe('spawn');
    expect(p.canonical.tool_choice).toEqual({ type: 'function', function: { name: 'spawn' } });
    expect(p.canonical.parallel_tool_calls).toBe(false);
    expect(p.canonical.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } });
    expect(p.canonical.tollgate).toEqual({ surface: 'responses', reasoning: { effort: 'high', summary: 'auto' } });
    expect(p.canonical.reasoning_effort).toBe('high');
  });

  it('keeps the client body, unknown fields included, for a native upstream', async () => {
    const { surface } = setup();
    const body = { model: 'm', input: 'Hi', client_metadata: { a: 1 }, some_future_field: [1, 2], include: ['reasoning.encrypted_content'] };
    const p = await surface.parse(body, {}, caller());
    expect(p.native).toEqual(body);
  });

  it('refuses wrong types and ranges with 400 naming the parameter', async () => {
    const { surface } = setup();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ input: 'x', temperature: 3 }, 'temperature'],
      [{ input: 'x', top_p: -1 }, 'top_p'],
      [{ input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
      [{ input: 'x', text: { format: { type: 'json_schema' } } }, 'text.format.name'],
      [{ input: 'x', reasoning: { effort: 'huge' } }, 'reasoning.effort'],
      [{ input: 'x', truncation: 'sometimes' }, 'truncation'],
      [{ input: 42 }, 'input'],
      [{ input: [{ type: 'function_call_output', output: 'x' }] }, 'input[0].call_id'],
      [{ input: [{ role: 'wizard', content: 'x' }] }, 'input[0].role'],
      [{ input: 'x', tools: [{ type: 'function' }] }, 'tools[0].name'],
    ];
    for (const [extra, param] of cases) {
      const err = await badRequest(surface.parse({ model: 'm', ...extra }, {}, caller()));
      expect(err.status, param).toBe(400);
      expect(err.param, JSON.stringify(extra)).toBe(param);
    }
    expect((await badRequest(surface.parse({ input: 'x' }, {}, caller()))).code).toBe('missing_required_parameter');
    expect((await badRequest(surface.parse([1], {}, caller()))).code).toBe('invalid_json');
    expect((await badRequest(surface.parse({ model: 'm' }, {}, caller()))).param).toBe('input');
  });
});

describe('parse: a malformed input item is named by the path the client sent', () => {
  const hi = { role: 'user', content: 'hi' };
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['an item type that is not a string', { input: [hi, hi, { type: 42, role: 'user', content: 'x' }] }, 'input[2].type', 'invalid_value'],
    ['a message with a bad role', { input: [hi, hi, { type: 'message', role: 'wizard', content: 'x' }] }, 'input[2].role', 'invalid_value'],
    ['a content part without a type', { input: [hi, hi, { role: 'user', content: [{ text: 'x' }] }] }, 'input[2].content[0]', 'invalid_value'],
    ['a function_call_output without call_id', { input: [hi, hi, { type: 'function_call_output', output: 'x' }] }, 'input[2].call_id', 'invalid_value'],
    ['an entry of array instructions', { instructions: [hi, { role: 'wizard', content: 'x' }], input: 'x' }, 'instructions[1].role', 'invalid_value'],
    ['an entry of array instructions that is no object', { instructions: [hi, 'x'], input: 'x' }, 'instructions[1]', 'invalid_value'],
  ];
  for (const [what, body, param, code] of cases) {
    it(`${what}: ${param}`, async () => {
      const { surface } = setup();
      const err = await badRequest(surface.parse({ model: 'm', ...body }, {}, caller()));
      expect(err).toMatchObject({ status: 400, code, param });
      expect(err.message).toContain(param);
    });
  }

  it('counts from the request\'s own input, after array instructions and a continued conversation', async () => {
    const { surface } = setup();
    const c = caller();
    const p = await surface.parse({ model: 'm', input: [hi, { role: 'assistant', content: 'hello' }] }, {}, c);
    const first = surface.encodeResponse(completion({ role: 'assistant', content: 'ok' }), { requestId: c.requestId, model: 'm', created: 1, native: false, request: p }, totals) as { id: string };
    const body = { model: 'm', previous_response_id: first.id, instructions: [{ role: 'system', content: 'x' }], input: [hi, { role: 'wizard', content: 'x' }] };
    const err = await badRequest(surface.parse(body, {}, caller()));
    expect(err).toMatchObject({ status: 400, param: 'input[1].role' });
    expect(err.message).toContain('input[1].role');
    expect(err.message).toContain('"wizard"');
  });

  it('refuses an item or content part type only a Responses upstream may take, on a model without one, by its path', async () => {
    const { surface } = setup();
    const parts = await surface.parse({ model: 'm', input: [hi, hi, { role: 'user', content: [{ type: 'input_text', text: 'x' }, { type: 'bogus_part' }] }] }, {}, caller());
    expect(parts.requiresNative?.refusal).toMatchObject({ status: 400, param: 'input[2].content[1].type' });
    expect(parts.requiresNative?.refusal.message).toContain('"bogus_part" at input[2].content[1].type');
    const items = await surface.parse({ model: 'm', instructions: [hi], input: [hi, { type: 'bogus_item' }] }, {}, caller());
    expect(items.requiresNative?.refusal).toMatchObject({ status: 400, param: 'input[1].type' });
    expect(items.requiresNative?.refusal.message).toContain('"bogus_item" at input[1].type');
  });
});

describe('checkModel: what the serving model can do', () => {
  it('marks built-in tools as needing the native lane, with the 400 a model without one answers', async () => {
    const { surface } = setup();
    const p = await surface.parse({ model: 'm', input: 'search', tools: [{ type: 'web_search' }] }, {}, caller());
    const err = p.requiresNative?.refusal;
    expect(err?.code).toBe('unsupported_parameter');
    expect(err?.status).toBe(400);
    expect(err?.param).toBe('tools');
    expect(err?.message).toContain('web_search');
    expect(surface.checkModel(p, model(true))).toBeGreaterThan(0);
    const plain = await surface.parse({ model: 'm', input: 'search', tools: [{ type: 'function', name: 'f' }] }, {}, caller());
    expect(plain.requiresNative).toBeUndefined();
  });

  it('refuses max_output_tokens above the model limit and a prompt beyond the context, unless truncation is auto', async () => {
    const { surface } = setup();
    const big = await surface.parse({ model: 'm', input: 'x', max_output_tokens: 5000 }, {}, caller());
    expect((await badRequest(() => surface.checkModel(big, model(false)))).param).toBe('max_output_tokens');
    const long = 'word '.repeat(400);
    const input = [
      { role: 'user', content: long },
      { role: 'assistant', content: long },
      { role: 'user', content: 'last question' },
    ];
    const strict = await surface.parse({ model: 'm', input }, {}, caller());
    expect((await badRequest(() => surface.checkModel(strict, model(false, { context_window: 300 })))).code).toBe('context_exceeded');
    const auto = await surface.parse({ model: 'm', input, truncation: 'auto' }, {}, caller());
    surface.checkModel(auto, model(false, { context_window: 300 }));
    expect(auto.canonical.messages).toEqual([{ role: 'user', content: 'last question' }]);
  });
});

describe('encodeResponse: the response object', () => {
  it('carries output items, status, usage with cached and reasoning details, and the cost', async () => {
    const { surface } = setup();
    const c = caller();
    const p = await surface.parse({ model: 'm', input: 'Hi', store: false, metadata: { run: '7' }, tools: [{ type: 'custom', name: 'apply_patch' }] }, {}, c);
    const r = surface.encodeResponse(
      completion({ role: 'assistant', content: 'Hello', reasoning_content: 'thinking', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"diff"}' } }] }, 'tool_calls'),
      { requestId: c.requestId, model: 'm', created: 100, native: false, request: p },
      totals,
    ) as Record<string, unknown>;
    expect(r).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'm',
      created_at: 100,
      incomplete_details: null,
      metadata: { run: '7' },
      store: false,
      output_text: 'Hello',
      usage: { input_tokens: 20, input_tokens_details: { cached_tokens: 5 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 3 }, total_tokens: 27, cost: 0.001234 },
    });
    expect(String(r.id)).toMatch(/^resp_/);
    const output = r.output as Array<Record<string, unknown>>;
    expect(output.map((o) => o.type)).toEqual(['reasoning', 'message', 'custom_tool_call']);
    expect(output[0].summary).toEqual([{ type: 'summary_text', text: 'thinking' }]);
    expect(output[2]).toMatchObject({ call_id: 'call_9', name: 'apply_patch', input: 'diff' });
  });

  it('reports an answer cut by the output limit as incomplete with max_output_tokens', async () => {
    const { surface } = setup();
    const c = caller();
    const p = await surface.parse({ model: 'm', input: 'Hi' }, {}, c);
    const r = surface.encodeResponse(completion({ role: 'assistant', content: 'Hel' }, 'length'), { requestId: c.requestId, model: 'm', created: 1, native: false, request: p }, totals) as Record<string, unknown>;
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
  });

  it('hands signed reasoning back only when asked, and reads it back on the next turn (store: false round trip)', async () => {
    const { surface } = setup();
    const c = caller();
    const p = await surface.parse({ model: 'm', input: 'Hi', store: false, include: ['reasoning.encrypted_content'] }, {}, c);
    const r = surface.encodeResponse(completion({ role: 'assistant', content: 'Yes', reasoning_content: 'because', reasoning_signature: 'sig-1', reasoning_redacted: ['opaque'] }), { requestId: c.requestId, model: 'm', created: 1, native: false, request: p }, totals) as {
      output: Array<Record<string, unknown>>;
    };
    const reasoning = r.output[0];
    expect(typeof reasoning.encrypted_content).toBe('string');
    expect(String(reasoning.encrypted_content)).not.toContain('sig-1');
    const next = await surface.parse({ model: 'm', store: false, input: [{ role: 'user', content: 'Hi' }, ...r.output, { role: 'user', content: 'And?' }] }, {}, caller());
    expect(next.canonical.messages[1]).toEqual({ role: 'assistant', content: 'Yes', reasoning_content: 'because', reasoning_signature: 'sig-1', reasoning_redacted: ['opaque'] });

    const c2 = caller();
    const p2 = await surface.parse({ model: 'm', input: 'Hi', store: false }, {}, c2);
    const hidden = surface.encodeResponse(completion({ role: 'assistant', content: 'Yes', reasoning_content: 'because', reasoning_signature: 'sig-1' }), { requestId: c2.requestId, model: 'm', created: 1, native: false, request: p2 }, totals) as {
      output: Array<Record<string, unknown>>;
    };
    expect(hidden.output[0].encrypted_content).toBeUndefined();
  });

  it('uses OpenAI error envelopes', () => {
    const { surface } = setup();
    expect(surface.errorBody(new GatewayError('invalid_value', 'bad', { param: 'x' }))).toEqual({ error: { message: 'bad', type: 'invalid_request_error', code: 'invalid_value', param: 'x' } });
  });
});

describe('streamEncoder: events with sequence numbers', () => {
  async function run(evs: StreamEvent[], body: Record<string, unknown> = {}) {
    const { surface, store } = setup();
    const c = caller();
    const p = await surface.parse({ model: 'm', input: 'Hi', tools: [{ type: 'function', name: 'f' }], ...body }, {}, c);
    const enc = surface.streamEncoder({ requestId: c.requestId, model: 'm', created: 1, native: false, request: p }, p.facts);
    let text = '';
    for (const ev of evs) text += enc.events([ev]);
    return { enc, text, store, surface };
  }

  it('opens, fills and closes reasoning, message and function call items in order, then completes', async () => {
    const { enc, text, store, surface } = await run([
      { type: 'start', choice: 0 },
      { type: 'reasoning', choice: 0, text: 'Let me ' },
      { type: 'reasoning', choice: 0, text: 'think.' },
      { type: 'text', choice: 0, text: 'Hel' },
      { type: 'text', choice: 0, text: 'lo' },
      { type: 'tool_start', choice: 0, index: 0, id: 'call_1', name: 'f' },
      { type: 'tool_args', choice: 0, index: 0, args: '{"a"' },
      { type: 'tool_args', choice: 0, index: 0, args: ':1}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
    ]);
    const all = frames(text + enc.end(totals));
    expect(all.map((f) => f.sequence_number)).toEqual(all.map((_, i) => i));
    expect(all.map((f) => f.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const done = all.at(-1)!.response as Record<string, unknown>;
    expect(done.status).toBe('completed');
    expect(done.usage).toMatchObject({ input_tokens: 20, output_tokens: 7 });
    const output = done.output as Array<Record<string, unknown>>;
    expect(output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(output[1].content).toEqual([{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }]);
    expect(output[2]).toMatchObject({ call_id: 'call_1', name: 'f', arguments: '{"a":1}', status: 'completed' });
    expect(all[0].response).toMatchObject({ id: done.id, status: 'in_progress' });
    // store defaults to true: the answer is kept with its input
    await surface.stored.flush();
    expect(store.rows.get(String(done.id))?.response).toMatchObject({ id: done.id, status: 'completed' });
  });

  it('seals signed and redacted reasoning into the reasoning item, shown only when included', async () => {
    const evs: StreamEvent[] = [
      { type: 'reasoning', choice: 0, text: 'Because.' },
      { type: 'reasoning_signature', choice: 0, signature: 'sig-9' },
      { type: 'reasoning_redacted', choice: 0, data: 'redacted-1' },
      { type: 'text', choice: 0, text: 'Yes' },
      { type: 'finish', choice: 0, reason: 'stop' },
    ];
    const shown = await run(evs, { include: ['reasoning.encrypted_content'], store: false });
    const all = frames(shown.text + shown.enc.end(totals));
    const done = all.find((f) => f.type === 'response.output_item.done')!.item as Record<string, unknown>;
    expect(done).toMatchObject({ type: 'reasoning', summary: [{ type: 'summary_text', text: 'Because.' }] });
    expect(typeof done.encrypted_content).toBe('string');
    const next = await shown.surface.parse({ model: 'm', store: false, input: [{ role: 'user', content: 'q' }, done, { role: 'user', content: 'again' }] }, {}, caller());
    expect(next.canonical.messages[1]).toMatchObject({ role: 'assistant', reasoning_content: 'Because.', reasoning_signature: 'sig-9', reasoning_redacted: ['redacted-1'] });

    const hidden = await run(evs, { store: false });
    const item = frames(hidden.text + hidden.enc.end(totals)).find((f) => f.type === 'response.output_item.done')!.item as Record<string, unknown>;
    expect(item.encrypted_content).toBeUndefined();
  });

  it('ends with response.incomplete when the output limit cut the answer', async () => {
    const { enc, text } = await run([
      { type: 'text', choice: 0, text: 'Hel' },
      { type: 'finish', choice: 0, reason: 'length' },
    ]);
    const last = frames(text + enc.end(totals)).at(-1)!;
    expect(last.type).toBe('response.incomplete');
    expect(last.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
  });

  it('reports an error mid-stream as an error event and response.failed, and keeps nothing', async () => {
    const { enc, text, store, surface } = await run([{ type: 'text', choice: 0, text: 'Hel' }]);
    const all = frames(text + enc.error(new GatewayError('timeout', 'The provider timed out')));
    expect(all.at(-2)).toMatchObject({ type: 'error', code: 'timeout', message: 'The provider timed out' });
    expect(all.at(-1)).toMatchObject({ type: 'response.failed', response: { status: 'failed', error: { code: 'timeout' } } });
    await surface.stored.flush();
    expect(store.rows.size).toBe(0);
  });
});

describe('stored responses: previous_response_id', () => {
  it('continues a stored conversation of the same org and is 404 for another org', async () => {
    const { surface } = setup();
    const c = caller('org_a');
    const p = await surface.parse({ model: 'm', input: 'My name is Ada.', instructions: 'Be nice.' }, {}, c);
    const first = surface.encodeResponse(completion({ role: 'assistant', content: 'Hello Ada' }), { requestId: c.requestId, model: 'm', created: 1, native: false, request: p }, totals) as { id: string };
    const next = await surface.parse({ model: 'm', input: 'What is my name?', previous_response_id: first.id }, {}, caller('org_a'));
    // Instructions do not carry over (as in OpenAI's API); the turns do.
    expect(next.canonical.messages).toEqual([
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Hello Ada' },
      { role: 'user', content: 'What is my name?' },
    ]);
    expect(next.native).not.toHaveProperty('previous_response_id');
    expect((next.native as { input: unknown[] }).input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'My name is Ada.' }] },
      { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello Ada', annotations: [], logprobs: [] }] },
      'What is my name?',
    ].map((x) => (typeof x === 'string' ? { type: 'message', role: 'user', content: [{ type: 'input_text', text: x }] } : x)));
    const foreign = await surface.parse({ model: 'm', input: 'x', previous_response_id: first.id }, {}, caller('org_b'));
    const err = foreign.requiresNative?.refusal;
    expect(err?.status).toBe(404);
    expect(err?.param).toBe('previous_response_id');
    expect(next.requiresNative).toBeUndefined();
  });

  it('keeps a stored response for the configured retention, and nothing with store: false', async () => {
    const store = memoryStore();
    const surface = createResponsesSurface({ store, retentionDays: 2, log: { warn: () => undefined } });
    const kept = caller();
    const pk = await surface.parse({ model: 'm', input: 'keep' }, {}, kept);
    const r = surface.encodeResponse(completion({ role: 'assistant', content: 'ok' }), { requestId: kept.requestId, model: 'm', created: 1, native: false, request: pk }, totals) as { id: string };
    const dropped = caller();
    const pd = await surface.parse({ model: 'm', input: 'drop', store: false }, {}, dropped);
    surface.encodeResponse(completion({ role: 'assistant', content: 'ok' }), { requestId: dropped.requestId, model: 'm', created: 1, native: false, request: pd }, totals);
    await surface.stored.flush();
    expect([...store.rows.keys()]).toEqual([r.id]);
    const row = store.rows.get(r.id)!;
    expect(row.expires_at - row.created_at).toBe(2 * 86_400_000);
    expect(row.input_items).toEqual([expect.objectContaining({ type: 'message', role: 'user', id: expect.stringMatching(/^msg_/) })]);
  });

  it('lists input items with ids, stable across calls, a string content as parts, paged by those ids', async () => {
    const { surface } = setup();
    const c = caller();
    const input = [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: 'plain string' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'as parts' }] },
      { role: 'assistant', content: 'said before' },
      { type: 'message', role: 'user', content: 'no id of its own', id: null },
    ];
    const p = await surface.parse({ model: 'm', input }, {}, c);
    const r = surface.encodeResponse(completion({ role: 'assistant', content: 'ok' }), { requestId: c.requestId, model: 'm', created: 1, native: false, request: p }, totals) as { id: string };
    type Page = { data: Array<Record<string, unknown>>; first_id: string | null; last_id: string | null; has_more: boolean };
    const all = (await surface.stored.inputItems(c.orgId, r.id, { order: 'asc' })) as Page;
    expect(all.data).toEqual([
      { id: expect.stringMatching(/^msg_/), type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Be brief.' }] },
      { id: expect.stringMatching(/^msg_/), type: 'message', role: 'user', content: [{ type: 'input_text', text: 'plain string' }] },
      { id: expect.stringMatching(/^msg_/), type: 'message', role: 'user', content: [{ type: 'input_text', text: 'as parts' }] },
      { id: expect.stringMatching(/^msg_/), type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'said before', annotations: [] }] },
      { id: expect.stringMatching(/^msg_/), type: 'message', role: 'user', content: [{ type: 'input_text', text: 'no id of its own' }] },
    ]);
    const ids = all.data.map((it) => it.id as string);
    expect(new Set(ids).size).toBe(5);
    expect(((await surface.stored.inputItems(c.orgId, r.id, { order: 'asc' })) as Page).data.map((it) => it.id)).toEqual(ids);
    const page1 = (await surface.stored.inputItems(c.orgId, r.id, { order: 'asc', limit: 2 })) as Page;
    expect(page1).toMatchObject({ first_id: ids[0], last_id: ids[1], has_more: true });
    const page2 = (await surface.stored.inputItems(c.orgId, r.id, { order: 'asc', limit: 2, after: page1.last_id })) as Page;
    expect(page2.data.map((it) => it.id)).toEqual(ids.slice(2, 4));
    const desc = (await surface.stored.inputItems(c.orgId, r.id, { after: ids[4], limit: 10 })) as Page;
    expect(desc).toMatchObject({ first_id: ids[3], last_id: ids[0], has_more: false });
  });

  it('gives input items kept without an id one derived from the response, the same on every call', async () => {
    const store = memoryStore();
    const surface = createResponsesSurface({ store, retentionDays: 2, log: { warn: () => undefined } });
    const item = { type: 'message', role: 'user', content: 'kept bare' };
    await store.putResponse({ id: 'resp_bare', org_id: 'org_a', key_id: 'key_1', model: 'm', previous_response_id: null, response: { id: 'resp_bare', object: 'response', output: [] }, input_items: [item, { ...item, content: 'second' }], context: [], created_at: 0, expires_at: Date.now() + 60_000 });
    type Page = { data: Array<{ id: string }> };
    const first = (await surface.stored.inputItems('org_a', 'resp_bare', { order: 'asc' })) as Page;
    const again = (await surface.stored.inputItems('org_a', 'resp_bare', { order: 'asc' })) as Page;
    expect(first.data.map((it) => it.id)).toEqual(again.data.map((it) => it.id));
    expect(first.data[0].id).toMatch(/^msg_/);
    expect(first.data[0].id).not.toBe(first.data[1].id);
    expect(((await surface.stored.inputItems('org_a', 'resp_bare', { after: first.data[1].id })) as Page).data.map((it) => it.id)).toEqual([first.data[0].id]);
  });

  it('passes an id it does not hold to a Responses upstream, which may hold it', async () => {
    const { surface } = setup();
    const p = await surface.parse({ model: 'm', input: 'x', previous_response_id: 'resp_upstream_1' }, {}, caller());
    expect(surface.checkModel(p, model(true))).toBeGreaterThan(0);
    expect(p.native).toMatchObject({ previous_response_id: 'resp_upstream_1', input: 'x' });
    expect(p.requiresNative?.refusal.code).toBe('not_found');
  });
});
