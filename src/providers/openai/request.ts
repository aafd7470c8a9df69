// OpenAI-compatible request building: the body passes through almost untouched; only the
// model name, Tollgate's own fields and the usage request for streams change.
import { acceptsExtraParameter } from '../../core/extra-parameters.js';
import type { ChatMessage, ChatRequest, EmbeddingsRequest } from '../../core/types.js';
import { ALL_CHAT_PARAMETERS } from '../../core/validate.js';
import type { AdapterContext } from '../types.js';

/** Tollgate-only fields that must never reach an upstream. */
const GATEWAY_FIELDS = new Set(['models', 'tollgate']);
const CHAT_PARAMETERS = new Set(['model', 'messages', ...ALL_CHAT_PARAMETERS]);

/**
 * Messages as an OpenAI-compatible server may see them: the signature and redacted reasoning
 * another provider returned (kept in the canonical form for Anthropic) never leave Tollgate.
 * The array is copied only when a message carries them.
 */
function withoutCanonicalFields(messages: ChatMessage[]): ChatMessage[] {
  if (!messages.some(hasCanonicalFields)) return messages;
  return messages.map((m) => {
    if (!hasCanonicalFields(m)) return m;
    const { reasoning_signature: _signature, reasoning_redacted: _redacted, ...rest } = m;
    return rest as ChatMessage;
  });
}

const hasCanonicalFields = (m: ChatMessage) => m.reasoning_signature !== undefined || m.reasoning_redacted !== undefined;

export function toOpenAIChatBody(req: ChatRequest, ctx: AdapterContext): string {
  const out: Record<string, unknown> = {};
  const extras = ctx.model.extra_parameters;
  for (const key in req) {
    if (GATEWAY_FIELDS.has(key)) continue;
    if (key === 'messages') {
      out.messages = withoutCanonicalFields(req.messages);
      continue;
    }
    // A provider-specific field goes only to a model that declares it (a fallback may not).
    if (!CHAT_PARAMETERS.has(key) && !acceptsExtraParameter(extras, key)) continue;
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
