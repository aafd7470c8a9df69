// POST /v1/embeddings: validation of the OpenAI Embeddings body and a token estimate for
// reservations. Routing and billing reuse the chat engine's stages.
import { GatewayError } from './errors.js';
import { countTextTokens } from './tokens.js';
import type { EmbeddingsRequest } from './types.js';

const EMBEDDING_PARAMS = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user']);
const MAX_INPUTS = 2048;

export function validateEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('invalid_json', 'The request body must be a JSON object with "model" and "input".');
  }
  const b = body as Record<string, unknown>;
  if (b.model === undefined || b.model === null) throw new GatewayError('missing_required_parameter', 'Missing required parameter "model".', { param: 'model' });
  if (b.input === undefined || b.input === null) throw new GatewayError('missing_required_parameter', 'Missing required parameter "input".', { param: 'input' });
  for (const k of Object.keys(b)) if (!EMBEDDING_PARAMS.has(k)) throw new GatewayError('unknown_parameter', `Unknown parameter "${k}".`, { param: k });
  if (typeof b.model !== 'string' || b.model === '') throw new GatewayError('invalid_value', '"model" must be a non-empty string.', { param: 'model' });
  const input = b.input;
  const ok =
    (typeof input === 'string' && input.length > 0) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      input.length <= MAX_INPUTS &&
      (input.every((x) => typeof x === 'string' && x.length > 0) ||
        input.every((x) => Number.isInteger(x)) ||
        input.every((x) => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t)))));
  if (!ok) throw new GatewayError('invalid_value', `"input" must be a non-empty string, an array of up to ${MAX_INPUTS} non-empty strings, or token arrays.`, { param: 'input' });
  if (b.encoding_format !== undefined && b.encoding_format !== 'float' && b.encoding_format !== 'base64') {
    throw new GatewayError('invalid_value', '"encoding_format" must be "float" or "base64".', { param: 'encoding_format' });
  }
  if (b.dimensions !== undefined && (!Number.isInteger(b.dimensions) || (b.dimensions as number) < 1)) {
    throw new GatewayError('invalid_value', '"dimensions" must be a positive integer.', { param: 'dimensions' });
  }
  if (b.user !== undefined && typeof b.user !== 'string') throw new GatewayError('invalid_value', '"user" must be a string.', { param: 'user' });
  return b as unknown as EmbeddingsRequest;
}

export function estimateEmbeddingTokens(req: EmbeddingsRequest): number {
  const input = req.input;
  if (typeof input === 'string') return countTextTokens(input);
  let total = 0;
  for (const x of input) total += typeof x === 'string' ? countTextTokens(x) : Array.isArray(x) ? x.length : 1;
  return total;
}
