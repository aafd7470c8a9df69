// Real client libraries against the mock model through Tollgate: structured output with
// LangChain (`withStructuredOutput`) and the Vercel AI SDK (`generateObject`, `Output.object`),
// and multi-step tool runs of the AI SDK under `auto`, `required` and a named tool.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, Output, stepCountIs, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** A schema with the features structured-output users reach for: nesting, enums, arrays, optional, nullable, bounds, formats. */
const Recipe = z.object({
  title: z.string().min(3),
  servings: z.number().int().min(1).max(12),
  difficulty: z.enum(['easy', 'medium', 'hard']),
  ingredients: z.array(z.object({ name: z.string(), grams: z.number().positive() })).min(1),
  notes: z.string().nullable(),
  source: z.string().url().optional(),
  author: z.object({ email: z.string().email(), since: z.string().datetime() }),
});

let gw: TestGateway;
let key: string;
let provider: ReturnType<typeof createOpenAICompatible>;

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(100);
  key = (await gw.createKey(org.mk)).key;
  provider = createOpenAICompatible({ name: 'tollgate', baseURL: `${gw.url}/v1`, apiKey: key, includeUsage: true, supportsStructuredOutputs: true });
});

afterAll(async () => {
  await gw?.close();
});

const langchain = () => new ChatOpenAI({ model: 'mock-chat', apiKey: key, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0, timeout: 5000 });

describe('structured output with LangChain withStructuredOutput', () => {
  it.each(['jsonSchema', 'functionCalling'] as const)('returns an object that parses with the zod schema (method %s)', async (method) => {
    const recipe = await langchain().withStructuredOutput(Recipe, { name: 'recipe', method }).invoke('Give me a recipe.');
    expect(Recipe.parse(recipe)).toEqual(recipe);
  });
});

describe('structured output with the Vercel AI SDK', () => {
  it('generateObject returns an object valid against the schema', async () => {
    const { object, finishReason } = await generateObject({ model: provider('mock-chat'), schema: Recipe, prompt: 'Give me a recipe.', maxRetries: 0 });
    expect(finishReason).toBe('stop');
    expect(Recipe.parse(object)).toEqual(object);
  });

  it('generateText with Output.object returns an object valid against the schema', async () => {
    const { output } = await generateText({ model: provider('mock-chat'), output: Output.object({ schema: Recipe }), prompt: 'Give me a recipe.', maxRetries: 0 });
    expect(Recipe.parse(output)).toEqual(output);
  });
});

describe('multi-step tool runs with the Vercel AI SDK', () => {
  const calls: Array<{ city: string; unit: string }> = [];
  const weather = tool({
    description: 'Current weather for a city',
    inputSchema: z.object({ city: z.string().min(1), unit: z.enum(['celsius', 'fahrenheit']) }),
    execute: async (input) => {
      calls.push(input);
      return { temperature: 18, unit: input.unit };
    },
  });

  it('under auto: calls the tool, then answers the tool result in text', async () => {
    calls.length = 0;
    const result = await generateText({ model: provider('mock-chat'), tools: { weather }, stopWhen: stepCountIs(5), prompt: 'What is the weather in Paris?', maxRetries: 0 });
    expect(result.steps.map((s) => s.finishReason)).toEqual(['tool-calls', 'stop']);
    expect(calls).toHaveLength(1);
    expect(result.text).toContain('Tool result received');
  });

  it('under required: calls a tool on every step without a ToolChoiceViolationError', async () => {
    calls.length = 0;
    const result = await generateText({ model: provider('mock-chat'), tools: { weather }, toolChoice: 'required', stopWhen: stepCountIs(3), prompt: 'What is the weather?', maxRetries: 0 });
    expect(result.steps).toHaveLength(3);
    for (const step of result.steps) expect(step.toolCalls.map((c) => c.toolName)).toEqual(['weather']);
    expect(calls).toHaveLength(3);
  });

  it('with a named tool: calls that tool on every step', async () => {
    const clock = tool({ description: 'The time', inputSchema: z.object({ zone: z.string() }), execute: async () => '12:00' });
    const result = await generateText({
      model: provider('mock-chat'),
      tools: { weather, clock },
      toolChoice: { type: 'tool', toolName: 'clock' },
      stopWhen: stepCountIs(2),
      prompt: 'Tell me the weather.',
      maxRetries: 0,
    });
    expect(result.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName))).toEqual(['clock', 'clock']);
  });

  it('streams a multi-step run under required', async () => {
    calls.length = 0;
    const result = streamText({ model: provider('mock-chat'), tools: { weather }, toolChoice: 'required', stopWhen: stepCountIs(2), prompt: 'Weather?', maxRetries: 0 });
    const steps = await result.steps;
    expect(steps).toHaveLength(2);
    expect(calls).toHaveLength(2);
  });
});
