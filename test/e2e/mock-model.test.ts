// The mock model as docs/mock.md describes it, through the gateway: JSON that validates against
// a requested response_format, tool calls by a fixed rule (auto / required / none / a named
// tool, on every turn) with arguments valid against each tool's schema, and `n` choices.
import { Validator } from '@cfworker/json-schema';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseJson } from '../helpers/sse.js';

type Json = Record<string, unknown>;

/** Schemas of the shapes clients send: flat, nested, $defs and $ref, recursion, unions, tuples, formats, bounds. */
const SCHEMAS: Record<string, Json> = {
  flat: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      age: { type: 'integer', minimum: 18, maximum: 99 },
      score: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      active: { type: 'boolean' },
    },
    required: ['name', 'age', 'score', 'active'],
    additionalProperties: false,
  },
  nested: {
    type: 'object',
    properties: {
      tags: { type: 'array', items: { type: 'string', enum: ['red', 'green'] }, minItems: 2, maxItems: 3 },
      matrix: { type: 'array', items: { type: 'array', items: { type: 'integer', multipleOf: 5, minimum: 7 } } },
      address: {
        type: 'object',
        properties: { street: { type: 'string', minLength: 20 }, zip: { type: 'string', pattern: '^[0-9]+$', maxLength: 5 } },
        required: ['street', 'zip'],
        additionalProperties: false,
      },
    },
    required: ['tags', 'matrix', 'address'],
  },
  definitions: {
    $defs: {
      Item: {
        type: 'object',
        properties: { id: { type: 'string', format: 'uuid' }, note: { anyOf: [{ type: 'string' }, { type: 'null' }] }, when: { type: 'string', format: 'date-time' } },
        required: ['id', 'note', 'when'],
        additionalProperties: false,
      },
    },
    type: 'object',
    properties: { items: { type: 'array', items: { $ref: '#/$defs/Item' }, minItems: 1 }, kind: { const: 'list' }, contact: { type: 'string', format: 'email' } },
    required: ['items', 'kind', 'contact'],
  },
  recursive: {
    $defs: { Node: { type: 'object', properties: { value: { type: 'integer' }, children: { type: 'array', items: { $ref: '#/$defs/Node' } } }, required: ['value', 'children'] } },
    $ref: '#/$defs/Node',
  },
  combined: {
    type: 'object',
    allOf: [
      { properties: { a: { type: ['string', 'null'], maxLength: 3 } }, required: ['a'] },
      { properties: { b: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string', format: 'email' }], items: false } }, required: ['b'] },
    ],
  },
  discriminated: {
    type: 'object',
    properties: {
      shape: {
        oneOf: [
          { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number', minimum: 1 } }, required: ['kind', 'r'], additionalProperties: false },
          { type: 'object', properties: { kind: { const: 'square' }, side: { type: 'number' } }, required: ['kind', 'side'], additionalProperties: false },
        ],
      },
    },
    required: ['shape'],
  },
};

function expectValid(schema: Json, value: unknown): void {
  const result = new Validator(schema as never, '2020-12', false).validate(value);
  expect(result.errors, JSON.stringify(value)).toEqual([]);
  expect(result.valid).toBe(true);
}

const tool = (name: string, parameters: Json = SCHEMAS.flat) => ({ type: 'function', function: { name, description: `the ${name} tool`, parameters } });
const USER = (content: string) => ({ role: 'user', content });

let gw: TestGateway;
let key: string;

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(100);
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
});

async function complete(body: Json): Promise<{ choices: Array<{ index: number; message: Json; finish_reason: string }>; usage: { completion_tokens: number } }> {
  const res = await chat(gw.url, key, { model: 'mock-chat', ...body });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as never;
}

function toolCalls(message: Json): Array<{ id: string; function: { name: string; arguments: string } }> {
  return (message.tool_calls as never) ?? [];
}

describe('the mock answers response_format with JSON that validates', () => {
  it.each(Object.keys(SCHEMAS))('returns content valid against a json_schema (%s)', async (name) => {
    const schema = SCHEMAS[name];
    const out = await complete({ messages: [USER('Describe it.')], response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } } });
    expect(out.choices[0].finish_reason).toBe('stop');
    expectValid(schema, JSON.parse(out.choices[0].message.content as string));
  });

  it('streams the same valid JSON', async () => {
    const schema = SCHEMAS.definitions;
    const res = await chat(gw.url, key, { model: 'mock-chat', stream: true, messages: [USER('Describe it.')], response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
    const chunks = sseJson(await res.text()) as Array<{ choices: Array<{ delta: { content?: string } }> }>;
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expectValid(schema, JSON.parse(text));
  });

  it('returns a JSON object for json_object', async () => {
    const out = await complete({ messages: [USER('Reply in JSON.')], response_format: { type: 'json_object' } });
    const value = JSON.parse(out.choices[0].message.content as string);
    expect(typeof value).toBe('object');
    expect(Array.isArray(value)).toBe(false);
  });
});

describe('the mock calls tools by a fixed rule', () => {
  const afterToolResult = (name: string) => [
    USER('What is the weather?'),
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name, arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
  ];

  it.each(Object.keys(SCHEMAS))('under auto, calls a tool after a user message, with arguments valid against its schema (%s)', async (name) => {
    const out = await complete({ messages: [USER('Hello')], tools: [tool('lookup', SCHEMAS[name])] });
    expect(out.choices[0].finish_reason).toBe('tool_calls');
    const [call] = toolCalls(out.choices[0].message);
    expect(call.function.name).toBe('lookup');
    expectValid(SCHEMAS[name], JSON.parse(call.function.arguments));
  });

  it('under auto, answers in text right after a tool result', async () => {
    const out = await complete({ messages: afterToolResult('lookup'), tools: [tool('lookup')], tool_choice: 'auto' });
    expect(out.choices[0].finish_reason).toBe('stop');
    expect(out.choices[0].message.content).toBe('Tool result received: 18°C');
  });

  it('calls a tool on every turn under required, also right after a tool result', async () => {
    const out = await complete({ messages: afterToolResult('lookup'), tools: [tool('lookup')], tool_choice: 'required' });
    expect(out.choices[0].finish_reason).toBe('tool_calls');
    expect(toolCalls(out.choices[0].message)[0].function.name).toBe('lookup');
  });

  it('calls the named tool, also right after a tool result', async () => {
    const out = await complete({ messages: afterToolResult('lookup'), tools: [tool('lookup'), tool('other', SCHEMAS.nested)], tool_choice: { type: 'function', function: { name: 'other' } } });
    const calls = toolCalls(out.choices[0].message);
    expect(calls.map((c) => c.function.name)).toEqual(['other']);
    expectValid(SCHEMAS.nested, JSON.parse(calls[0].function.arguments));
  });

  it('never calls a tool under none', async () => {
    const out = await complete({ messages: [USER('echo: no tools today')], tools: [tool('lookup')], tool_choice: 'none' });
    expect(out.choices[0].finish_reason).toBe('stop');
    expect(out.choices[0].message.content).toBe('no tools today');
    expect(out.choices[0].message.tool_calls).toBeUndefined();
  });

  it('calls the tools the user message names, or only the first of them when parallel_tool_calls is false', async () => {
    const tools = [tool('get_time'), tool('get_weather'), tool('get_news')];
    const both = await complete({ messages: [USER('Use get_news and get_weather please')], tools });
    expect(toolCalls(both.choices[0].message).map((c) => c.function.name)).toEqual(['get_weather', 'get_news']);
    const one = await complete({ messages: [USER('Use get_news and get_weather please')], tools, parallel_tool_calls: false });
    expect(toolCalls(one.choices[0].message).map((c) => c.function.name)).toEqual(['get_weather']);
    const none = await complete({ messages: [USER('Anything')], tools });
    expect(toolCalls(none.choices[0].message).map((c) => c.function.name)).toEqual(['get_time']);
  });

  it('streams a tool call whose arguments, put together, validate', async () => {
    const res = await chat(gw.url, key, { model: 'mock-chat', stream: true, messages: [USER('Hi')], tools: [tool('lookup', SCHEMAS.definitions)], tool_choice: 'required' });
    const chunks = sseJson(await res.text()) as Array<{ choices: Array<{ delta: { tool_calls?: Array<{ function?: { arguments?: string } }> }; finish_reason: string | null }> }>;
    const args = chunks.map((c) => c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '').join('');
    expectValid(SCHEMAS.definitions, JSON.parse(args));
    expect(chunks.some((c) => c.choices[0]?.finish_reason === 'tool_calls')).toBe(true);
  });

  it('refuses a named tool that is not among the tools with 400', async () => {
    const res = await chat(gw.url, key, { model: 'mock-chat', messages: [USER('Hi')], tools: [tool('lookup')], tool_choice: { type: 'function', function: { name: 'missing' } } });
    expect(res.status).toBe(400);
  });
});

describe('the mock honours n', () => {
  it('returns n different choices and bills the completion tokens of all of them', async () => {
    const out = await complete({ messages: [USER('Tell me something.')], n: 3 });
    expect(out.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const texts = out.choices.map((c) => c.message.content as string);
    expect(new Set(texts).size).toBe(3);
    expect(out.usage.completion_tokens).toBe(texts.reduce((sum, t) => sum + encode(t).length, 0));
  });

  it('gives each of n choices its own valid tool call', async () => {
    const out = await complete({ messages: [USER('Hi')], n: 2, tools: [tool('lookup', SCHEMAS.flat)] });
    expect(out.choices).toHaveLength(2);
    for (const c of out.choices) expectValid(SCHEMAS.flat, JSON.parse(toolCalls(c.message)[0].function.arguments));
    expect(toolCalls(out.choices[0].message)[0].id).not.toBe(toolCalls(out.choices[1].message)[0].id);
  });

  it('streams every choice with its index and finish reason', async () => {
    const res = await chat(gw.url, key, { model: 'mock-chat', stream: true, n: 2, messages: [USER('Tell me something.')] });
    const chunks = sseJson(await res.text()) as Array<{ choices: Array<{ index: number; delta: { content?: string }; finish_reason: string | null }> }>;
    const text = new Map<number, string>();
    const finished = new Set<number>();
    for (const c of chunks) {
      for (const ch of c.choices) {
        text.set(ch.index, (text.get(ch.index) ?? '') + (ch.delta.content ?? ''));
        if (ch.finish_reason) finished.add(ch.index);
      }
    }
    expect([...finished].sort()).toEqual([0, 1]);
    expect(text.get(0)).not.toBe(text.get(1));
    expect(text.get(1)?.length).toBeGreaterThan(0);
  });
});
