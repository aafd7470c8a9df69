// Request validation for Chat Completions (SPEC §3): a hand-written checker so the hot path
// pays one pass over the body and every problem maps to SPEC's exact code and param.
import type { ModelConfig } from '../config/schema.js';
import { GatewayError } from './errors.js';
import { acceptsExtraParameter, isAddressParameter, unknownParameterError } from './extra-parameters.js';
import { approximatePromptTokens, promptTokenBound } from './tokens.js';
import type { ChatRequest } from './types.js';

type Check = (value: unknown, param: string) => string | undefined;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const num =
  (min: number, max: number, integer = false): Check =>
  (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a number${integer ? ' (integer)' : ''} from ${min} to ${max}`;
    if (integer && !Number.isInteger(v)) return `must be an integer from ${min} to ${max}`;
    if (v < min || v > max) return `must be between ${min} and ${max}; got ${v}. Nearest valid value: ${v < min ? min : max}`;
    return undefined;
  };
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const str: Check = (v) => (typeof v === 'string' ? undefined : 'must be a string');
const obj: Check = (v) => (isObj(v) ? undefined : 'must be an object');
const arr: Check = (v) => (Array.isArray(v) ? undefined : 'must be an array');
const oneOf =
  (...allowed: string[]): Check =>
  (v) =>
    typeof v === 'string' && allowed.includes(v) ? undefined : `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`;

const stopCheck: Check = (v) => {
  if (typeof v === 'string') return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) return 'must be a string or an array of strings';
  if (v.length > 4) return `accepts at most 4 stop sequences; got ${v.length}`;
  return undefined;
};
const logitBias: Check = (v) => {
  if (!isObj(v)) return 'must be an object mapping token ids to numbers from -100 to 100';
  for (const [k, b] of Object.entries(v)) {
    if (!/^\d+$/.test(k)) return `has a key "${k}" that is not a token id`;
    if (typeof b !== 'number' || b < -100 || b > 100) return `value for token ${k} must be a number from -100 to 100`;
  }
  return undefined;
};
const toolsCheck: Check = (v) => {
  if (!Array.isArray(v)) return 'must be an array of tools';
  for (let i = 0; i < v.length; i++) {
    const t = v[i];
    if (!isObj(t)) return `[${i}] must be an object`;
    if (t.type === 'function') {
      if (!isObj(t.function) || typeof t.function.name !== 'string' || t.function.name === '') return `[${i}].function.name is required`;
    } else if (typeof t.type !== 'string') return `[${i}].type is required`;
  }
  return undefined;
};
const toolChoice: Check = (v) => {
  if (typeof v === 'string') return ['none', 'auto', 'required'].includes(v) ? undefined : 'must be "none", "auto", "required" or {"type":"function","function":{"name":...}}';
  if (isObj(v) && typeof v.type === 'string') return undefined;
  return 'must be "none", "auto", "required" or an object naming a tool';
};
const responseFormat: Check = (v) => {
  if (!isObj(v)) return 'must be an object such as {"type":"json_object"}';
  if (!['text', 'json_object', 'json_schema'].includes(v.type as string)) return 'type must be "text", "json_object" or "json_schema"';
  if (v.type === 'json_schema' && !isObj(v.json_schema)) return 'json_schema is required when type is "json_schema"';
  return undefined;
};
const stringArray: Check = (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? undefined : 'must be an array of strings');
const functionCall: Check = (v) => (typeof v === 'string' || isObj(v) ? undefined : 'must be "none", "auto" or {"name": ...}');
const metadata: Check = (v) => {
  if (!isObj(v)) return 'must be an object of string values';
  for (const [k, m] of Object.entries(v)) if (typeof m !== 'string') return `value of "${k}" must be a string`;
  return undefined;
};

/** Every top-level parameter of Chat Completions plus Tollgate's `models`, with its type check. */
const PARAMS: Record<string, Check | null> = {
  model: null,
  messages: null,
  models: stringArray,
  temperature: num(0, 2),
  top_p: num(0, 1),
  max_tokens: num(1, Number.MAX_SAFE_INTEGER, true),
  max_completion_tokens: num(1, Number.MAX_SAFE_INTEGER, true),
  stream: bool,
  stream_options: obj,
  n: num(1, 128, true),
  stop: stopCheck,
  presence_penalty: num(-2, 2),
  frequency_penalty: num(-2, 2),
  logit_bias: logitBias,
  logprobs: bool,
  top_logprobs: num(0, 20, true),
  seed: num(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true),
  tools: toolsCheck,
  tool_choice: toolChoice,
  parallel_tool_calls: bool,
  response_format: responseFormat,
  user: str,
  metadata,
  store: bool,
  service_tier: str,
  reasoning_effort: oneOf('none', 'minimal', 'low', 'medium', 'high', 'xhigh'),
  modalities: stringArray,
  audio: obj,
  prediction: obj,
  web_search_options: obj,
  verbosity: oneOf('low', 'medium', 'high'),
  prompt_cache_key: str,
  safety_identifier: str,
  functions: arr,
  function_call: functionCall,
};

/** Parameters that ride on another one in `supported_parameters`. */
const PARAM_ALIASES: Record<string, string> = {
  max_completion_tokens: 'max_tokens',
  stream_options: 'stream',
  tool_choice: 'tools',
  parallel_tool_calls: 'tools',
  functions: 'tools',
  function_call: 'tools',
  top_logprobs: 'logprobs',
};
const ALWAYS_SUPPORTED = new Set(['model', 'messages', 'models']);

/** Values that ask for nothing beyond the default, so no model can be said not to support them. */
function isNeutral(key: string, v: unknown): boolean {
  switch (key) {
    case 'stream':
    case 'logprobs':
    case 'store':
      return v === false;
    case 'n':
      return v === 1;
    case 'top_logprobs':
    case 'presence_penalty':
    case 'frequency_penalty':
      return v === 0;
    case 'logit_bias':
    case 'metadata':
      return isObj(v) && Object.keys(v).length === 0;
    case 'modalities':
      return Array.isArray(v) && v.length === 1 && v[0] === 'text';
    default:
      return false;
  }
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function invalid(code: 'invalid_value' | 'invalid_messages', param: string, message: string): GatewayError {
  return new GatewayError(code, message, { param });
}

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages)) throw invalid('invalid_messages', 'messages', '`messages` must be an array of message objects.');
  if (messages.length === 0) throw invalid('invalid_messages', 'messages', '`messages` must contain at least one message.');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const p = `messages[${i}]`;
    if (!isObj(m)) throw invalid('invalid_messages', p, `${p} must be an object with "role" and "content".`);
    const role = m.role;
    if (typeof role !== 'string') throw invalid('invalid_messages', `${p}.role`, `${p} is missing "role" (one of system, developer, user, assistant, tool).`);
    if (!ROLES.has(role)) throw invalid('invalid_messages', `${p}.role`, `${p}.role "${role}" is not a valid role; use system, developer, user, assistant or tool.`);
    const content = m.content;
    const hasToolCalls = Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
    const contentOptional = role === 'assistant' && (hasToolCalls || isObj(m.function_call));
    if (content === undefined || content === null) {
      if (!contentOptional) throw invalid('invalid_messages', `${p}.content`, `${p} is missing "content".`);
    } else if (Array.isArray(content)) {
      for (let j = 0; j < content.length; j++) {
        const part = content[j];
        if (!isObj(part) || typeof part.type !== 'string') throw invalid('invalid_messages', `${p}.content[${j}]`, `${p}.content[${j}] must be an object with a "type".`);
        if (part.type === 'text' && typeof part.text !== 'string') throw invalid('invalid_messages', `${p}.content[${j}].text`, `${p}.content[${j}].text must be a string.`);
        if (part.type === 'image_url' && !(isObj(part.image_url) && typeof part.image_url.url === 'string')) {
          throw invalid('invalid_messages', `${p}.content[${j}].image_url`, `${p}.content[${j}].image_url.url must be a string.`);
        }
      }
    } else if (typeof content !== 'string') {
      throw invalid('invalid_messages', `${p}.content`, `${p}.content must be a string or an array of content parts.`);
    }
    if (role === 'tool' && typeof m.tool_call_id !== 'string') {
      throw invalid('invalid_messages', `${p}.tool_call_id`, `${p} has role "tool" but no "tool_call_id" naming the tool call it answers.`);
    }
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      if (!Array.isArray(m.tool_calls)) throw invalid('invalid_messages', `${p}.tool_calls`, `${p}.tool_calls must be an array.`);
      for (let j = 0; j < m.tool_calls.length; j++) {
        const tc = m.tool_calls[j];
        if (!isObj(tc) || typeof tc.id !== 'string' || !isObj(tc.function) || typeof tc.function.name !== 'string') {
          throw invalid('invalid_messages', `${p}.tool_calls[${j}]`, `${p}.tool_calls[${j}] needs an "id" and function.name.`);
        }
      }
    }
  }
}

/**
 * Model-independent checks: JSON object, required fields, message structure, known
 * parameters and their types/ranges. Returns the body typed as a ChatRequest.
 */
export function validateChatRequest(body: unknown): ChatRequest {
  if (!isObj(body)) throw new GatewayError('invalid_json', 'The request body must be a JSON object with "model" and "messages".');
  if (body.model === undefined || body.model === null) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "model". List the models you can use with GET /v1/models.', { param: 'model' });
  }
  if (body.messages === undefined || body.messages === null) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "messages" (a non-empty array of messages).', { param: 'messages' });
  }
  if (typeof body.model !== 'string' || body.model === '') throw invalid('invalid_value', 'model', '"model" must be a non-empty string such as "gpt-5.4".');
  for (const key in body) {
    // Own keys only: names like __proto__ or hasOwnProperty exist on every object.
    const check = Object.hasOwn(PARAMS, key) ? PARAMS[key] : undefined;
    if (check === undefined) {
      // Other fields may be a model's declared extra parameters: validateForModel decides.
      if (isAddressParameter(key)) throw unknownParameterError(key);
      continue;
    }
    const value = body[key];
    if (check === null || value === null) continue;
    const problem = check(value, key);
    if (problem) throw invalid('invalid_value', key, `Invalid "${key}": ${problem}.`);
  }
  checkMessages(body.messages);
  return body as ChatRequest;
}

/** Requested output tokens (max_completion_tokens wins, as in OpenAI's API). */
export function requestedOutputTokens(req: ChatRequest): number | undefined {
  return req.max_completion_tokens ?? req.max_tokens ?? undefined;
}

/** Checks that depend on the model: supported parameters, output limit, context window. Returns the prompt estimate. */
export function validateForModel(req: ChatRequest, model: ModelConfig, supported: readonly string[] | undefined): number {
  for (const key in req) {
    if (!Object.hasOwn(PARAMS, key) && !acceptsExtraParameter(model.extra_parameters, key)) throw unknownParameterError(key, model.id);
  }
  if (supported) {
    for (const key in req) {
      if (ALWAYS_SUPPORTED.has(key) || !Object.hasOwn(PARAMS, key)) continue;
      const v = req[key];
      if (v === null || v === undefined || isNeutral(key, v)) continue;
      if (supported.includes(key) || supported.includes(PARAM_ALIASES[key] ?? '')) continue;
      throw new GatewayError('unsupported_parameter', `Model "${model.id}" does not support the parameter "${key}". Supported: ${supported.join(', ')}.`, { param: key });
    }
  }
  const out = requestedOutputTokens(req);
  if (out !== undefined && out > model.max_output_tokens) {
    const param = req.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    throw invalid('invalid_value', param, `"${param}" is ${out}, above the ${model.max_output_tokens}-token output limit of "${model.id}". Use at most ${model.max_output_tokens}.`);
  }
  // The bound (what reservations need) is far above most real counts, so the window is checked
  // against an approximation: refusing a prompt that fits would be worse than the upstream's error.
  const prompt = promptTokenBound(req.messages, req.tools ?? req.functions, req.response_format);
  if (prompt + (out ?? 0) > model.context_window) {
    const approx = approximatePromptTokens(req.messages, req.tools ?? req.functions);
    if (approx + (out ?? 0) > model.context_window) {
      throw new GatewayError(
        'context_exceeded',
        `This request needs about ${approx} prompt tokens${out ? ` + ${out} output tokens` : ''}, more than the ${model.context_window}-token context window of "${model.id}". Shorten the messages${out ? ' or lower max_tokens' : ''}.`,
        { param: 'messages' },
      );
    }
  }
  return prompt;
}

/** Every parameter a model may list in supported_parameters (all but model/messages/models). */
export const ALL_CHAT_PARAMETERS: readonly string[] = Object.keys(PARAMS).filter((k) => !ALWAYS_SUPPORTED.has(k));
