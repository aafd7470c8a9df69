// Validation of an Anthropic Messages request body (POST /v1/messages and count_tokens):
// one pass over the body, every problem reported with Tollgate's codes and the field's path.
// Fields this file does not know are kept (they may be newer API fields a native upstream
// understands); only fields that could choose where Tollgate connects are refused.
import { GatewayError } from '../../core/errors.js';

export type Json = Record<string, unknown>;

export const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Never forwarded anywhere: a body must not be able to pick an upstream or a credential. */
const REFUSED_FIELDS = new Set(['api_base', 'base_url', 'api_key', 'url', 'endpoint']);

const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** Block types a user turn may carry, and those of an assistant turn (Anthropic's own split). */
const USER_ONLY = new Set(['tool_result', 'image', 'document', 'search_result']);
const ASSISTANT_ONLY = new Set(['tool_use', 'thinking', 'redacted_thinking', 'server_tool_use']);

export function invalidValue(param: string, message: string): GatewayError {
  return new GatewayError('invalid_value', message, { param });
}

function invalidMessages(param: string, message: string): GatewayError {
  return new GatewayError('invalid_messages', message, { param });
}

function checkNumber(body: Json, key: string, min: number, max: number, integer: boolean): void {
  const v = body[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw invalidValue(key, `"${key}" must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
  if (v < min || v > max) throw invalidValue(key, `"${key}" must be between ${min} and ${max}; got ${v}. Nearest valid value: ${v < min ? min : max}.`);
}

function checkCacheControl(v: unknown, at: string): void {
  if (v === undefined || v === null) return;
  if (!isObj(v) || typeof v.type !== 'string') throw invalidValue(at, `"${at}" must be an object such as {"type":"ephemeral"}.`);
}

function checkSource(source: unknown, at: string, kind: 'image' | 'document'): void {
  if (!isObj(source) || typeof source.type !== 'string') throw invalidMessages(at, `"${at}" must be an object with a "type" (base64, url, file${kind === 'document' ? ', text or content' : ''}).`);
  switch (source.type) {
    case 'base64':
      if (typeof source.data !== 'string' || source.data === '') throw invalidMessages(`${at}.data`, `"${at}.data" must be a non-empty base64 string.`);
      if (kind === 'image' && !IMAGE_MEDIA_TYPES.has(String(source.media_type))) {
        throw invalidMessages(`${at}.media_type`, `"${at}.media_type" must be image/jpeg, image/png, image/gif or image/webp.`);
      }
      if (kind === 'document' && source.media_type !== 'application/pdf') throw invalidMessages(`${at}.media_type`, `"${at}.media_type" must be application/pdf for a base64 document.`);
      return;
    case 'url':
      if (typeof source.url !== 'string' || !/^https?:\/\//i.test(source.url)) throw invalidMessages(`${at}.url`, `"${at}.url" must be an http(s) URL.`);
      return;
    case 'file':
      if (typeof source.file_id !== 'string' || source.file_id === '') throw invalidMessages(`${at}.file_id`, `"${at}.file_id" must be a non-empty string.`);
      return;
    case 'text':
      if (kind !== 'document') break;
      if (typeof source.data === 'string') return;
      throw invalidMessages(`${at}.data`, `"${at}.data" must be a string.`);
    case 'content':
      if (kind !== 'document') break;
      if (typeof source.content === 'string') return;
      if (!Array.isArray(source.content)) throw invalidMessages(`${at}.content`, `"${at}.content" must be a string or an array of text and image blocks.`);
      source.content.forEach((inner, i) => {
        checkDocumentContent(inner, `${at}.content[${i}]`);
      });
      return;
  }
  throw invalidMessages(`${at}.type`, `"${at}.type" "${String(source.type)}" is not a known ${kind} source type.`);
}

/** A block of a custom-content document ({"type":"content"} source): text or an image, nothing else. */
function checkDocumentContent(b: unknown, at: string): void {
  if (!isObj(b) || typeof b.type !== 'string' || b.type === '') throw invalidMessages(at, `"${at}" must be a text or image block object with a "type".`);
  if (b.type !== 'text' && b.type !== 'image') throw invalidMessages(`${at}.type`, `"${at}.type" is "${b.type}"; a content document holds only text and image blocks.`);
  checkBlock(b, at, 'user');
}

function checkBlock(b: unknown, at: string, role: 'user' | 'assistant' | 'system' | 'tool_result'): void {
  if (!isObj(b) || typeof b.type !== 'string' || b.type === '') throw invalidMessages(at, `"${at}" must be a content block object with a "type".`);
  checkCacheControl(b.cache_control, `${at}.cache_control`);
  if (role === 'system' && b.type !== 'text') {
    const message = `"${at}" must be a text block; a system prompt holds only text.`;
    throw at.startsWith('messages') ? invalidMessages(at, message) : invalidValue(at, message);
  }
  if (role === 'user' && ASSISTANT_ONLY.has(b.type)) throw invalidMessages(at, `"${at}": a ${b.type} block belongs in an assistant message.`);
  if (role === 'assistant' && USER_ONLY.has(b.type)) throw invalidMessages(at, `"${at}": a ${b.type} block belongs in a user message.`);
  switch (b.type) {
    case 'text':
      if (typeof b.text !== 'string') throw invalidMessages(`${at}.text`, `"${at}.text" must be a string.`);
      return;
    case 'image':
      checkSource(b.source, `${at}.source`, 'image');
      return;
    case 'document':
      checkSource(b.source, `${at}.source`, 'document');
      return;
    case 'tool_use':
      if (typeof b.id !== 'string' || b.id === '') throw invalidMessages(`${at}.id`, `"${at}.id" must be a non-empty string.`);
      if (typeof b.name !== 'string' || b.name === '') throw invalidMessages(`${at}.name`, `"${at}.name" must be a non-empty string.`);
      if (!isObj(b.input)) throw invalidMessages(`${at}.input`, `"${at}.input" must be an object.`);
      return;
    case 'tool_result':
      if (typeof b.tool_use_id !== 'string' || b.tool_use_id === '') throw invalidMessages(`${at}.tool_use_id`, `"${at}.tool_use_id" must name the tool_use it answers.`);
      if (b.content !== undefined && typeof b.content !== 'string') {
        if (!Array.isArray(b.content)) throw invalidMessages(`${at}.content`, `"${at}.content" must be a string or an array of blocks.`);
        b.content.forEach((inner, i) => {
          checkBlock(inner, `${at}.content[${i}]`, 'tool_result');
        });
      }
      if (b.is_error !== undefined && typeof b.is_error !== 'boolean') throw invalidMessages(`${at}.is_error`, `"${at}.is_error" must be true or false.`);
      return;
    case 'thinking':
      if (typeof b.thinking !== 'string') throw invalidMessages(`${at}.thinking`, `"${at}.thinking" must be a string.`);
      if (typeof b.signature !== 'string') throw invalidMessages(`${at}.signature`, `"${at}.signature" must be a string (the signature the model returned).`);
      return;
    case 'redacted_thinking':
      if (typeof b.data !== 'string') throw invalidMessages(`${at}.data`, `"${at}.data" must be a string.`);
      return;
    default:
      // Server-tool blocks and block types newer than this gateway: checked by the upstream that understands them.
      return;
  }
}

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidMessages('messages', '"messages" must be a non-empty array of {"role","content"} objects.');
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    if (!isObj(m)) throw invalidMessages(at, `"${at}" must be an object with "role" and "content".`);
    if (m.role !== 'user' && m.role !== 'assistant' && m.role !== 'system') throw invalidMessages(`${at}.role`, `"${at}.role" must be "user", "assistant" or "system".`);
    if (m.content === undefined || m.content === null) throw invalidMessages(`${at}.content`, `"${at}.content" is required (a string or an array of content blocks).`);
    if (typeof m.content === 'string') return;
    if (!Array.isArray(m.content)) throw invalidMessages(`${at}.content`, `"${at}.content" must be a string or an array of content blocks.`);
    m.content.forEach((b, j) => {
      checkBlock(b, `${at}.content[${j}]`, m.role as 'user' | 'assistant' | 'system');
    });
  });
}

function checkTools(tools: unknown): void {
  if (!Array.isArray(tools)) throw invalidValue('tools', '"tools" must be an array of tool definitions.');
  tools.forEach((t, i) => {
    const at = `tools[${i}]`;
    if (!isObj(t)) throw invalidValue(at, `"${at}" must be an object.`);
    if (typeof t.name !== 'string' || t.name === '') throw invalidValue(`${at}.name`, `"${at}.name" must be a non-empty string.`);
    checkCacheControl(t.cache_control, `${at}.cache_control`);
    // A custom tool has no type (or "custom") and needs a schema; typed tools are Anthropic's own.
    if (t.type === undefined || t.type === null || t.type === 'custom') {
      if (!isObj(t.input_schema)) throw invalidValue(`${at}.input_schema`, `"${at}.input_schema" must be a JSON Schema object.`);
    } else if (typeof t.type !== 'string') throw invalidValue(`${at}.type`, `"${at}.type" must be a string.`);
  });
}

function checkToolChoice(v: unknown): void {
  if (!isObj(v) || !['auto', 'any', 'tool', 'none'].includes(String(v.type))) {
    throw invalidValue('tool_choice', '"tool_choice" must be {"type":"auto"}, {"type":"any"}, {"type":"none"} or {"type":"tool","name":...}.');
  }
  if (v.type === 'tool' && (typeof v.name !== 'string' || v.name === '')) throw invalidValue('tool_choice.name', '"tool_choice.name" must name one of the tools.');
  if (v.disable_parallel_tool_use !== undefined && typeof v.disable_parallel_tool_use !== 'boolean') {
    throw invalidValue('tool_choice.disable_parallel_tool_use', '"tool_choice.disable_parallel_tool_use" must be true or false.');
  }
}

function checkThinking(v: unknown): void {
  if (!isObj(v) || typeof v.type !== 'string') throw invalidValue('thinking', '"thinking" must be {"type":"enabled","budget_tokens":N}, {"type":"adaptive"} or {"type":"disabled"}.');
  if (v.type === 'enabled') {
    const b = v.budget_tokens;
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 1) throw invalidValue('thinking.budget_tokens', '"thinking.budget_tokens" must be a positive integer (Anthropic requires at least 1024).');
  }
}

function checkSystem(v: unknown): void {
  if (typeof v === 'string') return;
  if (!Array.isArray(v)) throw invalidValue('system', '"system" must be a string or an array of text blocks.');
  v.forEach((b, i) => {
    checkBlock(b, `system[${i}]`, 'system');
  });
}

export interface ValidateOptions {
  /** count_tokens takes no max_tokens */
  requireMaxTokens: boolean;
}

/** Validates a Messages body in place and returns it typed as an object. */
export function validateMessagesBody(body: unknown, opts: ValidateOptions): Json {
  if (!isObj(body)) throw new GatewayError('invalid_json', 'The request body must be a JSON object with "model", "max_tokens" and "messages".');
  if (body.model === undefined || body.model === null) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "model". List the models you can use with GET /v1/models.', { param: 'model' });
  }
  if (body.messages === undefined || body.messages === null) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "messages" (a non-empty array of messages).', { param: 'messages' });
  }
  if (opts.requireMaxTokens && (body.max_tokens === undefined || body.max_tokens === null)) {
    throw new GatewayError('missing_required_parameter', 'Missing required parameter "max_tokens" (the most tokens the answer may have).', { param: 'max_tokens' });
  }
  if (typeof body.model !== 'string' || body.model === '') throw invalidValue('model', '"model" must be a non-empty string such as "claude-sonnet-4-5".');
  for (const key in body) {
    if (REFUSED_FIELDS.has(key)) {
      throw new GatewayError('unknown_parameter', `Unknown parameter "${key}". Upstream addresses and credentials come from the gateway configuration only.`, { param: key });
    }
  }
  if (body.max_tokens !== undefined) checkNumber(body, 'max_tokens', 1, Number.MAX_SAFE_INTEGER, true);
  checkNumber(body, 'temperature', 0, 1, false);
  checkNumber(body, 'top_p', 0, 1, false);
  checkNumber(body, 'top_k', 0, Number.MAX_SAFE_INTEGER, true);
  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw invalidValue('stream', '"stream" must be true or false.');
  if (body.stop_sequences !== undefined && (!Array.isArray(body.stop_sequences) || body.stop_sequences.some((s) => typeof s !== 'string'))) {
    throw invalidValue('stop_sequences', '"stop_sequences" must be an array of strings.');
  }
  if (body.metadata !== undefined && body.metadata !== null) {
    if (!isObj(body.metadata)) throw invalidValue('metadata', '"metadata" must be an object such as {"user_id":"…"}.');
    const uid = body.metadata.user_id;
    if (uid !== undefined && uid !== null && typeof uid !== 'string') throw invalidValue('metadata.user_id', '"metadata.user_id" must be a string.');
  }
  if (body.service_tier !== undefined && body.service_tier !== 'auto' && body.service_tier !== 'standard_only') {
    throw invalidValue('service_tier', '"service_tier" must be "auto" or "standard_only".');
  }
  if (body.system !== undefined && body.system !== null) checkSystem(body.system);
  checkMessages(body.messages);
  if (body.tools !== undefined && body.tools !== null) checkTools(body.tools);
  if (body.tool_choice !== undefined && body.tool_choice !== null) checkToolChoice(body.tool_choice);
  if (body.thinking !== undefined && body.thinking !== null) checkThinking(body.thinking);
  if (body.output_config !== undefined && body.output_config !== null && !isObj(body.output_config)) throw invalidValue('output_config', '"output_config" must be an object.');
  return body;
}
