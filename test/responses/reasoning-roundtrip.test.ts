// Reasoning across turns on the translated lane: Anthropic's signed thinking and redacted
// thinking come back to a Responses client sealed in `encrypted_content` (or to a Messages
// client as thinking blocks), return in the canonical form on the next turn, and reach
// Anthropic again as `thinking` / `redacted_thinking` blocks. An OpenAI-compatible upstream
// never sees the canonical-only fields, and another provider's encrypted reasoning never
// reaches Anthropic.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { ChatMessage, ChatRequest } from '../../src/core/types.js';
import { createAdapter } from '../../src/providers/registry.js';
import type { AdapterContext } from '../../src/providers/types.js';
import { messagesSurface } from '../../src/surfaces/messages/index.js';
import { createResponsesSurface } from '../../src/surfaces/responses/index.js';
import type { AnswerTotals, ParsedRequest } from '../../src/surfaces/types.js';

type Json = Record<string, unknown>;

const cfg = configSchema.parse({
  providers: [
    { id: 'ant', type: 'anthropic', api_key: 'sk-ant-x' },
    { id: 'compat', type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-compat' },
  ],
  models: [
    { id: 'claude', channels: [{ provider: 'ant', upstream_model: 'claude-up' }] },
    { id: 'compat-model', channels: [{ provider: 'compat', upstream_model: 'compat-up' }] },
  ],
});
const anthropic = createAdapter(cfg.providers[0]);
const compat = createAdapter(cfg.providers[1]);
const ctx = (i: number, upstreamModel: string): AdapterContext => ({ provider: cfg.providers[i], model: cfg.models[i], upstreamModel, stream: false, requestId: 'r' });
const toAnthropic = (req: ChatRequest): Json => JSON.parse(anthropic.chatRequest(req, ctx(0, 'claude-up')).body ?? '{}') as Json;
const toCompat = (req: ChatRequest): string => compat.chatRequest(req, ctx(1, 'compat-up')).body ?? '';

/** An Anthropic answer that thought (signed), had part of its thinking redacted, then called a tool. */
const ANTHROPIC_ANSWER = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-up',
  content: [
    { type: 'thinking', thinking: 'The user wants the weather; call the tool.', signature: 'sig-EqQBCkYIBx' },
    { type: 'redacted_thinking', data: 'redacted-EmwKAhgB' },
    { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
  ],
  stop_reason: 'tool_use',
  usage: { input_tokens: 30, output_tokens: 20 },
});

const totals: AnswerTotals = { usage: { prompt: 30, completion: 20, cacheRead: 0, cacheWrite: 0, reasoning: 0 }, estimated: false, costMicros: 0 };
const WEATHER = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

function assistantOf(messages: ChatMessage[]): ChatMessage {
  const a = messages.find((m) => m.role === 'assistant');
  if (!a) throw new Error('no assistant message');
  return a;
}

describe('Responses (store: false) → Anthropic: thinking survives the round trip', () => {
  it('hands the signed and redacted thinking back to Anthropic as thinking blocks ahead of the tool call', async () => {
    const surface = createResponsesSurface({ store: { putResponse: async () => {}, getResponse: async () => undefined, deleteResponse: async () => false }, retentionDays: 1, log: { warn: () => {} } });
    const caller = { orgId: 'o', keyId: 'k', requestId: 'r1' };
    const input = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await surface.parse({ model: 'claude', input, tools: [WEATHER], store: false, include: ['reasoning.encrypted_content'] }, {}, caller);
    const completion = anthropic.chatResponse(ANTHROPIC_ANSWER, ctx(0, 'claude-up'));
    const answer = surface.encodeResponse(completion, { requestId: 'r1', model: 'claude', created: 1, native: false, request: first }, totals) as { output: Json[] };
    // The client sees only an opaque envelope, never Anthropic's signature in clear.
    const reasoning = answer.output.find((o) => o.type === 'reasoning');
    expect(typeof reasoning?.encrypted_content).toBe('string');
    expect(JSON.stringify(answer.output)).not.toContain('sig-EqQBCkYIBx');
    const call = answer.output.find((o) => o.type === 'function_call') as Json;

    const next = await surface.parse(
      { model: 'claude', tools: [WEATHER], store: false, input: [...input, ...answer.output, { type: 'function_call_output', call_id: call.call_id, output: '18°C' }] },
      {},
      { ...caller, requestId: 'r2' },
    );
    const body = toAnthropic(next.canonical);
    const turns = body.messages as Array<{ role: string; content: Json[] }>;
    expect(turns.map((t) => t.role)).toEqual(['user', 'assistant', 'user']);
    expect(turns[1].content).toEqual([
      { type: 'thinking', thinking: 'The user wants the weather; call the tool.', signature: 'sig-EqQBCkYIBx' },
      { type: 'redacted_thinking', data: 'redacted-EmwKAhgB' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(turns[2].content[0]).toMatchObject({ type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' });

    // The same conversation sent to an OpenAI-compatible server carries none of it.
    const sent = toCompat(next.canonical);
    expect(sent).not.toContain('reasoning_signature');
    expect(sent).not.toContain('reasoning_redacted');
    expect(sent).not.toContain('sig-EqQBCkYIBx');
    expect(sent).not.toContain('redacted-EmwKAhgB');
    expect((JSON.parse(sent) as { messages: Json[] }).messages[1]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'toolu_1' }] });
  });

  it('leaves out reasoning Anthropic cannot verify: another provider\'s encrypted content, thinking without a signature', async () => {
    const surface = createResponsesSurface({ store: { putResponse: async () => {}, getResponse: async () => undefined, deleteResponse: async () => false }, retentionDays: 1, log: { warn: () => {} } });
    const p = await surface.parse(
      {
        model: 'claude',
        store: false,
        input: [
          { role: 'user', content: 'Hi' },
          { type: 'reasoning', id: 'rs_up', summary: [{ type: 'summary_text', text: 'Greeting.' }], encrypted_content: 'gAAAAB-openai-blob' },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello!' }] },
          { role: 'user', content: 'Again?' },
        ],
      },
      {},
      { orgId: 'o', keyId: 'k', requestId: 'r3' },
    );
    const a = assistantOf(p.canonical.messages);
    expect(a.reasoning_redacted).toBeUndefined();
    expect(a.reasoning_signature).toBeUndefined();
    const body = toAnthropic(p.canonical);
    expect(JSON.stringify(body)).not.toContain('gAAAAB-openai-blob');
    expect((body.messages as Array<{ content: Json[] }>)[1].content).toEqual([{ type: 'text', text: 'Hello!' }]);
  });
});

describe('Messages thinking blocks → canonical → Anthropic', () => {
  it('sends a Messages client\'s thinking and redacted thinking back as they came', () => {
    const parsed = messagesSurface.parse(
      {
        model: 'claude',
        max_tokens: 100,
        messages: [
          { role: 'user', content: 'Hi' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'Say hello.', signature: 'sig-msg-1' },
              { type: 'redacted_thinking', data: 'redacted-msg-1' },
              { type: 'text', text: 'Hello.' },
            ],
          },
          { role: 'user', content: 'Again' },
        ],
      },
      { 'anthropic-version': '2023-06-01' },
      { orgId: 'o', keyId: 'k', requestId: 'r4' },
    ) as ParsedRequest;
    const body = toAnthropic(parsed.canonical);
    expect((body.messages as Array<{ content: Json[] }>)[1].content).toEqual([
      { type: 'thinking', thinking: 'Say hello.', signature: 'sig-msg-1' },
      { type: 'redacted_thinking', data: 'redacted-msg-1' },
      { type: 'text', text: 'Hello.' },
    ]);
    expect(toCompat(parsed.canonical)).not.toMatch(/sig-msg-1|redacted-msg-1/);
  });
});
