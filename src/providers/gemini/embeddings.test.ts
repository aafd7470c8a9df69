import { describe, expect, it } from 'vitest';
import { modelSchema, providerSchema } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import type { AdapterContext } from '../types.js';
import { createGeminiAdapter, type GeminiAdapter } from './adapter.js';
import { encodeEmbeddingBase64 } from './embeddings.js';

const adapter = createGeminiAdapter(providerSchema.parse({ id: 'g', type: 'gemini', api_key: 'k' })) as GeminiAdapter;
const ctx: AdapterContext = {
  provider: providerSchema.parse({ id: 'g', type: 'gemini', api_key: 'k' }),
  model: modelSchema.parse({ id: 'public-embed', kind: 'embedding', channels: [{ provider: 'g', upstream_model: 'gemini-embedding-001' }] }),
  upstreamModel: 'gemini-embedding-001',
  stream: false,
  requestId: 'req-1',
};

describe('Gemini embeddings: request', () => {
  it('sends one string to embedContent with outputDimensionality', () => {
    const req = adapter.embeddingsRequest!({ model: 'public-embed', input: 'hello', dimensions: 256 }, ctx);
    expect(req.method).toBe('POST');
    expect(req.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:embedContent');
    expect(req.headers['x-goog-api-key']).toBe('k');
    expect(JSON.parse(req.body!)).toEqual({ content: { parts: [{ text: 'hello' }] }, outputDimensionality: 256 });
  });

  it('sends a list to batchEmbedContents, each entry naming the model', () => {
    const req = adapter.embeddingsRequest!({ model: 'public-embed', input: ['a', 'b'] }, ctx);
    expect(req.url).toMatch(/models\/gemini-embedding-001:batchEmbedContents$/);
    expect(JSON.parse(req.body!)).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] } },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'b' }] } },
      ],
    });
  });

  it.each([
    ['token ids', [1, 2, 3]],
    ['lists of token ids', [[1, 2]]],
    ['an empty list', []],
  ])('rejects %s as invalid_value on input', (_name, input) => {
    let err: unknown;
    try {
      adapter.embeddingsRequest!({ model: 'public-embed', input: input as number[] }, ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('invalid_value');
    expect((err as GatewayError).param).toBe('input');
  });
});

describe('Gemini embeddings: response', () => {
  it('reads embedContent and batchEmbedContents answers into the OpenAI list shape with the public model', () => {
    const single = adapter.embeddingsResponse!('{"embedding":{"values":[0.1,0.2]}}', ctx);
    expect(single).toEqual({
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
      model: 'public-embed',
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
    const batch = adapter.embeddingsResponse!('{"embeddings":[{"values":[1]},{"values":[2]}]}', ctx);
    expect(batch.data.map((d) => [d.index, d.embedding])).toEqual([
      [0, [1]],
      [1, [2]],
    ]);
  });

  it.each(['nope', '{}', '{"embedding":{}}', '{"embeddings":[{"values":["x"]}]}'])('turns the malformed body %s into 502 provider_error', (body) => {
    expect(() => adapter.embeddingsResponse!(body, ctx)).toThrow(GatewayError);
  });

  it('reports zero usage, which the engine reads as "not reported" and replaces with its estimate', () => {
    expect(adapter.embeddingsResponse!('{"embedding":{"values":[1]}}', ctx).usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
  });

  it('applies encoding_format base64 as OpenAI encodes it (float32 little-endian), and only when asked', () => {
    const resp = adapter.embeddingsResponse!('{"embeddings":[{"values":[1.5,-2]},{"values":[0.25]}]}', ctx);
    const req = { model: 'public-embed', input: ['hello world', 'bye'], encoding_format: 'base64' as const };
    const done = adapter.completeEmbeddings(resp, req);
    const first = Buffer.from(done.data[0].embedding as string, 'base64');
    expect([first.readFloatLE(0), first.readFloatLE(4)]).toEqual([1.5, -2]);
    expect(done.data[1].embedding).toBe(Buffer.from(new Float32Array([0.25]).buffer).toString('base64'));
    expect(adapter.completeEmbeddings(done, req)).toEqual(done);
    expect(adapter.completeEmbeddings(resp, { ...req, encoding_format: 'float' }).data[0].embedding).toEqual([1.5, -2]);
    expect(encodeEmbeddingBase64([1])).toBe(Buffer.from(new Float32Array([1]).buffer).toString('base64'));
  });
});
