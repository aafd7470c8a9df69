// Validates a Responses request body and converts it: the canonical (Chat-shaped) request for
// translating adapters, the client's own body for a Responses upstream, and the request's facts.
// Unknown top-level fields are kept (they reach a native upstream untouched, so new API fields
// work the day they ship) and ignored on the translated lane.
import type { CanonicalExtensions, ReasoningControl } from '../../core/canonical.js';
import { GatewayError } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ResponseFormat } from '../../core/types.js';
import type { ParsedRequest } from '../types.js';
import { itemsToMessages, normaliseInput, withIds } from './items.js';
import { convertToolChoice, convertTools, invalid } from './tools.js';
import type { Json, ResponseRequestInfo } from './types.js';

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The parsed request plus what only this surface reads back (checkModel, the encoders). */
export interface ResponsesParsed extends ParsedRequest {
  info: ResponseRequestInfo;
  /** features only an upstream speaking Responses can serve, with the parameter that asked */
  nativeOnly: Array<{ what: string; param: string }>;
  /** `previous_response_id` names no response Tollgate keeps: only a Responses upstream may know it */
  unknownPrevious?: GatewayError;
}

/** A stored conversation to continue (previous_response_id), already scoped to the caller's org. */
export interface History {
  /** the items of that conversation up to and including its answer */
  items: Json[];
}

const EFFORTS = new Set(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);
const SUMMARIES = new Set(['auto', 'concise', 'detailed']);

function optNumber(body: Json, key: string, min: number, max: number): number | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw invalid(key, `"${key}" must be a number from ${min} to ${max}.`);
  return v;
}

function optString(body: Json, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(key, `"${key}" must be a string.`);
  return v;
}

function optBool(body: Json, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(key, `"${key}" must be true or false.`);
  return v;
}

function responseFormat(text: unknown): ResponseFormat | undefined {
  if (text === undefined || text === null) return undefined;
  if (!isObj(text)) throw invalid('text', '"text" must be an object such as {"format": {"type": "text"}}.');
  const f = text.format;
  if (f === undefined || f === null) return undefined;
  if (!isObj(f)) throw invalid('text.format', '"text.format" must be an object with a "type".');
  if (f.type === 'text') return undefined;
  if (f.type === 'json_object') return { type: 'json_object' };
  if (f.type === 'json_schema') {
    if (typeof f.name !== 'string' || f.name === '') throw invalid('text.format.name', '"text.format" of type "json_schema" needs a "name".');
    if (!isObj(f.schema)) throw invalid('text.format.schema', '"text.format" of type "json_schema" needs a "schema" object.');
    const js: NonNullable<ResponseFormat['json_schema']> = { name: f.name, schema: f.schema };
    if (typeof f.strict === 'boolean') js.strict = f.strict;
    if (typeof f.description === 'string') js.description = f.description;
    return { type: 'json_schema', json_schema: js };
  }
  throw invalid('text.format.type', '"text.format.type" must be "text", "json_object" or "json_schema".');
}

function reasoningOf(raw: unknown): ReasoningControl | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObj(raw)) throw invalid('reasoning', '"reasoning" must be an object such as {"effort": "medium"}.');
  const r: ReasoningControl = {};
  if (raw.effort !== undefined && raw.effort !== null) {
    if (typeof raw.effort !== 'string' || !EFFORTS.has(raw.effort)) throw invalid('reasoning.effort', `"reasoning.effort" must be one of ${[...EFFORTS].join(', ')}.`);
    r.effort = raw.effort as ReasoningControl['effort'];
  }
  const summary = raw.summary ?? raw.generate_summary;
  if (summary !== undefined && summary !== null) {
    if (typeof summary !== 'string' || !SUMMARIES.has(summary)) throw invalid('reasoning.summary', '"reasoning.summary" must be "auto", "concise" or "detailed".');
    r.summary = summary as ReasoningControl['summary'];
  }
  return r;
}

function metadataOf(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isObj(raw)) throw invalid('metadata', '"metadata" must be an object of string values.');
  const keys = Object.keys(raw);
  if (keys.length > 16) throw invalid('metadata', '"metadata" may hold at most 16 keys.');
  for (const k of keys) {
    if (typeof raw[k] !== 'string' || k.length > 64 || (raw[k] as string).length > 512) {
      throw invalid(`metadata.${k}`, '"metadata" values must be strings of at most 512 characters, keys at most 64.');
    }
  }
  return raw as Record<string, string>;
}

const NATIVE_ONLY_FIELDS = ['prompt', 'conversation'];

/**
 * Parses a body. `history` is the stored conversation `previous_response_id` names (looked up by
 * the caller, scoped to its org); `responseId` is the id the answer will carry.
 */
export function parseResponsesBody(body: unknown, ids: { responseId: string; orgId: string; keyId: string }, history: History | undefined): ResponsesParsed {
  if (!isObj(body)) throw new GatewayError('invalid_json', 'The request body must be a JSON object with "model" and "input".');
  if (body.model === undefined || body.model === null) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "model". List the models you can use with GET /v1/models.', { param: 'model' });
  }
  if (typeof body.model !== 'string' || body.model === '') throw invalid('model', '"model" must be a non-empty string such as "gpt-5.4".');
  const stream = optBool(body, 'stream') ?? false;
  const store = optBool(body, 'store') ?? true;
  const parallel = optBool(body, 'parallel_tool_calls');
  const temperature = optNumber(body, 'temperature', 0, 2);
  const topP = optNumber(body, 'top_p', 0, 1);
  const maxOut = body.max_output_tokens;
  if (maxOut !== undefined && maxOut !== null && (typeof maxOut !== 'number' || !Number.isInteger(maxOut) || maxOut < 1)) {
    throw invalid('max_output_tokens', '"max_output_tokens" must be a positive integer.');
  }
  const truncation = body.truncation ?? 'disabled';
  if (truncation !== 'auto' && truncation !== 'disabled') throw invalid('truncation', '"truncation" must be "auto" or "disabled".');
  const include = body.include ?? [];
  if (!Array.isArray(include) || !include.every((x) => typeof x === 'string')) throw invalid('include', '"include" must be an array of strings.');
  const instructions = body.instructions ?? null;
  if (instructions !== null && typeof instructions !== 'string' && !Array.isArray(instructions)) throw invalid('instructions', '"instructions" must be a string.');
  const user = optString(body, 'user') ?? optString(body, 'safety_identifier');
  const cacheKey = optString(body, 'prompt_cache_key');
  const previous = optString(body, 'previous_response_id');
  const reasoning = reasoningOf(body.reasoning);
  const format = responseFormat(body.text);
  const metadata = metadataOf(body.metadata);

  const given = body.input === undefined || body.input === null ? [] : normaliseInput(body.input);
  const input = withIds(given);
  const conversation = history ? [...history.items, ...input] : input;
  const tools = convertTools(body.tools);
  const choice = convertToolChoice(body.tool_choice, tools);

  const nativeOnly: ResponsesParsed['nativeOnly'] = tools.builtins.map((t) => ({ what: `the built-in tool "${t}"`, param: 'tools' }));
  if (choice.builtin) nativeOnly.push({ what: `the built-in tool choice "${choice.builtin}"`, param: 'tool_choice' });
  if (body.background === true) nativeOnly.push({ what: 'background mode', param: 'background' });
  for (const f of NATIVE_ONLY_FIELDS) if (body[f] !== undefined && body[f] !== null) nativeOnly.push({ what: `"${f}"`, param: f });

  const messages: ChatMessage[] = [];
  if (typeof instructions === 'string' && instructions.length > 0) messages.push({ role: 'system', content: instructions });
  const instructionItems = Array.isArray(instructions) ? normaliseInput(instructions, 'instructions') : [];
  // Errors name each item where the client sent it: stored history is the previous response's.
  const paths = [...instructionItems.map((_, i) => `instructions[${i}]`), ...(history?.items ?? []).map(() => 'previous_response_id'), ...input.map((_, i) => `input[${i}]`)];
  const converted = itemsToMessages([...instructionItems, ...conversation], tools, paths);
  for (const t of converted.nativeOnly) nativeOnly.push({ what: `the ${t.what} at ${t.param}`, param: t.param });
  messages.push(...converted.messages);
  if (messages.length === 0) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "input" (a string or an array of input items), or "previous_response_id" to continue.', { param: 'input' });
  }

  const canonical: ChatRequest & { tollgate: CanonicalExtensions } = {
    model: body.model,
    messages,
    stream,
    tollgate: { surface: 'responses', ...(reasoning ? { reasoning } : {}) },
  };
  if (typeof maxOut === 'number') canonical.max_completion_tokens = maxOut;
  if (temperature !== null) canonical.temperature = temperature;
  if (topP !== null) canonical.top_p = topP;
  if (tools.tools.length > 0) {
    canonical.tools = tools.tools;
    if (parallel !== undefined) canonical.parallel_tool_calls = parallel;
  }
  if (choice.choice !== undefined && tools.tools.length > 0) canonical.tool_choice = choice.choice;
  if (format) canonical.response_format = format;
  if (user !== undefined) canonical.user = user;
  if (cacheKey !== undefined) canonical.prompt_cache_key = cacheKey;
  // What a Chat client would send for the same effort: OpenAI-compatible upstreams read it there.
  if (reasoning?.effort !== undefined) canonical.reasoning_effort = reasoning.effort;

  // A continued conversation the upstream never saw travels in full; everything else as sent.
  let native: Record<string, unknown> = body;
  if (history) {
    const { previous_response_id: _ours, ...rest } = body;
    native = { ...rest, input: [...forNativeUpstream(history.items), ...given] };
  }

  const info: ResponseRequestInfo = {
    responseId: ids.responseId,
    orgId: ids.orgId,
    keyId: ids.keyId,
    echo: {
      instructions,
      max_output_tokens: typeof maxOut === 'number' ? maxOut : null,
      parallel_tool_calls: parallel ?? true,
      previous_response_id: previous ?? null,
      reasoning: { effort: reasoning?.effort ?? null, summary: reasoning?.summary ?? null },
      store,
      temperature: temperature ?? 1,
      text: isObj(body.text) ? body.text : { format: { type: 'text' } },
      tool_choice: body.tool_choice ?? 'auto',
      tools: Array.isArray(body.tools) ? body.tools : [],
      top_p: topP ?? 1,
      truncation,
      metadata,
      ...(user !== undefined ? { user } : {}),
      ...(cacheKey !== undefined ? { prompt_cache_key: cacheKey } : {}),
    },
    tools: tools.origins,
    includeEncrypted: include.includes('reasoning.encrypted_content'),
    // Kept only to be stored: a request that stores nothing carries no copy of its conversation.
    context: store ? conversation : [],
    input: store ? input : [],
  };

  return {
    canonical,
    native,
    forwardHeaders: {},
    facts: { model: body.model, fallbacks: [], stream, maxOutputTokens: typeof maxOut === 'number' ? maxOut : undefined, n: 1, relayUsageFrames: false },
    info,
    nativeOnly,
  };
}

/**
 * Stored history sent to a Responses upstream that never saw it: reasoning a translated lane
 * produced means nothing there, and item ids Tollgate gave are unknown there.
 */
function forNativeUpstream(items: readonly Json[]): Json[] {
  return items.filter((item) => item.type !== 'reasoning').map(({ id: _ours, ...rest }) => rest);
}
