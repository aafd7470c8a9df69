// OpenAI Chat Completions request → Gemini generateContent body. Renames and value
// conversions are tables; only message flattening (role merging, tool results) is code.
import { GatewayError } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ResponseFormat, Role, ToolChoice } from '../../core/types.js';

export interface GeminiPart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { fileUri: string; mimeType: string };
  functionCall?: { name: string; args?: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response: Record<string, unknown>; id?: string };
}

export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parametersJsonSchema?: Record<string, unknown>;
}

export interface GeminiChatBody {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  generationConfig?: Record<string, unknown>;
  tools?: Array<{ functionDeclarations?: GeminiFunctionDeclaration[]; googleSearch?: Record<string, never> }>;
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } };
}

/**
 * Gemini 3 rejects a replayed function call without a thought signature. When the client's
 * history carries none (the call came from another provider, or the id was rewritten) this
 * documented placeholder tells the API to skip the check.
 */
export const SKIP_SIGNATURE = 'skip_thought_signature_validator';

const TOOL_CALL_ID_WITH_SIGNATURE = /^call_[A-Za-z0-9]*_\d+_([A-Za-z0-9_-]+)$/;

/**
 * Tool-call ids carry the part's thought signature (base64url) so that the client's normal
 * replay of the id brings it back; `call_<response>_<n>` when there is none. Response ids are
 * reduced to [A-Za-z0-9] so the signature suffix is the only part that may contain `_` or `-`.
 */
export function encodeToolCallId(responseKey: string, n: number, signature?: string): string {
  const base = `call_${responseKey}_${n}`;
  if (!signature) return base;
  return `${base}_${signature.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

export function signatureFromToolCallId(id: string): string | undefined {
  const m = TOOL_CALL_ID_WITH_SIGNATURE.exec(id);
  if (!m) return undefined;
  const b64 = m[1].replace(/-/g, '+').replace(/_/g, '/');
  return b64 + '='.repeat((4 - (b64.length % 4)) % 4);
}

type Convert = (value: unknown) => unknown;

const asArray: Convert = (v) => (Array.isArray(v) ? v : [v]);

/** Token budgets in the spirit of Gemini's own OpenAI-compatibility mapping for reasoning_effort. */
const THINKING_BUDGETS: Record<string, number> = { none: 0, minimal: 512, low: 1024, medium: 8192, high: 24576 };

/** [OpenAI field, generationConfig field, conversion]. Later rows win: max_completion_tokens overrides max_tokens. */
const GENERATION_CONFIG_FIELDS: ReadonlyArray<readonly [string, string, Convert?]> = [
  ['temperature', 'temperature'],
  ['top_p', 'topP'],
  ['max_tokens', 'maxOutputTokens'],
  ['max_completion_tokens', 'maxOutputTokens'],
  ['stop', 'stopSequences', asArray],
  ['n', 'candidateCount'],
  ['presence_penalty', 'presencePenalty'],
  ['frequency_penalty', 'frequencyPenalty'],
  ['seed', 'seed'],
  ['logprobs', 'responseLogprobs'],
  ['top_logprobs', 'logprobs'],
  ['reasoning_effort', 'thinkingConfig', (v) => ({ thinkingBudget: THINKING_BUDGETS[String(v)] ?? THINKING_BUDGETS.medium })],
];

/**
 * json_schema uses `responseJsonSchema` (plain JSON Schema) rather than `responseSchema`
 * (an OpenAPI subset that refuses common OpenAI strict-mode keywords such as additionalProperties).
 */
const RESPONSE_FORMATS: Record<string, (rf: ResponseFormat) => Record<string, unknown>> = {
  text: () => ({}),
  json_object: () => ({ responseMimeType: 'application/json' }),
  json_schema: (rf) =>
    rf.json_schema?.schema ? { responseMimeType: 'application/json', responseJsonSchema: rf.json_schema.schema } : { responseMimeType: 'application/json' },
};

/** Parameters that would silently change the answer if dropped. Everything else Gemini lacks is harmless metadata. */
const UNSUPPORTED_PARAMETERS: ReadonlyArray<{ param: string; present: (v: unknown) => boolean; why: string }> = [
  {
    param: 'logit_bias',
    present: (v) => v !== null && typeof v === 'object' && Object.keys(v).length > 0,
    why: 'Gemini models have no per-token bias control',
  },
  { param: 'modalities', present: (v) => Array.isArray(v) && v.includes('audio'), why: 'Gemini chat models served here return text only' },
  { param: 'audio', present: (v) => v !== null && v !== undefined, why: 'Gemini chat models served here return text only' },
  { param: 'prediction', present: (v) => v !== null && v !== undefined, why: 'Gemini has no predicted-output mode' },
];

const TOOL_CHOICE_MODES: Record<string, 'AUTO' | 'ANY' | 'NONE'> = { auto: 'AUTO', none: 'NONE', required: 'ANY' };

const IMAGE_MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
};

const AUDIO_MIME_BY_FORMAT: Record<string, string> = { wav: 'audio/wav', mp3: 'audio/mp3', flac: 'audio/flac', ogg: 'audio/ogg', aac: 'audio/aac' };

function invalidMessage(message: string): GatewayError {
  return new GatewayError('invalid_messages', message, { param: 'messages' });
}

function dataUrlPart(url: string, where: string): GeminiPart {
  const comma = url.indexOf(',');
  if (comma === -1) throw invalidMessage(`${where}: the data URL has no data after its header.`);
  const header = url.slice(5, comma);
  const payload = url.slice(comma + 1);
  const isBase64 = header.endsWith(';base64');
  const mimeType = (isBase64 ? header.slice(0, -7) : header).split(';')[0] || 'application/octet-stream';
  const data = isBase64 ? payload : Buffer.from(decodeURIComponent(payload), 'utf8').toString('base64');
  return { inlineData: { mimeType, data } };
}

function imagePart(url: string, where: string): GeminiPart {
  if (url.startsWith('data:')) return dataUrlPart(url, where);
  if (!/^https?:\/\//i.test(url)) throw invalidMessage(`${where}: image_url.url must be an http(s) URL or a data: URL.`);
  const path = url.split(/[?#]/)[0];
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return { fileData: { fileUri: url, mimeType: IMAGE_MIME_BY_EXTENSION[ext] ?? 'image/jpeg' } };
}

/** Parts arrive validated only by type name; each converter checks the fields it reads. */
type LoosePart = { type: string; [k: string]: unknown };
type PartConverter = (part: LoosePart, where: string) => GeminiPart;

const PART_CONVERTERS: Record<string, PartConverter> = {
  text: (p, where) => {
    if (typeof p.text !== 'string') throw invalidMessage(`${where}: a text part needs a string "text".`);
    return { text: p.text };
  },
  refusal: (p) => ({ text: String(p.refusal ?? '') }),
  image_url: (p, where) => {
    const url = (p.image_url as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string') throw invalidMessage(`${where}: an image_url part needs image_url.url.`);
    return imagePart(url, where);
  },
  input_audio: (p, where) => {
    const audio = p.input_audio as { data?: unknown; format?: unknown } | undefined;
    if (typeof audio?.data !== 'string') throw invalidMessage(`${where}: an input_audio part needs input_audio.data (base64).`);
    const format = String(audio.format ?? 'wav');
    return { inlineData: { mimeType: AUDIO_MIME_BY_FORMAT[format] ?? `audio/${format}`, data: audio.data } };
  },
  file: (p, where) => {
    const fileData = (p.file as { file_data?: unknown } | undefined)?.file_data;
    if (typeof fileData !== 'string' || !fileData.startsWith('data:')) {
      throw invalidMessage(`${where}: Gemini accepts file parts only as file.file_data data URLs (uploaded file ids are not reachable from Gemini).`);
    }
    return dataUrlPart(fileData, where);
  },
};

function contentParts(content: ChatMessage['content'], where: string): GeminiPart[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  const parts: GeminiPart[] = [];
  content.forEach((part, i) => {
    const convert = PART_CONVERTERS[part.type];
    if (!convert) throw invalidMessage(`${where}.content[${i}]: content part type "${part.type}" cannot be sent to Gemini.`);
    const converted = convert(part as LoosePart, `${where}.content[${i}]`);
    if (converted.text !== '') parts.push(converted);
  });
  return parts;
}

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const p of content as LoosePart[]) if (p.type === 'text' && typeof p.text === 'string') text += p.text;
  return text;
}

function parseArguments(raw: string, where: string): Record<string, unknown> {
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidMessage(`${where}: function arguments must be a JSON object, got text that is not JSON.`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidMessage(`${where}: function arguments must be a JSON object.`);
  }
  return parsed as Record<string, unknown>;
}

/** Gemini's functionResponse.response must be an object; tool output that is not one is wrapped. */
function toolResponse(content: ChatMessage['content']): Record<string, unknown> {
  const text = textOf(content);
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    return { content: parsed };
  } catch {
    return { content: text };
  }
}

interface Flattening {
  system: Array<{ text: string }>;
  contents: GeminiContent[];
  /** tool_call id → function name, as of the message being translated (ids may repeat across turns). */
  callNames: Map<string, string>;
}

function pushTurn(state: Flattening, role: GeminiContent['role'], parts: GeminiPart[]): void {
  if (parts.length === 0) return;
  const last = state.contents[state.contents.length - 1];
  if (last && last.role === role) last.parts.push(...parts);
  else state.contents.push({ role, parts });
}

function assistantParts(msg: ChatMessage, where: string, state: Flattening): GeminiPart[] {
  const parts = contentParts(msg.content, where);
  let first = true;
  for (const [i, call] of (msg.tool_calls ?? []).entries()) {
    const name = call?.function?.name;
    if (typeof name !== 'string' || name === '') throw invalidMessage(`${where}.tool_calls[${i}]: function.name is required.`);
    state.callNames.set(call.id, name);
    const part: GeminiPart = { functionCall: { name, args: parseArguments(call.function.arguments ?? '', `${where}.tool_calls[${i}]`) } };
    const signature = signatureFromToolCallId(call.id) ?? (first ? SKIP_SIGNATURE : undefined);
    if (signature) part.thoughtSignature = signature;
    first = false;
    parts.push(part);
  }
  if (msg.function_call) {
    const { name, arguments: args } = msg.function_call;
    parts.push({ functionCall: { name, args: parseArguments(args ?? '', `${where}.function_call`) }, thoughtSignature: SKIP_SIGNATURE });
  }
  return parts;
}

type RoleHandler = (msg: ChatMessage, where: string, state: Flattening) => void;

const systemHandler: RoleHandler = (msg, _where, state) => {
  const text = textOf(msg.content);
  if (text !== '') state.system.push({ text });
};

const ROLE_HANDLERS: Record<Role, RoleHandler> = {
  system: systemHandler,
  developer: systemHandler,
  user: (msg, where, state) => pushTurn(state, 'user', contentParts(msg.content, where)),
  assistant: (msg, where, state) => pushTurn(state, 'model', assistantParts(msg, where, state)),
  tool: (msg, where, state) => {
    const id = msg.tool_call_id ?? '';
    const name = state.callNames.get(id);
    if (!name) throw invalidMessage(`${where}: tool_call_id "${id}" does not match a tool call of an earlier assistant message.`);
    pushTurn(state, 'user', [{ functionResponse: { name, response: toolResponse(msg.content) } }]);
  },
  function: (msg, where, state) => {
    if (!msg.name) throw invalidMessage(`${where}: a function message needs "name".`);
    pushTurn(state, 'user', [{ functionResponse: { name: msg.name, response: toolResponse(msg.content) } }]);
  },
};

function flattenMessages(messages: readonly ChatMessage[]): Flattening {
  const state: Flattening = { system: [], contents: [], callNames: new Map() };
  messages.forEach((msg, i) => {
    const handler = ROLE_HANDLERS[msg.role];
    if (!handler) throw invalidMessage(`messages[${i}]: role "${msg.role}" is not supported.`);
    handler(msg, `messages[${i}]`, state);
  });
  return state;
}

function generationConfig(req: ChatRequest): Record<string, unknown> | undefined {
  const config: Record<string, unknown> = {};
  for (const [from, to, convert] of GENERATION_CONFIG_FIELDS) {
    const value = req[from];
    if (value === undefined || value === null) continue;
    config[to] = convert ? convert(value) : value;
  }
  const format = req.response_format;
  if (format) {
    const toFormat = RESPONSE_FORMATS[format.type];
    if (!toFormat) throw new GatewayError('invalid_value', `response_format.type "${format.type}" is not one of text, json_object, json_schema.`, { param: 'response_format' });
    Object.assign(config, toFormat(format));
  }
  return Object.keys(config).length > 0 ? config : undefined;
}

function declarations(req: ChatRequest): GeminiFunctionDeclaration[] {
  const defs = [...(req.tools ?? []).map((t) => t.function), ...(req.functions ?? [])];
  return defs.map((fn) => {
    const decl: GeminiFunctionDeclaration = { name: fn.name };
    if (fn.description) decl.description = fn.description;
    if (fn.parameters && Object.keys(fn.parameters).length > 0) decl.parametersJsonSchema = fn.parameters;
    return decl;
  });
}

type LegacyFunctionCall = ChatRequest['function_call'];

function functionCallingConfig(choice: ToolChoice | LegacyFunctionCall | undefined): GeminiChatBody['toolConfig'] {
  if (choice === undefined || choice === null) return undefined;
  if (typeof choice === 'string') {
    const mode = TOOL_CHOICE_MODES[choice];
    if (!mode) throw new GatewayError('invalid_value', `tool_choice "${choice}" is not one of none, auto, required.`, { param: 'tool_choice' });
    return { functionCallingConfig: { mode } };
  }
  const name = 'function' in choice ? choice.function?.name : (choice as { name?: string }).name;
  if (typeof name !== 'string') throw new GatewayError('invalid_value', 'tool_choice must name a function: {"type": "function", "function": {"name": …}}.', { param: 'tool_choice' });
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [name] } };
}

export function rejectUnsupportedParameters(req: ChatRequest): void {
  for (const { param, present, why } of UNSUPPORTED_PARAMETERS) {
    if (present(req[param])) {
      throw new GatewayError('unsupported_parameter', `\`${param}\` is not supported by this model: ${why}. Remove \`${param}\` or choose a model that supports it.`, {
        param,
      });
    }
  }
}

export function translateChatRequest(req: ChatRequest): GeminiChatBody {
  rejectUnsupportedParameters(req);
  const { system, contents } = flattenMessages(req.messages);
  const body: GeminiChatBody = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const config = generationConfig(req);
  if (config) body.generationConfig = config;
  const decls = declarations(req);
  const tools: NonNullable<GeminiChatBody['tools']> = [];
  if (decls.length > 0) tools.push({ functionDeclarations: decls });
  if (req.web_search_options !== undefined && req.web_search_options !== null) tools.push({ googleSearch: {} });
  if (tools.length > 0) body.tools = tools;
  if (decls.length > 0) {
    const toolConfig = functionCallingConfig(req.tool_choice ?? req.function_call);
    if (toolConfig) body.toolConfig = toolConfig;
  }
  return body;
}
