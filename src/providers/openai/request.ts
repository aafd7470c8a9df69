// OpenAI-compatible request building: the body passes through almost untouched; only the
// model name, Tollgate's own fields and the usage request for streams change.
import type { ChatRequest, EmbeddingsRequest } from '../../core/types.js';
import type { AdapterContext } from '../types.js';

/** Tollgate-only fields that must never reach an upstream. */
const GATEWAY_FIELDS = new Set(['models']);

export function toOpenAIChatBody(req: ChatRequest, ctx: AdapterContext): string {
  const out: Record<string, unknown> = {};
  for (const key in req) {
    if (GATEWAY_FIELDS.has(key)) continue;
    out[key] = req[key];
  }
  out.model = ctx.upstreamModel;
  if (req.stream) {
    // Usage is always needed for billing, whether or not the client asked for it.
    out.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
  } else {
    delete out.stream_options;
  }
  return JSON.stringify(out);
}

export function toOpenAIEmbeddingsBody(req: EmbeddingsRequest, ctx: AdapterContext): string {
  return JSON.stringify({ ...req, model: ctx.upstreamModel });
}
