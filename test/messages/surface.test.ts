// The Messages surface on its own: validation with Tollgate's codes, conversion of every
// block type to the canonical request, the message object, the SSE sequence and the error shape.
import { describe, expect, it } from 'vitest';
import { usageObject, type StreamEvent, type TokenUsage } from '../../src/core/canonical.js';
import { GatewayError } from '../../src/core/errors.js';
import type { ChatCompletion } from '../../src/core/types.js';
import type { ModelRuntime } from '../../src/routing/channels.js';
import { countMessagesTokens, messagesCountTokensSurface, messagesErrorStatus, messagesSurface } from '../../src/surfaces/messages/index.js';
import type { AnswerInfo, ParsedRequest } from '../../src/surfaces/types.js';

const caller = { orgId: 'org', keyId: 'key', requestId: 'req_1' };
const HEADERS = { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14', 'x-api-key': 'sk-tg-secret' };
const PNG = 'iVBORw0KGgo=';

function parse(body: unknown, headers: Record<string, string> = HEADERS): ParsedRequest {
  return messagesSurface.parse(body, headers, caller) as ParsedRequest;
}

function parseError(body: unknown): GatewayError {
  try {
    parse(body);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

const base = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] };

/** A document whose source is a list of blocks (Anthropic's custom-content document). */
function contentDoc(content: unknown, title?: string): Record<string, unknown> {
  return { type: 'document', source: { type: 'content', content }, ...(title === undefined ? {} : { title }) };
}

function runtime(over: { native?: boolean; max_output_tokens?: number; context_window?: number; supported?: string[]; configured?: string[] } = {}): ModelRuntime {
  const adapter = { native: over.native ? { messages: {} } : undefined };
  return {
    config: { id: 'm', context_window: over.context_window ?? 200000, max_output_tokens: over.max_output_tokens ?? 64000, supported_parameters: over.configured },
    channels: [{ adapter }],
    supported: over.supported,
  } as unknown as ModelRuntime;
}

const info: AnswerInfo = { requestId: 'req_1', model: 'claude-sonnet-4.5', created: 1, native: false, request: parse(base) };
const usage: TokenUsage = { prompt: 1000, completion: 50, cacheRead: 800, cacheWrite: 100, reasoning: 10 };

describe('POST /v1/messages validation (400 with Tollgate codes, before any upstream call)', () => {
  it.each([
    ['a body that is not an object', [], 'invalid_json', null],
    ['no model', { max_tokens: 1, messages: base.messages }, 'missing_required_parameter', 'model'],
    ['no messages', { model: 'm', max_tokens: 1 }, 'missing_required_parameter', 'messages'],
    ['no max_tokens', { model: 'm', messages: base.messages }, 'missing_required_parameter', 'max_tokens'],
    ['max_tokens of 0', { ...base, max_tokens: 0 }, 'invalid_value', 'max_tokens'],
    ['temperature above 1', { ...base, temperature: 1.5 }, 'invalid_value', 'temperature'],
    ['top_p below 0', { ...base, top_p: -0.1 }, 'invalid_value', 'top_p'],
    ['a fractional top_k', { ...base, top_k: 2.5 }, 'invalid_value', 'top_k'],
    ['stop_sequences that are not strings', { ...base, stop_sequences: [1] }, 'invalid_value', 'stop_sequences'],
    ['an empty messages array', { ...base, messages: [] }, 'invalid_messages', 'messages'],
    ['an unknown role', { ...base, messages: [{ role: 'tool', content: 'x' }] }, 'invalid_messages', 'messages[0].role'],
    ['a system message with an image', { ...base, messages: [{ role: 'system', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] }, 'invalid_messages', 'messages[0].content[0]'],
    ['a message without content', { ...base, messages: [{ role: 'user' }] }, 'invalid_messages', 'messages[0].content'],
    ['a text block without text', { ...base, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, 'invalid_messages', 'messages[0].content[0].text'],
    ['an image of an unknown media type', { ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'x' } }] }] }, 'invalid_messages', 'messages[0].content[0].source.media_type'],
    ['a content document holding a tool_use', { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'See:' }, contentDoc([{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }, { type: 'tool_use', id: 't', name: 'n', input: {} }])] }] }, 'invalid_messages', 'messages[0].content[1].source.content[2].type'],
    ['a content document holding a document', { ...base, messages: [{ role: 'user', content: [contentDoc([{ type: 'document', source: { type: 'text', data: 'x' } }])] }] }, 'invalid_messages', 'messages[0].content[0].source.content[0].type'],
    ['a content document holding a text block without text', { ...base, messages: [{ role: 'user', content: [contentDoc([{ type: 'text', text: 'a' }, { type: 'text' }])] }] }, 'invalid_messages', 'messages[0].content[0].source.content[1].text'],
    ['a content document holding an image without a source', { ...base, messages: [{ role: 'user', content: [contentDoc([{ type: 'image' }])] }] }, 'invalid_messages', 'messages[0].content[0].source.content[0].source'],
    ['a content document holding an image of an unknown media type', { ...base, messages: [{ role: 'user', content: [contentDoc([{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'x' } }])] }] }, 'invalid_messages', 'messages[0].content[0].source.content[0].source.media_type'],
    ['a content document holding a block that is not an object', { ...base, messages: [{ role: 'user', content: [contentDoc(['text'])] }] }, 'invalid_messages', 'messages[0].content[0].source.content[0]'],
    ['a content document whose content is an object', { ...base, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'content', content: { type: 'text', text: 'x' } } }] }] }, 'invalid_messages', 'messages[0].content[0].source.content'],
    ['a content document inside a tool result holding a thinking block', { ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [contentDoc([{ type: 'thinking', thinking: 'x', signature: 's' }])] }] }] }, 'invalid_messages', 'messages[0].content[0].content[0].source.content[0].type'],
    ['an image whose source is a content list', { ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'content', content: [] } }] }] }, 'invalid_messages', 'messages[0].content[0].source.type'],
    ['a tool_use in a user turn', { ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] }] }, 'invalid_messages', 'messages[0].content[0]'],
    ['a tool_result without tool_use_id', { ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }] }, 'invalid_messages', 'messages[0].content[0].tool_use_id'],
    ['a thinking block without its signature', { ...base, messages: [{ role: 'assistant', content: [{ type: 'thinking', thinking: 'x' }] }] }, 'invalid_messages', 'messages[0].content[0].signature'],
    ['a custom tool without input_schema', { ...base, tools: [{ name: 'x' }] }, 'invalid_value', 'tools[0].input_schema'],
    ['an unknown tool_choice', { ...base, tool_choice: { type: 'sometimes' } }, 'invalid_value', 'tool_choice'],
    ['thinking enabled without a budget', { ...base, thinking: { type: 'enabled' } }, 'invalid_value', 'thinking.budget_tokens'],
    ['a system block that is not text', { ...base, system: [{ type: 'image', source: {} }] }, 'invalid_value', 'system[0]'],
    ['an unknown service_tier', { ...base, service_tier: 'gold' }, 'invalid_value', 'service_tier'],
    ['a base_url field', { ...base, base_url: 'http://evil.example' }, 'unknown_parameter', 'base_url'],
  ])('refuses %s', (_name, body, code, param) => {
    const err = parseError(body);
    expect(err.code).toBe(code);
    expect(err.status).toBe(400);
    expect(err.param).toBe(param);
    expect(err.message.length).toBeGreaterThan(10);
  });

  it('accepts fields it does not know (for the native lane) and leaves them out of the canonical request', () => {
    const p = parse({ ...base, context_management: { edits: [] }, container: 'c1', speed: 'fast' });
    expect(p.native).toMatchObject({ context_management: { edits: [] }, container: 'c1', speed: 'fast' });
    expect(p.canonical).not.toHaveProperty('context_management');
    expect(p.canonical).not.toHaveProperty('container');
  });
});

describe('count_tokens bodies', () => {
  it('take no max_tokens, and are otherwise validated like a Messages request', () => {
    const p = messagesCountTokensSurface.parse({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] }, HEADERS, caller) as ParsedRequest;
    expect(p.canonical.messages).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(() => messagesCountTokensSurface.parse({ model: 'm', messages: [] }, HEADERS, caller)).toThrow(expect.objectContaining({ code: 'invalid_messages' }));
  });

  it('count images, documents and tools in the prompt', () => {
    const text = countMessagesTokens({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] });
    const image = countMessagesTokens({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] });
    const tools = countMessagesTokens({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] });
    expect(image - text).toBe(1600);
    expect(tools).toBeGreaterThan(text);
  });
});

describe('request facts', () => {
  it('states the model, stream flag and output cap, and forwards only the anthropic-version and anthropic-beta headers', () => {
    const p = parse({ ...base, stream: true, max_tokens: 32000 });
    expect(p.facts).toEqual({ model: 'claude-sonnet-4-5', fallbacks: [], stream: true, maxOutputTokens: 32000, n: 1, relayUsageFrames: true });
    expect(p.forwardHeaders).toEqual({ 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14' });
  });

  it('counts a thinking budget larger than max_tokens (interleaved thinking) as the output cap', () => {
    expect(parse({ ...base, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 20000 } }).facts.maxOutputTokens).toBe(20000);
    expect(parse({ ...base, max_tokens: 32000, thinking: { type: 'enabled', budget_tokens: 10000 } }).facts.maxOutputTokens).toBe(32000);
  });
});

describe('conversion to the canonical request', () => {
  const full = {
    model: 'claude-sonnet-4-5',
    max_tokens: 2000,
    system: [
      { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Answer in English.' },
    ],
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Plain doc' }, title: 'Doc' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Let me think.', signature: 'sig-1' },
          { type: 'redacted_thinking', data: 'opaque' },
          { type: 'text', text: 'Calling a tool.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }], is_error: false },
          { type: 'text', text: 'And tomorrow?', cache_control: { type: 'ephemeral' } },
        ],
      },
    ],
    tools: [
      { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      { type: 'web_search_20250305', name: 'web_search' },
    ],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    thinking: { type: 'enabled', budget_tokens: 1024 },
    stop_sequences: ['END'],
    temperature: 0.5,
    top_p: 0.9,
    top_k: 40,
    metadata: { user_id: 'u-1' },
    service_tier: 'auto',
  };

  it('carries every translatable field and block in Chat Completions shape', () => {
    const c = parse(full).canonical;
    expect(c.messages).toEqual([
      { role: 'system', content: 'You are terse.\n\nAnswer in English.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          { type: 'text', text: 'Doc\n\nPlain doc' },
        ],
      },
      {
        role: 'assistant',
        content: 'Calling a tool.',
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        reasoning_content: 'Let me think.',
        reasoning_signature: 'sig-1',
        reasoning_redacted: ['opaque'],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    expect(c).toMatchObject({
      model: 'claude-sonnet-4-5',
      max_tokens: 2000,
      temperature: 0.5,
      top_p: 0.9,
      stop: ['END'],
      user: 'u-1',
      tool_choice: 'required',
      parallel_tool_calls: false,
      tollgate: { surface: 'messages', reasoning: { budget_tokens: 1024 }, top_k: 40 },
    });
    // Anthropic's own server tools mean nothing to another provider's model.
    expect(c.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: full.tools[0].input_schema } }]);
  });

  it('carries a content document as its text and images, whether its content is a string or blocks', () => {
    const c = parse({
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            contentDoc('Short note', 'Note'),
            contentDoc([
              { type: 'text', text: 'Page one', cache_control: { type: 'ephemeral' } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/fig.png' } },
            ]),
          ],
        },
      ],
    }).canonical;
    expect(c.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Note\n\nShort note' },
          { type: 'text', text: 'Page one' },
          { type: 'image_url', image_url: { url: 'https://example.com/fig.png' } },
        ],
      },
    ]);
  });

  it('keeps a system message inside messages in its place', () => {
    const c = parse({ ...base, messages: [{ role: 'user', content: 'Hi' }, { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] }, { role: 'user', content: 'Go' }] }).canonical;
    expect(c.messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Go' },
    ]);
  });

  it('marks a failed tool result so the model knows the call failed', () => {
    const c = parse({
      ...base,
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'boom', is_error: true }] },
      ],
    }).canonical;
    expect(c.messages[1]).toEqual({ role: 'tool', tool_call_id: 't1', content: 'Error: boom' });
  });

  it('maps a named tool choice and output_config effort', () => {
    const c = parse({ ...base, tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'f' }, output_config: { effort: 'max' } }).canonical;
    expect(c.tool_choice).toEqual({ type: 'function', function: { name: 'f' } });
    expect(c.tollgate).toMatchObject({ reasoning: { effort: 'xhigh' } });
  });
});

describe('checkModel', () => {
  it('refuses content only Anthropic understands when the model has no Anthropic channel, and lets the native lane have it', () => {
    const p = parse({ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] }] });
    expect(() => messagesSurface.checkModel(p, runtime())).toThrow(expect.objectContaining({ code: 'unsupported_parameter', param: 'messages[0].content[0]' }));
    expect(messagesSurface.checkModel(p, runtime({ native: true }))).toBeGreaterThan(0);
  });

  it('refuses max_tokens above the model limit with a hint for Claude Code', () => {
    const p = parse({ ...base, max_tokens: 32000 });
    expect(() => messagesSurface.checkModel(p, runtime({ max_output_tokens: 4096 }))).toThrow(/CLAUDE_CODE_MAX_OUTPUT_TOKENS=4096/);
  });

  it('refuses a prompt that cannot fit the context window', () => {
    const p = parse({ ...base, messages: [{ role: 'user', content: 'word '.repeat(5000) }] });
    expect(() => messagesSurface.checkModel(p, runtime({ context_window: 1000, max_output_tokens: 500 }))).toThrow(expect.objectContaining({ code: 'context_exceeded' }));
  });

  it('refuses a parameter the model does not support, by its Messages name', () => {
    const p = parse({ ...base, stop_sequences: ['x'] });
    expect(() => messagesSurface.checkModel(p, runtime({ supported: ['temperature'] }))).toThrow(expect.objectContaining({ code: 'unsupported_parameter', param: 'stop_sequences' }));
  });

  it.each([
    [{ type: 'enabled', budget_tokens: 1024 }, undefined, 'low'],
    [{ type: 'enabled', budget_tokens: 8000 }, undefined, 'medium'],
    [{ type: 'enabled', budget_tokens: 31999 }, undefined, 'high'],
    [{ type: 'adaptive' }, { effort: 'low' }, 'low'],
  ])('gives thinking %j (output_config %j) as reasoning_effort %s to a model configured with reasoning_effort', (thinking, output_config, effort) => {
    const p = parse({ ...base, max_tokens: 32000, thinking, ...(output_config ? { output_config } : {}) });
    messagesSurface.checkModel(p, runtime({ configured: ['reasoning_effort', 'max_tokens'] }));
    expect(p.canonical.reasoning_effort).toBe(effort);
  });

  it('gives no reasoning_effort to a model that does not list it, or to an Anthropic model (which gets thinking itself)', () => {
    const plain = parse({ ...base, thinking: { type: 'enabled', budget_tokens: 2000 } });
    messagesSurface.checkModel(plain, runtime());
    expect(plain.canonical.reasoning_effort).toBeUndefined();
    const claude = parse({ ...base, thinking: { type: 'enabled', budget_tokens: 2000 } });
    messagesSurface.checkModel(claude, runtime({ native: true, configured: ['reasoning_effort'] }));
    expect(claude.canonical.reasoning_effort).toBeUndefined();
  });

  it('returns a prompt estimate that grows with the prompt', () => {
    const small = messagesSurface.checkModel(parse(base), runtime());
    const big = messagesSurface.checkModel(parse({ ...base, messages: [{ role: 'user', content: 'many words here '.repeat(100) }] }), runtime());
    expect(big).toBeGreaterThan(small + 100);
  });
});

describe('the message object (translated lane and cache hits)', () => {
  it('encodes thinking, text and tool calls as content blocks with Anthropic stop reason and usage', () => {
    const completion: ChatCompletion = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'x',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'Let me check.',
            reasoning_content: 'Thinking…',
            reasoning_signature: 'sig',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
        },
      ],
      usage: usageObject(usage),
    };
    const msg = messagesSurface.encodeResponse(completion, info, { usage, estimated: false, costMicros: 1234 });
    expect(msg).toEqual({
      id: 'msg_req_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4.5',
      content: [
        { type: 'thinking', thinking: 'Thinking…', signature: 'sig' },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: 50, cache_creation_input_tokens: 100, cache_read_input_tokens: 800, cost: 0.001234 },
    });
  });

  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['content_filter', 'refusal'],
  ] as const)('maps finish_reason %s to stop_reason %s', (finish, stop) => {
    const c: ChatCompletion = { id: 'x', object: 'chat.completion', created: 1, model: 'x', choices: [{ index: 0, finish_reason: finish, message: { role: 'assistant', content: 'a' } }] };
    expect(messagesSurface.encodeResponse(c, info, { usage, estimated: false, costMicros: 0 })).toMatchObject({ stop_reason: stop });
  });
});

interface Frame {
  event: string;
  data: Record<string, unknown>;
}

function frames(text: string): Frame[] {
  return text
    .split('\n\n')
    .filter((f) => f !== '')
    .map((f) => {
      const [ev, data] = f.split('\n');
      expect(ev.startsWith('event: ')).toBe(true);
      expect(data.startsWith('data: ')).toBe(true);
      const parsed = JSON.parse(data.slice(6)) as Record<string, unknown>;
      expect(parsed.type).toBe(ev.slice(7));
      return { event: ev.slice(7), data: parsed };
    });
}

describe('the SSE sequence (translated lane)', () => {
  it('writes message_start, ping, thinking with its signature, text, a streamed tool call, message_delta with usage and message_stop', () => {
    const enc = messagesSurface.streamEncoder(info, parse(base).facts);
    const evs: StreamEvent[] = [
      { type: 'start', choice: 0, id: 'up-1' },
      { type: 'reasoning', choice: 0, text: 'Hmm' },
      { type: 'reasoning', choice: 0, text: '…' },
      { type: 'reasoning_signature', choice: 0, signature: 'sig' },
      { type: 'text', choice: 0, text: 'Hello' },
      { type: 'text', choice: 0, text: ' "world"' },
      { type: 'tool_start', choice: 0, index: 0, id: 'call_1', name: 'get_weather' },
      { type: 'tool_args', choice: 0, index: 0, args: '{"city":' },
      { type: 'tool_args', choice: 0, index: 0, args: '"Paris"}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
    ];
    let out = enc.events(evs.slice(0, 4));
    out += enc.events(evs.slice(4));
    out += enc.end({ usage, estimated: false, costMicros: 2000 });
    const f = frames(out);
    expect(f.map((x) => x.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(f[0].data.message).toMatchObject({ id: 'msg_req_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4.5', content: [], stop_reason: null });
    expect(f[2].data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } });
    expect(f[5].data).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } });
    expect(f[9].data).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: ' "world"' } });
    expect(f[11].data).toEqual({ type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} } });
    expect(f[13].data).toEqual({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } });
    expect(f[15].data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 100, output_tokens: 50, cache_creation_input_tokens: 100, cache_read_input_tokens: 800, cost: 0.002 },
    });
  });

  it('still writes a whole message when the upstream produced nothing', () => {
    const enc = messagesSurface.streamEncoder(info, parse(base).facts);
    expect(enc.events([])).toBe('');
    const f = frames(enc.end({ usage, estimated: true, costMicros: 0 }));
    expect(f.map((x) => x.event)).toEqual(['message_start', 'ping', 'message_delta', 'message_stop']);
  });

  it('adds nothing of its own in the native lane but error frames', () => {
    const enc = messagesSurface.streamEncoder({ ...info, native: true }, parse(base).facts);
    expect(enc.events([{ type: 'text', choice: 0, text: 'x' }])).toBe('');
    expect(enc.end({ usage, estimated: false, costMicros: 0 })).toBe('');
    const f = frames(enc.error(new GatewayError('timeout', 'The upstream went quiet.')));
    expect(f).toEqual([{ event: 'error', data: { type: 'error', error: { type: 'timeout_error', message: 'The upstream went quiet.', code: 'timeout' } } }]);
  });
});

describe('errors in Anthropic shape', () => {
  it.each([
    ['invalid_value', 400, 'invalid_request_error'],
    ['invalid_api_key', 401, 'authentication_error'],
    ['insufficient_balance', 402, 'billing_error'],
    ['model_not_allowed', 403, 'permission_error'],
    ['model_not_found', 404, 'not_found_error'],
    ['payload_too_large', 413, 'request_too_large'],
    ['rpm_exceeded', 429, 'rate_limit_error'],
    ['internal_error', 500, 'api_error'],
    ['provider_error', 502, 'api_error'],
    ['model_unavailable', 529, 'overloaded_error'],
    ['overloaded', 529, 'overloaded_error'],
  ] as const)('%s becomes status %i with type %s, keeping Tollgate\'s code', (code, status, type) => {
    const err = new GatewayError(code, 'Something went wrong; do this.', { param: 'model' });
    expect(messagesErrorStatus(err)).toBe(status);
    expect(messagesSurface.errorBody(err)).toEqual({ type: 'error', error: { type, message: 'Something went wrong; do this.', code, param: 'model' } });
  });
});
