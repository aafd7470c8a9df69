// The fake Gemini API is only useful while it speaks the real protocol: the official
// @google/genai client is pointed at it, and so is Tollgate's gemini adapter.
import { ApiError, FunctionCallingConfigMode, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelSchema, providerSchema } from '../../src/config/schema.js';
import { createGeminiAdapter } from '../../src/providers/gemini/adapter.js';
import type { AdapterContext, StreamPiece, UpstreamRequest } from '../../src/providers/types.js';
import { type FakeGemini, startFakeGemini } from './gemini-upstream.js';

const KEY = 'fake-gemini-key';
let fake: FakeGemini;
let ai: GoogleGenAI;

beforeAll(async () => {
  fake = await startFakeGemini({ apiKey: KEY });
  ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: fake.url } });
});
afterAll(async () => {
  await fake.close();
});

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the SDK to throw an ApiError');
}

describe('fake Gemini through the official @google/genai client', () => {
  it('answers generateContent with echo text, usage and the SDK’s URL and key header', async () => {
    const res = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello there', config: { systemInstruction: 'Be kind.' } });
    expect(res.text).toBe('You said: Hello there');
    expect(res.candidates?.[0].finishReason).toBe('STOP');
    expect(res.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    expect(res.usageMetadata?.totalTokenCount).toBe((res.usageMetadata?.promptTokenCount ?? 0) + (res.usageMetadata?.candidatesTokenCount ?? 0));
    const seen = fake.requests.at(-1)!;
    expect(seen.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(seen.headers['x-goog-api-key']).toBe(KEY);
  });

  it('streams generateContentStream as several SSE chunks with full usage on the last', async () => {
    const stream = await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'count one two three four' });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.text).join('')).toBe('You said: count one two three four');
    const last = chunks.at(-1)!;
    expect(last.candidates?.[0].finishReason).toBe('STOP');
    expect(last.usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
    expect(fake.requests.at(-1)!.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('calls a declared function when the mode is ANY', async () => {
    const res = await ai.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'What is the weather in Oslo?',
      config: {
        tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: { type: 'object', properties: { city: { type: 'string' } } } }] }],
        toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } },
      },
    });
    expect(res.functionCalls).toEqual([{ name: 'get_weather', args: { city: 'test' } }]);
  });

  it('truncates at maxOutputTokens with MAX_TOKENS and cuts at stop sequences', async () => {
    const long = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'a b c d e f g h i j k l m n o p', config: { maxOutputTokens: 3 } });
    expect(long.candidates?.[0].finishReason).toBe('MAX_TOKENS');
    expect(long.usageMetadata?.candidatesTokenCount).toBe(3);
    const stopped = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'alpha STOP beta', config: { stopSequences: ['STOP'] } });
    expect(stopped.text).toBe('You said: alpha ');
  });

  it('embeds text deterministically with unit-length vectors of the asked size', async () => {
    const a = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['hello', 'world'], config: { outputDimensionality: 8 } });
    const b = await ai.models.embedContent({ model: 'gemini-embedding-001', contents: ['hello'], config: { outputDimensionality: 8 } });
    expect(a.embeddings).toHaveLength(2);
    const [hello, world] = a.embeddings!.map((e) => e.values!);
    expect(hello).toHaveLength(8);
    expect(Math.hypot(...hello)).toBeCloseTo(1, 6);
    expect(b.embeddings![0].values).toEqual(hello);
    expect(world).not.toEqual(hello);
  });

  it('lists models', async () => {
    const pager = await ai.models.list();
    const names = [];
    for await (const m of pager) names.push(m.name);
    expect(names).toContain('models/gemini-2.5-flash');
  });

  it('surfaces a scripted 429 as the SDK’s ApiError', async () => {
    fake.script({ kind: 'error', status: 429, googleStatus: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded', retryDelayS: 7 });
    const err = await rejection(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }));
    expect(err.status).toBe(429);
    expect(err.message).toContain('RESOURCE_EXHAUSTED');
  });

  it('surfaces a mid-stream error payload as the SDK’s ApiError', async () => {
    fake.script({ kind: 'stream-error', afterChunks: 1, status: 503, googleStatus: 'UNAVAILABLE', message: 'The model is overloaded.' });
    const stream = await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'one two three four five six' });
    const err = await rejection(
      (async () => {
        for await (const _ of stream) {
          // drain
        }
      })(),
    );
    expect(err.status).toBe(503);
  });

  it('refuses a wrong key the way Google does (400 API_KEY_INVALID) and a missing one with 403', async () => {
    const wrong = new GoogleGenAI({ apiKey: 'nope', httpOptions: { baseUrl: fake.url } });
    const err = await rejection(wrong.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }));
    expect(err.status).toBe(400);
    expect(err.message).toContain('API_KEY_INVALID');
    const missing = await fetch(`${fake.baseUrl}/models`);
    expect(missing.status).toBe(403);
    expect(((await missing.json()) as { error: { status: string } }).error.status).toBe('PERMISSION_DENIED');
  });

  it('refuses a replayed Gemini 3 function call without its thought signature, as the real API does', async () => {
    const res = await fetch(`${fake.baseUrl}/models/gemini-3-flash-preview:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        contents: [
          { role: 'user', parts: [{ text: 'weather?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: {} } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { t: 1 } } }] },
        ],
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('thought_signature');
  });

  it('refuses unknown request fields as the real API does', async () => {
    const res = await fetch(`${fake.baseUrl}/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], generationConfig: { max_tokens: 5 } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('Unknown name "max_tokens"');
  });
});

describe('fake Gemini through Tollgate’s gemini adapter', () => {
  const provider = () => providerSchema.parse({ id: 'g', type: 'gemini', base_url: fake.baseUrl, api_key: KEY });
  const ctx = (stream: boolean, upstreamModel: string): AdapterContext => ({
    provider: provider(),
    model: modelSchema.parse({ id: 'public-gemini', channels: [{ provider: 'g', upstream_model: upstreamModel }] }),
    upstreamModel,
    stream,
    requestId: 'req-1',
  });
  const send = (r: UpstreamRequest) => fetch(r.url, { method: r.method, headers: r.headers, body: r.body });

  it('round-trips a tool call and its result on a Gemini 3 model, keeping the thought signature', async () => {
    const adapter = createGeminiAdapter(provider());
    const c = ctx(false, 'gemini-3-flash-preview');
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const first = { model: 'public-gemini', messages: [{ role: 'user' as const, content: 'Please use the tool for Oslo' }], tools };
    const res1 = await send(adapter.chatRequest(first, c));
    expect(res1.status).toBe(200);
    const completion1 = adapter.chatResponse(await res1.text(), c);
    const call = completion1.choices[0].message.tool_calls![0];
    expect(completion1.choices[0].finish_reason).toBe('tool_calls');
    const second = {
      ...first,
      messages: [...first.messages, completion1.choices[0].message, { role: 'tool' as const, tool_call_id: call.id, content: '{"temp":3}' }],
    };
    const res2 = await send(adapter.chatRequest(second, c));
    expect(res2.status).toBe(200);
    expect(adapter.chatResponse(await res2.text(), c).choices[0].message.content).toBe('The tool returned: {"temp":3}');
  });

  it('streams through the translator to the same text and usage as non-stream', async () => {
    const adapter = createGeminiAdapter(provider());
    const req = { model: 'public-gemini', messages: [{ role: 'user' as const, content: 'stream me a few words please' }] };
    const plain = adapter.chatResponse(await (await send(adapter.chatRequest(req, ctx(false, 'gemini-2.5-flash')))).text(), ctx(false, 'gemini-2.5-flash'));
    const res = await send(adapter.chatRequest({ ...req, stream: true }, ctx(true, 'gemini-2.5-flash')));
    const t = adapter.streamTranslator(ctx(true, 'gemini-2.5-flash'));
    const pieces: StreamPiece[] = [];
    for await (const chunk of res.body!) pieces.push(...t.push(chunk));
    pieces.push(...t.end());
    const text = pieces.filter((p) => p.content).map((p) => p.text).join('');
    expect(text).toBe(plain.choices[0].message.content);
    expect(pieces.at(-1)).toMatchObject({ done: true, usage: plain.usage });
  });

  it('maps the fake’s errors and truncated streams like real ones', async () => {
    const adapter = createGeminiAdapter(provider());
    fake.script({ kind: 'error', status: 503, googleStatus: 'UNAVAILABLE', message: 'The model is overloaded.' });
    const res = await send(adapter.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }, ctx(false, 'gemini-2.5-flash')));
    const err = adapter.mapError(res.status, await res.text(), {});
    expect([err.status, err.code, err.retryable]).toEqual([502, 'provider_error', true]);

    for (const framing of ['raw', 'sse'] as const) {
      fake.script({ kind: 'stream-error', afterChunks: 1, status: 429, googleStatus: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded', framing });
      const res = await send(adapter.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'one two three four' }], stream: true }, ctx(true, 'gemini-2.5-flash')));
      const t = adapter.streamTranslator(ctx(true, 'gemini-2.5-flash'));
      const pieces: StreamPiece[] = [];
      for await (const chunk of res.body!) pieces.push(...t.push(chunk));
      pieces.push(...t.end());
      expect(pieces.some((p) => p.content)).toBe(true);
      expect(pieces.at(-1)?.error?.message).toContain('Quota exceeded');
    }

    fake.script({ kind: 'truncate', afterChunks: 1 });
    const streamed = await send(adapter.chatRequest({ model: 'x', messages: [{ role: 'user', content: 'one two three four' }], stream: true }, ctx(true, 'gemini-2.5-flash')));
    const t = adapter.streamTranslator(ctx(true, 'gemini-2.5-flash'));
    const pieces: StreamPiece[] = [];
    for await (const chunk of streamed.body!) pieces.push(...t.push(chunk));
    pieces.push(...t.end());
    expect(pieces.at(-1)?.error?.message).toContain('ended early');
  });

  it('embeds through the adapter', async () => {
    const adapter = createGeminiAdapter(provider());
    const c = ctx(false, 'gemini-embedding-001');
    const res = await send(adapter.embeddingsRequest!({ model: 'e', input: ['a', 'b'], dimensions: 4 }, c));
    const out = adapter.embeddingsResponse!(await res.text(), c);
    expect(out.data.map((d) => (d.embedding as number[]).length)).toEqual([4, 4]);
  });
});
