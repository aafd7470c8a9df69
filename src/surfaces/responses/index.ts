// The OpenAI Responses API as a surface: parse (with stored conversations), model checks,
// the response object, stream events and OpenAI's error envelope. It must not route, bill or
// call upstreams: the engine does that for every surface.
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../core/errors.js';
import { estimatePromptTokens, promptTokenBound } from '../../core/tokens.js';
import type { ChatCompletion, ChatMessage } from '../../core/types.js';
import type { ModelRuntime } from '../../routing/channels.js';
import type { AnswerInfo, AnswerTotals, Caller, InboundHeaders, NativeBody, ParsedRequest, RequestFacts, StreamEncoder, Surface } from '../types.js';
import { outputItems } from './encode-response.js';
import { NativeResponsesStreamEncoder, ResponsesStreamEncoder, withResponseId } from './encode-stream.js';
import { parseResponsesBody, type ResponsesParsed } from './parse.js';
import { clientOutput, finalResponse, outputText } from './response-object.js';
import { type ResponsesStore, StoredResponses } from './stored.js';
import type { ResponseObject, ResponseRequestInfo } from './types.js';

export { StoredResponses, type ResponsesStore } from './stored.js';

export interface ResponsesSurfaceDeps {
  store: ResponsesStore;
  /** how long stored responses are kept */
  retentionDays: number;
  log: { warn(obj: unknown, msg?: string): void };
}

export interface ResponsesSurface extends Surface {
  readonly stored: StoredResponses;
}

export function newResponseId(): string {
  return `resp_${randomBytes(24).toString('hex')}`;
}

/** `truncation: "auto"`: drop the oldest turns (never the system prompt) until the prompt fits. */
function truncate(messages: ChatMessage[], budget: number, tools: unknown): number {
  let prompt = estimatePromptTokens(messages, tools);
  let first = messages.findIndex((m) => m.role !== 'system');
  while (prompt > budget && first !== -1 && messages.length - first > 1) {
    messages.splice(first, 1);
    // A tool answer without its call is invalid everywhere: it goes with the call.
    while (messages[first]?.role === 'tool' && messages.length - first > 1) messages.splice(first, 1);
    prompt = estimatePromptTokens(messages, tools);
    first = messages.findIndex((m) => m.role !== 'system');
  }
  return prompt;
}

/**
 * Keeps an answer a Responses upstream gave (store: true), under Tollgate's id and the public
 * model, so GET, input_items and previous_response_id work through Tollgate whichever
 * upstream serves next. Only finished answers are kept.
 */
function keepNative(stored: StoredResponses, info: ResponseRequestInfo, upstream: Readonly<Record<string, unknown>>, model: string, costMicros: number): void {
  if (!info.echo.store || (upstream.status !== 'completed' && upstream.status !== 'incomplete')) return;
  const usage = upstream.usage;
  const response = {
    ...upstream,
    id: info.responseId,
    model,
    previous_response_id: info.echo.previous_response_id,
    ...(typeof usage === 'object' && usage !== null ? { usage: { ...usage, cost: costMicros / 1e6 } } : {}),
  } as unknown as ResponseObject;
  stored.save(info, response);
}

export function createResponsesSurface(deps: ResponsesSurfaceDeps): ResponsesSurface {
  const stored = new StoredResponses({
    store: deps.store,
    retentionMs: deps.retentionDays * 86_400_000,
    onError: (err, responseId) => deps.log.warn({ err, responseId }, 'storing a response failed'),
  });
  /** What parse kept for the encoders, carried by the engine with the request. */
  const requestOf = (answer: AnswerInfo): ResponsesParsed => answer.request as ResponsesParsed;

  return {
    id: 'responses',
    // Two clients never get the same response id: hits are encoded for the request that hit.
    encodesHits: true,
    stored,

    async parse(body: unknown, _headers: InboundHeaders, caller: Caller): Promise<ParsedRequest> {
      const prev = (body as { previous_response_id?: unknown } | null)?.previous_response_id;
      let history: Awaited<ReturnType<StoredResponses['history']>> | undefined;
      let unknownPrevious: GatewayError | undefined;
      if (typeof prev === 'string') {
        try {
          history = await stored.history(caller.orgId, prev);
        } catch (err) {
          // Not ours: it may be an id a Responses upstream keeps itself (checkModel decides).
          if (!(err instanceof GatewayError) || err.code !== 'not_found') throw err;
          unknownPrevious = err;
        }
      }
      const parsed = parseResponsesBody(body, { responseId: newResponseId(), orgId: caller.orgId, keyId: caller.keyId }, history);
      if (unknownPrevious) {
        // Not ours: only the Responses upstream that holds it can continue it.
        parsed.unknownPrevious = unknownPrevious;
        parsed.requiresNative = { reason: `"previous_response_id" names a response only a Responses upstream may hold`, refusal: unknownPrevious };
      } else if (parsed.nativeOnly.length > 0) {
        const first = parsed.nativeOnly[0];
        parsed.requiresNative = {
          reason: first.what,
          refusal: new GatewayError(
            'unsupported_parameter',
            `Model "${parsed.facts.model}" is served through a Chat Completions upstream, which cannot run ${first.what}. Remove it, or use a model whose provider speaks the Responses API.`,
            { param: first.param },
          ),
        };
      }
      return parsed;
    },

    checkModel(req: ParsedRequest, model: ModelRuntime): number {
      // Whether the model can serve a request that needs the native lane is the engine's check (requiresNative).
      const r = req as Partial<ResponsesParsed> & ParsedRequest;
      const out = r.facts.maxOutputTokens;
      if (out !== undefined && out > model.config.max_output_tokens) {
        throw new GatewayError('invalid_value', `"max_output_tokens" is ${out}, above the ${model.config.max_output_tokens}-token output limit of "${model.config.id}". Use at most ${model.config.max_output_tokens}.`, {
          param: 'max_output_tokens',
        });
      }
      const c = r.canonical;
      const budget = model.config.context_window - (out ?? 0);
      let prompt = estimatePromptTokens(c.messages, c.tools);
      if (prompt > budget && r.info?.echo.truncation === 'auto') prompt = truncate(c.messages, budget, c.tools);
      if (prompt > budget) {
        throw new GatewayError(
          'context_exceeded',
          `This request needs about ${prompt} prompt tokens${out ? ` + ${out} output tokens` : ''}, more than the ${model.config.context_window}-token context window of "${model.config.id}". Shorten the input, set "truncation": "auto"${out ? ' or lower max_output_tokens' : ''}.`,
          { param: 'input' },
        );
      }
      // The reservation (and TPM) hold a true upper bound; the estimate above only judges the context window.
      return Math.max(prompt, promptTokenBound(c.messages, c.tools, c.response_format));
    },

    encodeResponse(c: ChatCompletion, answer: AnswerInfo, totals: AnswerTotals): unknown {
      const info = requestOf(answer).info;
      const full = finalResponse(info, answer.model, answer.created, outputItems(c, info.tools), c.choices[0]?.finish_reason ?? undefined, totals);
      stored.save(info, full);
      const shown: ResponseObject = { ...full, output: clientOutput(full.output, info.includeEncrypted) };
      shown.output_text = outputText(shown.output);
      return shown;
    },

    encodeNative(answer: NativeBody, info: AnswerInfo, totals: AnswerTotals): string {
      const parsed = requestOf(info);
      const theirs = answer.object;
      // A continuation of a response only the upstream holds stays the upstream's, id and all.
      if (parsed.unknownPrevious || !theirs || typeof theirs.id !== 'string') return answer.body;
      const r = parsed.info;
      keepNative(stored, r, theirs, info.model, totals.costMicros);
      return withResponseId(answer.body, theirs.id, r.responseId) ?? JSON.stringify({ ...JSON.parse(answer.body), id: r.responseId });
    },

    streamEncoder(answer: AnswerInfo, _facts: RequestFacts): StreamEncoder {
      const parsed = requestOf(answer);
      const info = parsed.info;
      if (answer.native) {
        return new NativeResponsesStreamEncoder(parsed.unknownPrevious ? undefined : info.responseId, (final, costMicros) => keepNative(stored, info, final, answer.model, costMicros));
      }
      return new ResponsesStreamEncoder(answer, info, (full) => stored.save(info, full));
    },

    errorBody(err: GatewayError): unknown {
      return err.toEnvelope();
    },
  };
}
