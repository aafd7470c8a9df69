// OpenAI embeddings ⇄ Gemini embedContent / batchEmbedContents. Gemini reports no token
// usage for embeddings and cannot return base64; see translateEmbeddingsResponse and completeEmbeddings.
import { GatewayError } from '../../core/errors.js';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import type { AdapterContext } from '../types.js';
import { PROVIDER_NAME } from './response.js';

export interface GeminiEmbedContentRequest {
  model?: string;
  content: { parts: Array<{ text: string }> };
  outputDimensionality?: number;
}

export interface GeminiEmbeddingsCall {
  method: 'embedContent' | 'batchEmbedContents';
  body: GeminiEmbedContentRequest | { requests: GeminiEmbedContentRequest[] };
}

function textInputs(req: EmbeddingsRequest): string[] | string {
  const input = req.input;
  if (typeof input === 'string') return input;
  if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) return input as string[];
  if (Array.isArray(input) && input.length === 0) {
    throw new GatewayError('invalid_value', '`input` must not be empty.', { param: 'input' });
  }
  throw new GatewayError('invalid_value', '`input` must be a string or an array of strings for this model: Gemini embeds text, not token ids.', {
    param: 'input',
  });
}

function embedRequest(text: string, dimensions: number | undefined, model?: string): GeminiEmbedContentRequest {
  const r: GeminiEmbedContentRequest = model ? { model, content: { parts: [{ text }] } } : { content: { parts: [{ text }] } };
  if (dimensions !== undefined) r.outputDimensionality = dimensions;
  return r;
}

/** One string uses embedContent; a list uses batchEmbedContents, whose entries must each name the model. */
export function translateEmbeddingsRequest(req: EmbeddingsRequest, upstreamModel: string): GeminiEmbeddingsCall {
  const inputs = textInputs(req);
  if (typeof inputs === 'string') return { method: 'embedContent', body: embedRequest(inputs, req.dimensions ?? undefined) };
  const model = `models/${upstreamModel.replace(/^models\//, '')}`;
  return { method: 'batchEmbedContents', body: { requests: inputs.map((text) => embedRequest(text, req.dimensions ?? undefined, model)) } };
}

function vectorOf(e: unknown): number[] {
  const values = (e as { values?: unknown } | null)?.values;
  if (!Array.isArray(values) || !values.every((v) => typeof v === 'number')) {
    throw malformedUpstream(PROVIDER_NAME, 'an embedding has no numeric "values"');
  }
  return values as number[];
}

export function translateEmbeddingsResponse(body: string, ctx: AdapterContext): EmbeddingsResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformedUpstream(PROVIDER_NAME, 'the embeddings body is not JSON');
  }
  const obj = (parsed ?? {}) as { embedding?: unknown; embeddings?: unknown };
  let vectors: number[][];
  if (Array.isArray(obj.embeddings)) vectors = obj.embeddings.map(vectorOf);
  else if (obj.embedding !== undefined) vectors = [vectorOf(obj.embedding)];
  else throw malformedUpstream(PROVIDER_NAME, 'the body has neither "embedding" nor "embeddings"');
  return {
    object: 'list',
    data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model: ctx.model.id,
    // Zero reads as "not reported": the engine bills its own estimate of the input, marked estimated.
    usage: { prompt_tokens: 0, total_tokens: 0 },
  };
}

/** OpenAI's base64 format: the float32 little-endian bytes of the vector. */
export function encodeEmbeddingBase64(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i], i * 4);
  return bytes.toString('base64');
}

/** Applies `encoding_format: base64`, which Gemini cannot do itself; vectors already encoded are left alone. */
export function completeEmbeddings(resp: EmbeddingsResponse, req: EmbeddingsRequest): EmbeddingsResponse {
  if (req.encoding_format !== 'base64') return resp;
  return { ...resp, data: resp.data.map((d) => ({ ...d, embedding: Array.isArray(d.embedding) ? encodeEmbeddingBase64(d.embedding) : d.embedding })) };
}
