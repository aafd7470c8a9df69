// The OpenAI Responses API as a surface: parse (with stored conversations), model checks,
// the response object, stream events and OpenAI's error envelope. It must not route, bill or
// call upstreams: the engine does that for every surface.
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../../core/errors.js';
import { estimatePromptTokens, promptTokenBound } from '../../core/tokens.js';
import type { ChatCompletion, ChatMessage } from '../../core/types.js';
import type { ModelRuntime } from '../../routing/channels.js';
import type { AnswerInfo, AnswerTotals, Caller, InboundHeaders, ParsedRequest, RequestFacts, StreamEncoder, Surface } from '../types.js';
import { outputItems } from './encode-response.js';
import { NativeResponsesStreamEncoder, ResponsesStreamEncoder } from './encode-stream.js';
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

/**
 * Requests parsed but not yet answered, bounded in count and in the size of the conversations
 * they hold for storing: a request can fail, or be served natively, without any answer here.
 */
const PENDING_MAX = 10_000;
const PENDING_MAX_BYTES = 128 * 1024 * 1024;
const PENDING_TTL_MS = 15 * 60_000;

function pendingSize(info: ResponseRequestInfo): number {
  return info.context.length === 0 ? 1 : JSON.stringify(info.context).length + JSON.stringify(info.input).length;
}

export function newResponseId(): string {
  return `resp_${randomBytes(24).toString('hex')}`;
}

function nativeCapable(model: ModelRuntime): boolean {
  return model.channels.some((c) => c.adapter.native?.responses !== undefined);
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

export function createResponsesSurface(deps: ResponsesSurfaceDeps): ResponsesSurface {
  const stored = new StoredResponses({
    store: deps.store,
    retentionMs: deps.retentionDays * 86_400_000,
    onError: (err, responseId) => deps.log.warn({ err, responseId }, 'storing a response failed'),
  });
  const pending = new LRUCache<string, ResponseRequestInfo>({ max: PENDING_MAX, maxSize: PENDING_MAX_BYTES, sizeCalculation: pendingSize, ttl: PENDING_TTL_MS });

  const infoFor = (answer: AnswerInfo): ResponseRequestInfo => {
    const info = pending.get(answer.requestId);
    pending.delete(answer.requestId);
    if (info) return info;
    // Not parsed here (evicted): answer correctly, keep nothing.
    return {
      responseId: newResponseId(),
      orgId: '',
      keyId: '',
      echo: {
        instructions: null,
        max_output_tokens: null,
        parallel_tool_calls: true,
        previous_response_id: null,
        reasoning: { effort: null, summary: null },
        store: false,
        temperature: 1,
        text: { format: { type: 'text' } },
        tool_choice: 'auto',
        tools: [],
        top_p: 1,
        truncation: 'disabled',
        metadata: {},
      },
      tools: new Map(),
      includeEncrypted: false,
      context: [],
      input: [],
    };
  };

  return {
    id: 'responses',
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
      if (unknownPrevious) parsed.unknownPrevious = unknownPrevious;
      pending.set(caller.requestId, parsed.info);
      return parsed;
    },

    checkModel(req: ParsedRequest, model: ModelRuntime): number {
      const r = req as Partial<ResponsesParsed> & ParsedRequest;
      // An id Tollgate does not hold can only be continued where the upstream holds it.
      if (r.unknownPrevious && !nativeCapable(model)) throw r.unknownPrevious;
      const nativeOnly = r.nativeOnly ?? [];
      if (nativeOnly.length > 0 && !nativeCapable(model)) {
        const first = nativeOnly[0];
        throw new GatewayError(
          'unsupported_parameter',
          `Model "${model.config.id}" is served through a Chat Completions upstream, which cannot run ${first.what}. Remove it, or use a model whose provider speaks the Responses API.`,
          { param: first.param },
        );
      }
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
      const info = infoFor(answer);
      const full = finalResponse(info, answer.model, answer.created, outputItems(c, info.tools), c.choices[0]?.finish_reason ?? undefined, totals);
      stored.save(info, full);
      const shown: ResponseObject = { ...full, output: clientOutput(full.output, info.includeEncrypted) };
      shown.output_text = outputText(shown.output);
      return shown;
    },

    streamEncoder(answer: AnswerInfo, _facts: RequestFacts): StreamEncoder {
      const info = infoFor(answer);
      if (answer.native) return new NativeResponsesStreamEncoder();
      return new ResponsesStreamEncoder(answer, info, (full) => stored.save(info, full));
    },

    errorBody(err: GatewayError): unknown {
      return err.toEnvelope();
    },
  };
}
