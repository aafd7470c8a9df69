// POST /v1/images/generations: validation of the OpenAI Images body and the price of one image
// by size and quality (models[].pricing.per_image). Routing and billing reuse the engine's stages.
import { usdToMicros } from '../billing/money.js';
import type { ModelConfig } from '../config/schema.js';
import { GatewayError } from './errors.js';

const IMAGE_PARAMS = new Set([
  'model',
  'prompt',
  'n',
  'size',
  'quality',
  'response_format',
  'style',
  'user',
  'background',
  'moderation',
  'output_format',
  'output_compression',
]);
const MAX_IMAGES = 10;
const MAX_PROMPT_CHARS = 32_000;
/** OpenAI's default size, used when a request names none. */
export const DEFAULT_IMAGE_SIZE = '1024x1024';
/** The quality a request without one gets, in order of preference among the priced ones. */
const DEFAULT_QUALITIES = ['standard', 'auto', 'medium'];

export interface ImagesRequest {
  model: string;
  prompt: string;
  n?: number;
  size?: string;
  quality?: string;
  response_format?: 'url' | 'b64_json';
  [k: string]: unknown;
}

const invalid = (param: string, message: string) => new GatewayError('invalid_value', message, { param });

export function validateImagesRequest(body: unknown): ImagesRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('invalid_json', 'The request body must be a JSON object with "model" and "prompt".');
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!IMAGE_PARAMS.has(k)) throw new GatewayError('unknown_parameter', `Unknown parameter "${k}" for /v1/images/generations.`, { param: k });
  if (b.model === undefined || b.model === null) throw new GatewayError('missing_required_parameter', 'Missing required parameter "model".', { param: 'model' });
  if (typeof b.model !== 'string' || b.model === '') throw invalid('model', '"model" must be a non-empty string.');
  if (b.prompt === undefined || b.prompt === null) throw new GatewayError('missing_required_parameter', 'Missing required parameter "prompt".', { param: 'prompt' });
  if (typeof b.prompt !== 'string' || b.prompt.trim() === '' || b.prompt.length > MAX_PROMPT_CHARS) {
    throw invalid('prompt', `"prompt" must be a non-empty string of at most ${MAX_PROMPT_CHARS} characters.`);
  }
  if (b.n !== undefined && b.n !== null && (!Number.isInteger(b.n) || (b.n as number) < 1 || (b.n as number) > MAX_IMAGES)) {
    throw invalid('n', `"n" must be an integer from 1 to ${MAX_IMAGES}.`);
  }
  for (const k of ['size', 'quality', 'style', 'user', 'background', 'moderation', 'output_format'] as const) {
    if (b[k] !== undefined && b[k] !== null && (typeof b[k] !== 'string' || b[k] === '' || (b[k] as string).length > 64)) throw invalid(k, `"${k}" must be a short non-empty string.`);
  }
  if (b.response_format !== undefined && b.response_format !== null && b.response_format !== 'url' && b.response_format !== 'b64_json') {
    throw invalid('response_format', '"response_format" must be "url" or "b64_json".');
  }
  if (b.output_compression !== undefined && b.output_compression !== null && (!Number.isInteger(b.output_compression) || (b.output_compression as number) < 0 || (b.output_compression as number) > 100)) {
    throw invalid('output_compression', '"output_compression" must be an integer from 0 to 100.');
  }
  return b as ImagesRequest;
}

/** How many images the request asks for. */
export function imageCount(req: ImagesRequest): number {
  return typeof req.n === 'number' ? req.n : 1;
}

/**
 * The price of one image of this request in micro-USD, or undefined when the model has no
 * per-image price (it is then billed by tokens). A size or quality the price list lacks is a 400.
 */
export function perImageMicros(model: ModelConfig, req: ImagesRequest): number | undefined {
  const price = model.pricing.per_image;
  if (price === undefined) return undefined;
  if (typeof price === 'number') return usdToMicros(price);
  const size = req.size ?? DEFAULT_IMAGE_SIZE;
  const bySize = Object.hasOwn(price, size) ? price[size] : undefined;
  if (bySize === undefined) {
    throw invalid('size', `"${model.id}" has no price for size "${size}"${req.size === undefined ? ' (the default)' : ''}. Priced sizes: ${Object.keys(price).join(', ')}.`);
  }
  if (typeof bySize === 'number') return usdToMicros(bySize);
  const quality = req.quality ?? DEFAULT_QUALITIES.find((q) => Object.hasOwn(bySize, q));
  if (quality === undefined || !Object.hasOwn(bySize, quality)) {
    throw invalid('quality', `"${model.id}" has no price for quality "${quality ?? '(unset)'}" at size "${size}". Priced qualities: ${Object.keys(bySize).join(', ')}.`);
  }
  return usdToMicros(bySize[quality]);
}
