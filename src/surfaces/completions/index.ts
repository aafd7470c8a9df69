// The legacy Completions surface (POST /v1/completions): a prompt in, text out. An
// OpenAI-compatible provider receives the client's body as it is (native lane, POST
// {base}/completions); any other provider gets a one-message chat request, which can carry
// neither fill-in-the-middle (`suffix`), `echo`, `logprobs`, `best_of` nor several prompts.
import { costUsd } from '../../core/answer-cost.js';
import { usageObject } from '../../core/canonical.js';
import { GatewayError } from '../../core/errors.js';
import { countTextTokens } from '../../core/tokens.js';
import type { ChatCompletion, ChatRequest, FinishReason } from '../../core/types.js';
import type { ModelRuntime } from '../../routing/channels.js';
import type { AnswerInfo, AnswerTotals, ParsedRequest, RequestFacts, StreamEncoder, Surface } from '../types.js';
import type { StreamEvent } from '../../core/canonical.js';

const PARAMS = new Set([
  'model',
  'prompt',
  'suffix',
  'max_tokens',
  'temperature',
  'top_p',
  'n',
  'stream',
  'stream_options',
  'logprobs',
  'echo',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'best_of',
  'logit_bias',
  'seed',
  'user',
]);

/** Parameters a chat request carries with the same meaning. */
const CHAT_EQUIVALENTS = ['max_tokens', 'temperature', 'top_p', 'n', 'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'seed', 'user'] as const;

const MAX_PROMPTS = 2048;

type Prompt = string | string[] | number[] | number[][];

/** What the surface keeps beside the canonical request (also part of the cache key). */
interface CompletionExtras {
  prompt: Prompt;
  suffix?: string;
  echo?: boolean;
  logprobs?: number;
  best_of?: number;
}

const invalid = (param: string, message: string) => new GatewayError('invalid_value', message, { param });

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkRange(b: Record<string, unknown>, key: string, min: number, max: number, integer = false): void {
  const v = b[key];
  if (v === undefined || v === null) return;
  if (!isNumber(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalid(key, `"${key}" must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
}

function validPrompt(p: unknown): p is Prompt {
  if (typeof p === 'string') return true;
  if (!Array.isArray(p) || p.length === 0 || p.length > MAX_PROMPTS) return false;
  if (p.every((x) => typeof x === 'string')) return true;
  if (p.every((x) => Number.isInteger(x) && x >= 0)) return true;
  return p.every((x) => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && t >= 0));
}

/** The prompts of a request: one per string or token array. */
function promptCount(p: Prompt): number {
  if (typeof p === 'string') return 1;
  return typeof p[0] === 'number' ? 1 : p.length;
}

function promptTokens(p: Prompt): number {
  if (typeof p === 'string') return countTextTokens(p);
  if (typeof p[0] === 'number') return p.length;
  let n = 0;
  for (const x of p as Array<string | number[]>) n += typeof x === 'string' ? countTextTokens(x) : x.length;
  return n;
}

/** The single text prompt a chat request can carry, or undefined when the request has several or token ids. */
function singleText(p: Prompt): string | undefined {
  if (typeof p === 'string') return p;
  return p.length === 1 && typeof p[0] === 'string' ? p[0] : undefined;
}

export function validateCompletionsRequest(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('invalid_json', 'The request body must be a JSON object with "model" and "prompt".');
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!PARAMS.has(k)) throw new GatewayError('unknown_parameter', `Unknown parameter "${k}" for /v1/completions.`, { param: k });
  if (b.model === undefined || b.model === null) throw new GatewayError('missing_required_parameter', 'Missing required parameter "model".', { param: 'model' });
  if (typeof b.model !== 'string' || b.model === '') throw invalid('model', '"model" must be a non-empty string.');
  if (b.prompt === undefined || b.prompt === null) throw new GatewayError('missing_required_parameter', 'Missing required parameter "prompt".', { param: 'prompt' });
  if (!validPrompt(b.prompt)) {
    throw invalid('prompt', `"prompt" must be a string, an array of up to ${MAX_PROMPTS} strings, an array of token ids, or an array of non-empty token-id arrays.`);
  }
  if (b.suffix !== undefined && b.suffix !== null && typeof b.suffix !== 'string') throw invalid('suffix', '"suffix" must be a string.');
  checkRange(b, 'max_tokens', 0, 10_000_000, true);
  checkRange(b, 'temperature', 0, 2);
  checkRange(b, 'top_p', 0, 1);
  checkRange(b, 'n', 1, 128, true);
  checkRange(b, 'logprobs', 0, 5, true);
  checkRange(b, 'best_of', 1, 20, true);
  checkRange(b, 'presence_penalty', -2, 2);
  checkRange(b, 'frequency_penalty', -2, 2);
  if (b.seed !== undefined && b.seed !== null && !Number.isSafeInteger(b.seed)) throw invalid('seed', '"seed" must be an integer.');
  for (const k of ['stream', 'echo'] as const) {
    if (b[k] !== undefined && b[k] !== null && typeof b[k] !== 'boolean') throw invalid(k, `"${k}" must be true or false.`);
  }
  if (b.user !== undefined && b.user !== null && typeof b.user !== 'string') throw invalid('user', '"user" must be a string.');
  const stop = b.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === 'string'))) {
    throw invalid('stop', '"stop" must be a string or an array of up to 4 strings.');
  }
  const bias = b.logit_bias;
  if (bias !== undefined && bias !== null && (typeof bias !== 'object' || Array.isArray(bias) || !Object.values(bias).every((v) => isNumber(v) && v >= -100 && v <= 100))) {
    throw invalid('logit_bias', '"logit_bias" must map token ids to numbers from -100 to 100.');
  }
  const so = b.stream_options;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so)) throw invalid('stream_options', '"stream_options" must be an object.');
    const o = so as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'include_usage') throw new GatewayError('unknown_parameter', `Unknown parameter "stream_options.${k}".`, { param: `stream_options.${k}` });
    if (o.include_usage !== undefined && typeof o.include_usage !== 'boolean') throw invalid('stream_options.include_usage', '"stream_options.include_usage" must be true or false.');
    if (b.stream !== true) throw invalid('stream_options', '"stream_options" is only allowed when "stream" is true.');
  }
  if (isNumber(b.best_of) && isNumber(b.n) && b.best_of < b.n) throw invalid('best_of', '"best_of" must be at least "n".');
  if (b.stream === true && isNumber(b.best_of) && b.best_of > 1) throw invalid('best_of', '"best_of" above 1 cannot be streamed.');
  return b;
}

function parse(body: unknown): ParsedRequest {
  const b = validateCompletionsRequest(body);
  const prompt = b.prompt as Prompt;
  const extras: CompletionExtras = { prompt };
  if (typeof b.suffix === 'string') extras.suffix = b.suffix;
  if (b.echo === true) extras.echo = true;
  if (isNumber(b.logprobs)) extras.logprobs = b.logprobs;
  if (isNumber(b.best_of)) extras.best_of = b.best_of;
  const text = singleText(prompt) ?? (Array.isArray(prompt) && typeof prompt[0] === 'string' ? (prompt as string[]).join('\n') : '');
  const canonical: ChatRequest = { model: b.model as string, messages: [{ role: 'user', content: text }] };
  for (const k of CHAT_EQUIVALENTS) if (b[k] !== undefined && b[k] !== null) (canonical as Record<string, unknown>)[k] = b[k];
  if (b.stream === true) {
    canonical.stream = true;
    canonical.stream_options = { include_usage: true };
  }
  (canonical as Record<string, unknown>).tollgate = { surface: 'completions', completion: extras };
  const n = isNumber(b.n) ? b.n : 1;
  const generated = Math.max(n, isNumber(b.best_of) ? b.best_of : 1) * promptCount(prompt);
  return {
    canonical,
    native: b,
    forwardHeaders: {},
    facts: {
      model: b.model as string,
      fallbacks: [],
      stream: b.stream === true,
      maxOutputTokens: isNumber(b.max_tokens) ? b.max_tokens : undefined,
      n: generated,
      relayUsageFrames: (b.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true,
    },
  };
}

const extrasOf = (req: ParsedRequest): CompletionExtras => (req.canonical as { tollgate?: { completion?: CompletionExtras } }).tollgate?.completion ?? { prompt: '' };

/** What only a provider serving /completions itself can honour, or undefined. */
export function nativeOnlyFeature(req: ParsedRequest): string | undefined {
  const x = extrasOf(req);
  if (x.suffix !== undefined) return 'suffix';
  if (x.echo) return 'echo';
  if (x.logprobs !== undefined) return 'logprobs';
  if (x.best_of !== undefined && x.best_of > 1) return 'best_of';
  if (singleText(x.prompt) === undefined) return 'prompt';
  return undefined;
}

function checkModel(req: ParsedRequest, model: ModelRuntime): number {
  const id = model.config.id;
  const feature = nativeOnlyFeature(req);
  if (feature !== undefined && !model.channels.every((c) => c.adapter.native?.completions !== undefined)) {
    const what = feature === 'prompt' ? 'several prompts or token-id prompts' : `"${feature}"`;
    throw new GatewayError(
      'unsupported_parameter',
      `Model "${id}" is served through a provider without a native /completions endpoint, so ${what} cannot be honoured. Use a model on an OpenAI-compatible provider, or send a single text prompt without it.`,
      { param: feature },
    );
  }
  const x = extrasOf(req);
  const out = req.facts.maxOutputTokens;
  if (out !== undefined && out > model.config.max_output_tokens) {
    throw new GatewayError('invalid_value', `"max_tokens" is ${out}, above the ${model.config.max_output_tokens}-token output limit of "${id}". Use at most ${model.config.max_output_tokens}.`, { param: 'max_tokens' });
  }
  const prompt = promptTokens(x.prompt) + (x.suffix ? countTextTokens(x.suffix) : 0);
  const perPrompt = Math.ceil(prompt / promptCount(x.prompt));
  if (perPrompt + (out ?? 0) > model.config.context_window) {
    throw new GatewayError(
      'context_exceeded',
      `This request needs about ${perPrompt} prompt tokens${out ? ` + ${out} output tokens` : ''}, more than the ${model.config.context_window}-token context window of "${id}". Shorten the prompt${out ? ' or lower max_tokens' : ''}.`,
      { param: 'prompt' },
    );
  }
  return prompt;
}

/** Chat finish reasons in the legacy vocabulary (stop, length, content_filter). */
function legacyFinish(r: FinishReason | null | undefined): string | null {
  if (r === null || r === undefined) return null;
  return r === 'length' || r === 'content_filter' ? r : 'stop';
}

function encodeResponse(c: ChatCompletion, info: AnswerInfo, totals: AnswerTotals): unknown {
  return {
    id: `cmpl-${info.requestId}`,
    object: 'text_completion',
    created: info.created,
    model: info.model,
    choices: c.choices.map((ch, index) => ({
      text: typeof ch.message?.content === 'string' ? ch.message.content : '',
      index: typeof ch.index === 'number' ? ch.index : index,
      logprobs: null,
      finish_reason: legacyFinish(ch.finish_reason),
    })),
    usage: { ...usageObject(totals.usage), cost: costUsd(totals.costMicros) },
  };
}

class CompletionsStreamEncoder implements StreamEncoder {
  private readonly prefix: string;

  constructor(
    private readonly info: AnswerInfo,
    private readonly facts: RequestFacts,
  ) {
    this.prefix = `{"id":${JSON.stringify(`cmpl-${info.requestId}`)},"object":"text_completion","created":${info.created},"model":${JSON.stringify(info.model)},"choices":[`;
  }

  private chunk(choice: number, text: string, finish: string | null): string {
    return `data: ${this.prefix}{"text":${JSON.stringify(text)},"index":${choice},"logprobs":null,"finish_reason":${JSON.stringify(finish)}}]}\n\n`;
  }

  events(evs: readonly StreamEvent[]): string {
    let out = '';
    for (const e of evs) {
      if (e.type === 'text') out += this.chunk(e.choice, e.text, null);
      else if (e.type === 'finish') out += this.chunk(e.choice, '', legacyFinish(e.reason));
    }
    return out;
  }

  end(totals: AnswerTotals): string {
    // The native lane relays the upstream's usage chunk; Tollgate writes one when it had to count.
    const usage = this.facts.relayUsageFrames && (!this.info.native || totals.estimated) ? `data: ${this.prefix}],"usage":${JSON.stringify({ ...usageObject(totals.usage), cost: costUsd(totals.costMicros) })}}\n\n` : '';
    return `${usage}data: [DONE]\n\n`;
  }

  error(err: GatewayError): string {
    return `data: ${JSON.stringify(err.toEnvelope())}\n\n`;
  }
}

export const completionsSurface: Surface = {
  id: 'completions',
  parse,
  checkModel,
  encodeResponse,
  streamEncoder: (info, facts) => new CompletionsStreamEncoder(info, facts),
  errorBody: (err: GatewayError) => err.toEnvelope(),
};
