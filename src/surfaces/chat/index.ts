// The Chat Completions surface (SPEC §3): the canonical form itself, so parsing is validation,
// the native lane is any OpenAI-compatible provider, and encoding is nearly the identity.
// It must not hold routing, billing or HTTP logic: those are the engine's and the transport's.
import { costUsd } from '../../core/answer-cost.js';
import type { GatewayError } from '../../core/errors.js';
import type { ChatCompletion } from '../../core/types.js';
import { requestedOutputTokens, validateChatRequest, validateForModel } from '../../core/validate.js';
import type { ModelRuntime } from '../../routing/channels.js';
import type { AnswerInfo, AnswerTotals, ParsedRequest, Surface } from '../types.js';
import { chatStreamEncoder } from './encode-stream.js';

function parse(body: unknown): ParsedRequest {
  const req = validateChatRequest(body);
  return {
    canonical: req,
    native: req,
    forwardHeaders: {},
    facts: {
      model: req.model,
      fallbacks: req.models ?? [],
      stream: req.stream === true,
      maxOutputTokens: requestedOutputTokens(req),
      n: typeof req.n === 'number' ? req.n : 1,
      relayUsageFrames: req.stream_options?.include_usage === true,
    },
  };
}

/** Canonical-only fields never reach a Chat Completions client; usage carries the request's cost. */
function encodeResponse(c: ChatCompletion, info: AnswerInfo, totals: AnswerTotals): ChatCompletion {
  c.model = info.model;
  for (const ch of c.choices) {
    const m = ch.message;
    if (m && (m.reasoning_signature !== undefined || m.reasoning_redacted !== undefined)) {
      delete m.reasoning_signature;
      delete m.reasoning_redacted;
    }
  }
  // In place, not in a copy: the answer is serialised at once, and a cache that keeps this
  // completion sets its own cost (none) on every hit. A spread copy of the parsed answer,
  // made once per request, was the largest item the request thread moved to its old generation.
  if (c.usage) c.usage.cost = costUsd(totals.costMicros);
  return c;
}

export const chatSurface: Surface = {
  id: 'chat',
  parse,
  checkModel: (req: ParsedRequest, model: ModelRuntime) => validateForModel(req.canonical, model.config, model.supported),
  encodeResponse,
  streamEncoder: chatStreamEncoder,
  errorBody: (err: GatewayError) => err.toEnvelope(),
};
