// The Anthropic Messages surface (POST /v1/messages): parse and validate, the request's facts,
// conversion to the canonical request, and Messages-shaped answers, streams and errors.
// It never routes, bills or talks to an upstream; the engine does, for every surface alike.
import type { CanonicalExtensions } from '../../core/canonical.js';
import { GatewayError } from '../../core/errors.js';
import type { ModelRuntime } from '../../routing/channels.js';
import type { ParsedRequest, Surface } from '../types.js';
import { boundMessagesTokens, estimateMessagesTokens } from './count-tokens.js';
import { encodeMessagesResponse } from './encode-response.js';
import { messagesStreamEncoder } from './encode-stream.js';
import { messagesErrorBody, messagesErrorStatus } from './errors.js';
import { isMessagesParsed, parseMessagesRequest } from './parse.js';
import { isObj, type Json } from './validate.js';

/** Messages fields → the Chat parameter name a model's supported_parameters lists. */
const PARAMETER_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['temperature', 'temperature'],
  ['top_p', 'top_p'],
  ['stop_sequences', 'stop'],
  ['tools', 'tools'],
  ['tool_choice', 'tool_choice'],
];

/** True when some channel of the model speaks the Messages protocol itself (the native lane). */
export function servesMessagesNatively(model: ModelRuntime): boolean {
  return model.channels.some((ch) => ch.adapter.native?.messages !== undefined);
}

/** Thinking budgets in OpenAI's effort levels: Anthropic's minimum budget is 1024, its usual ones 4k–32k. */
function effortForBudget(budget: number): 'low' | 'medium' | 'high' {
  if (budget < 4096) return 'low';
  if (budget < 16384) return 'medium';
  return 'high';
}

/**
 * The documented thinking rule for models without an Anthropic channel: a model whose
 * configured supported_parameters list `reasoning_effort` receives Messages thinking as
 * `reasoning_effort` (its adapter maps that to the provider's own control); other models
 * answer at their default, since an unknown reasoning field would make many upstreams refuse.
 */
function applyReasoningEffort(req: ParsedRequest, model: ModelRuntime): void {
  const c = req.canonical;
  const reasoning = (c.tollgate as CanonicalExtensions | undefined)?.reasoning;
  if (!reasoning || c.reasoning_effort !== undefined || !model.config.supported_parameters?.includes('reasoning_effort')) return;
  const effort = reasoning.effort ?? (reasoning.budget_tokens !== undefined ? effortForBudget(reasoning.budget_tokens) : undefined);
  if (effort !== undefined) c.reasoning_effort = effort;
}

function checkMessagesModel(req: ParsedRequest, model: ModelRuntime): number {
  const body = (req.native ?? {}) as Json;
  const id = model.config.id;
  const native = servesMessagesNatively(model);
  if (!native && isMessagesParsed(req) && req.untranslatable.length > 0) {
    const first = req.untranslatable[0];
    throw new GatewayError(
      'unsupported_parameter',
      `Model "${id}" is not served by Anthropic, and ${first} exists only in Anthropic's API${req.untranslatable.length > 1 ? ` (${req.untranslatable.length - 1} more like it)` : ''}. Remove it or use a Claude model.`,
      { param: first.split(' ')[0] },
    );
  }
  const supported = model.supported;
  if (supported) {
    for (const [field, param] of PARAMETER_NAMES) {
      const v = body[field];
      if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
      if (!supported.includes(param)) throw new GatewayError('unsupported_parameter', `Model "${id}" does not support the parameter "${field}". Supported: ${supported.join(', ')}.`, { param: field });
    }
  }
  const out = req.facts.maxOutputTokens;
  const max = model.config.max_output_tokens;
  if (typeof body.max_tokens === 'number' && body.max_tokens > max) {
    throw new GatewayError(
      'invalid_value',
      `"max_tokens" is ${body.max_tokens}, above the ${max}-token output limit of "${id}". Use at most ${max} (Claude Code: set CLAUDE_CODE_MAX_OUTPUT_TOKENS=${max}).`,
      { param: 'max_tokens' },
    );
  }
  const thinking = isObj(body.thinking) ? body.thinking.budget_tokens : undefined;
  if (typeof thinking === 'number' && thinking > max) {
    throw new GatewayError('invalid_value', `"thinking.budget_tokens" is ${thinking}, above the ${max}-token output limit of "${id}". Use at most ${max}.`, { param: 'thinking.budget_tokens' });
  }
  if (!native) applyReasoningEffort(req, model);
  const prompt = estimateMessagesTokens(body);
  if (prompt + (out ?? 0) > model.config.context_window) {
    throw new GatewayError(
      'context_exceeded',
      `This request needs about ${prompt} prompt tokens${out ? ` + ${out} output tokens` : ''}, more than the ${model.config.context_window}-token context window of "${id}". Shorten the messages${out ? ' or lower max_tokens' : ''}.`,
      { param: 'messages' },
    );
  }
  // The reservation (and TPM) hold a true upper bound; the estimate above only judges the context window.
  return Math.max(prompt, boundMessagesTokens(body));
}

export const messagesSurface: Surface = {
  id: 'messages',
  parse: (body, headers) => parseMessagesRequest(body, headers),
  checkModel: checkMessagesModel,
  encodeResponse: encodeMessagesResponse,
  streamEncoder: messagesStreamEncoder,
  errorBody: messagesErrorBody,
  errorStatus: messagesErrorStatus,
};

/** The same surface for POST /v1/messages/count_tokens, whose body carries no max_tokens. */
export const messagesCountTokensSurface: Surface = { ...messagesSurface, parse: (body, headers) => parseMessagesRequest(body, headers, true) };

export { countMessagesTokens, countTokensAnswer, estimateMessagesTokens } from './count-tokens.js';
export { messagesErrorBody, messagesErrorStatus } from './errors.js';
export { forwardHeadersOf, toCanonical } from './parse.js';
