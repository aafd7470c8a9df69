// OpenAI Chat Completions request → Anthropic Messages request body.
// Pure: builds a plain object; the adapter serialises it and decides the URL and headers.
import { GatewayError } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ContentPart, ToolChoice, ToolDefinition } from '../../core/types.js';
import type { AdapterContext } from '../types.js';

type Block = Record<string, unknown>;

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

export interface AnthropicRequestBody {
  model: string;
  messages: AnthropicMessage[];
  max_tokens: number;
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  metadata?: { user_id: string };
  tools?: Array<{ name: string; description?: string; input_schema: Record<string, unknown> }>;
  tool_choice?: Block;
  stream?: true;
}

/** OpenAI parameters this adapter translates, or accepts and drops because they cannot change the answer. */
export const ANTHROPIC_SUPPORTED_PARAMETERS = [
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'stream',
  'stream_options',
  'stop',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'functions',
  'function_call',
  'response_format',
  'user',
  'safety_identifier',
  'metadata',
  'seed',
  'store',
  'service_tier',
  'prompt_cache_key',
  'reasoning_effort',
  'verbosity',
  'presence_penalty',
  'frequency_penalty',
] as const;

/**
 * Parameters that would change the result but have no Anthropic equivalent. Each entry says
 * when a value is actually in use (n:1 or logprobs:false are harmless) and why it is refused.
 */
const UNSUPPORTED: ReadonlyArray<{ param: string; inUse: (v: unknown) => boolean; why: string }> = [
  { param: 'n', inUse: (v) => typeof v === 'number' && v > 1, why: 'Anthropic returns one choice per request; send n=1 or several requests' },
  { param: 'logprobs', inUse: (v) => v === true, why: 'Anthropic does not return token log probabilities' },
  { param: 'top_logprobs', inUse: (v) => typeof v === 'number' && v > 0, why: 'Anthropic does not return token log probabilities' },
  { param: 'logit_bias', inUse: (v) => v !== null && typeof v === 'object' && Object.keys(v).length > 0, why: 'Anthropic has no token biasing' },
  { param: 'presence_penalty', inUse: (v) => typeof v === 'number' && v !== 0, why: 'Anthropic has no presence penalty; remove it or set it to 0' },
  { param: 'frequency_penalty', inUse: (v) => typeof v === 'number' && v !== 0, why: 'Anthropic has no frequency penalty; remove it or set it to 0' },
  { param: 'modalities', inUse: (v) => Array.isArray(v) && v.includes('audio'), why: 'Anthropic models do not produce audio' },
  { param: 'audio', inUse: (v) => v !== null && v !== undefined, why: 'Anthropic models do not produce audio' },
  { param: 'prediction', inUse: (v) => v !== null && v !== undefined, why: 'Anthropic has no predicted outputs' },
  { param: 'web_search_options', inUse: (v) => v !== null && v !== undefined, why: 'web search is not available through this model' },
];

/** OpenAI's temperature runs 0–2, Anthropic's 0–1: values above 1 are clamped, not rescaled, so 0.7 means the same on both. */
const CLAMPS: ReadonlyArray<{ from: 'temperature' | 'top_p'; min: number; max: number }> = [
  { from: 'temperature', min: 0, max: 1 },
  { from: 'top_p', min: 0, max: 1 },
];

const TOOL_CHOICE: Readonly<Record<string, Block>> = {
  auto: { type: 'auto' },
  required: { type: 'any' },
  none: { type: 'none' },
};

const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

function fail(message: string, param = 'messages'): never {
  throw new GatewayError('invalid_messages', message, { param });
}

function unsupported(param: string, modelId: string, why: string): never {
  throw new GatewayError('unsupported_parameter', `The parameter '${param}' is not supported by model '${modelId}': ${why}.`, { param });
}

function textOf(content: ChatMessage['content'], where: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  let out = '';
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') out += out === '' ? part.text : `\n${part.text}`;
    else fail(`${where} may only contain text parts; got a '${part.type}' part.`);
  }
  return out;
}

/** `data:image/png;base64,AAAA` → its media type and payload; anything else is refused by name. */
function parseDataUrl(url: string, where: string): { mediaType: string; data: string } {
  const comma = url.indexOf(',');
  const meta = comma === -1 ? '' : url.slice(5, comma);
  if (comma === -1 || !meta.endsWith(';base64')) fail(`${where}: a data URL must be base64-encoded (data:<type>;base64,<data>).`);
  return { mediaType: meta.slice(0, -7).toLowerCase(), data: url.slice(comma + 1) };
}

function imageBlock(part: ContentPart, where: string): Block {
  const url = (part as { image_url?: { url?: unknown } }).image_url?.url;
  if (typeof url !== 'string' || url === '') fail(`${where}: image_url.url must be a non-empty string.`);
  if (url.startsWith('data:')) {
    const { mediaType, data } = parseDataUrl(url, where);
    if (!IMAGE_MEDIA_TYPES.has(mediaType)) fail(`${where}: image type '${mediaType}' is not supported; use JPEG, PNG, GIF or WebP.`);
    return { type: 'image', source: { type: 'base64', media_type: mediaType, data } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  return fail(`${where}: image_url.url must be an http(s) URL or a base64 data URL.`);
}

/** OpenAI `file` parts carry PDFs as data URLs; Anthropic takes them as document blocks. */
function fileBlock(part: ContentPart, where: string): Block {
  const file = (part as { file?: { file_data?: unknown } }).file;
  const data = file?.file_data;
  if (typeof data !== 'string' || !data.startsWith('data:')) fail(`${where}: only inline files (file.file_data as a data URL) can be sent to this model.`);
  const parsed = parseDataUrl(data, where);
  if (parsed.mediaType !== 'application/pdf') fail(`${where}: file type '${parsed.mediaType}' is not supported; only PDF files are.`);
  return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: parsed.data } };
}

// Anthropic refuses empty or whitespace-only text blocks, which OpenAI clients send freely (e.g. content: "").
function pushText(blocks: Block[], text: string): void {
  if (text.trim() !== '') blocks.push({ type: 'text', text });
}

function userBlocks(content: ChatMessage['content'], where: string): Block[] {
  const blocks: Block[] = [];
  if (content === null || content === undefined) return blocks;
  if (typeof content === 'string') {
    pushText(blocks, content);
    return blocks;
  }
  for (const part of content) {
    if (part.type === 'text') pushText(blocks, typeof part.text === 'string' ? part.text : '');
    else if (part.type === 'image_url') blocks.push(imageBlock(part, where));
    else if (part.type === 'file') blocks.push(fileBlock(part, where));
    else fail(`${where}: content parts of type '${part.type}' cannot be sent to this model.`);
  }
  return blocks;
}

function assistantBlocks(content: ChatMessage['content'], where: string): Block[] {
  const blocks: Block[] = [];
  if (content === null || content === undefined) return blocks;
  if (typeof content === 'string') {
    pushText(blocks, content);
    return blocks;
  }
  for (const part of content) {
    if (part.type === 'text') pushText(blocks, typeof part.text === 'string' ? part.text : '');
    else if (part.type === 'refusal') pushText(blocks, typeof part.refusal === 'string' ? part.refusal : '');
    else fail(`${where}: assistant content parts of type '${part.type}' cannot be sent to this model.`);
  }
  return blocks;
}

/**
 * The reasoning of an earlier Anthropic answer, handed back as Anthropic requires on the next
 * turn: the signed thinking block, then the redacted ones, ahead of the turn's text and tool
 * calls. Reasoning without a signature (another provider's) cannot be verified and is left out.
 */
function reasoningBlocks(m: ChatMessage): Block[] {
  const blocks: Block[] = [];
  const signature = m.reasoning_signature;
  if (typeof signature === 'string' && signature !== '') {
    blocks.push({ type: 'thinking', thinking: typeof m.reasoning_content === 'string' ? m.reasoning_content : '', signature });
  }
  for (const data of m.reasoning_redacted ?? []) if (typeof data === 'string' && data !== '') blocks.push({ type: 'redacted_thinking', data });
  return blocks;
}

function toolUseBlock(id: string, name: string, args: string, where: string): Block {
  let input: unknown;
  try {
    input = args.trim() === '' ? {} : JSON.parse(args);
  } catch {
    fail(`${where}: function.arguments of tool call '${name}' is not valid JSON.`);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    fail(`${where}: function.arguments of tool call '${name}' must be a JSON object.`);
  }
  return { type: 'tool_use', id, name, input };
}

function toolResultContent(content: ChatMessage['content'], where: string): string | Block[] {
  if (typeof content === 'string' || content === null || content === undefined) return content ?? '';
  return userBlocks(content, where);
}

/** Role-by-role translation; consecutive turns of one role are merged because Anthropic expects strict alternation. */
function translateMessages(messages: readonly ChatMessage[]): { system: string[]; turns: AnthropicMessage[] } {
  const system: string[] = [];
  const turns: AnthropicMessage[] = [];
  // Legacy function calls carry no id; results are matched to the latest call of the same name.
  const legacyCallIds = new Map<string, string>();
  let legacyCount = 0;

  const append = (role: 'user' | 'assistant', blocks: Block[]): void => {
    if (blocks.length === 0) return;
    const last = turns[turns.length - 1];
    if (last !== undefined && last.role === role) {
      // Anthropic wants tool results ahead of any other content in a user turn.
      if (role === 'user' && blocks[0]?.type === 'tool_result' && last.content.some((b) => b.type !== 'tool_result')) {
        const firstOther = last.content.findIndex((b) => b.type !== 'tool_result');
        last.content.splice(firstOther, 0, ...blocks);
      } else {
        for (const b of blocks) last.content.push(b);
      }
    } else turns.push({ role, content: blocks });
  };

  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const where = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const text = textOf(m.content, `${where} (${m.role})`);
        if (text.trim() !== '') system.push(text);
        break;
      }
      case 'user':
        append('user', userBlocks(m.content, where));
        break;
      case 'assistant': {
        const blocks = [...reasoningBlocks(m), ...assistantBlocks(m.content, where)];
        for (const call of m.tool_calls ?? []) {
          blocks.push(toolUseBlock(call.id, call.function?.name ?? '', call.function?.arguments ?? '', where));
        }
        if (m.function_call) {
          const id = `toolu_legacy_${legacyCount++}`;
          legacyCallIds.set(m.function_call.name, id);
          blocks.push(toolUseBlock(id, m.function_call.name, m.function_call.arguments ?? '', where));
        }
        append('assistant', blocks);
        break;
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') fail(`${where}: a tool message needs tool_call_id.`);
        append('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: toolResultContent(m.content, where) }]);
        break;
      }
      case 'function': {
        const id = m.name === undefined ? undefined : legacyCallIds.get(m.name);
        if (id === undefined) fail(`${where}: function message '${m.name ?? ''}' does not answer an earlier function_call.`);
        append('user', [{ type: 'tool_result', tool_use_id: id, content: toolResultContent(m.content, where) }]);
        break;
      }
      default:
        fail(`${where}: unknown role '${String(m.role)}'.`);
    }
  }
  return { system, turns };
}

function translateTools(req: ChatRequest, modelId: string): AnthropicRequestBody['tools'] {
  const defs: Array<{ name: string; description?: string; parameters?: Record<string, unknown> }> = [];
  for (const t of (req.tools ?? []) as Array<ToolDefinition | { type: string }>) {
    if (t.type !== 'function') unsupported('tools', modelId, `tools of type '${t.type}' are not available; only function tools are`);
    defs.push((t as ToolDefinition).function);
  }
  for (const f of req.functions ?? []) defs.push(f);
  if (defs.length === 0) return undefined;
  return defs.map((f) => ({
    name: f.name,
    ...(f.description !== undefined ? { description: f.description } : {}),
    input_schema: f.parameters ?? { type: 'object', properties: {} },
  }));
}

function translateToolChoice(req: ChatRequest, modelId: string): Block | undefined {
  const choice: ToolChoice | ChatRequest['function_call'] | undefined = req.tool_choice ?? req.function_call;
  let out: Block | undefined;
  if (typeof choice === 'string') {
    out = TOOL_CHOICE[choice];
    if (out === undefined) unsupported('tool_choice', modelId, `'${choice}' is not a known tool_choice`);
    out = { ...out };
  } else if (choice !== undefined && choice !== null) {
    const name = 'function' in choice ? choice.function?.name : (choice as { name?: string }).name;
    if (typeof name !== 'string') unsupported('tool_choice', modelId, 'only auto, required, none or a named function can be forced');
    out = { type: 'tool', name };
  }
  if (req.parallel_tool_calls === false && out?.type !== 'none') out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

function jsonInstruction(req: ChatRequest): string | undefined {
  const rf = req.response_format;
  if (rf === undefined || rf === null || rf.type === 'text') return undefined;
  if (rf.type === 'json_schema' && rf.json_schema?.schema !== undefined) {
    return `Answer with a single JSON object only, no prose and no code fences. It must validate against this JSON Schema: ${JSON.stringify(rf.json_schema.schema)}`;
  }
  return 'Answer with a single valid JSON object only, no prose and no code fences.';
}

export interface TranslateOptions {
  /** API version 2026-10-21 removed temperature and top_p; only older versions may receive them. */
  sampling: boolean;
}

export function toAnthropicRequest(req: ChatRequest, ctx: AdapterContext, opts: TranslateOptions = { sampling: true }): AnthropicRequestBody {
  const modelId = ctx.model.id;
  for (const rule of UNSUPPORTED) {
    if (rule.inUse(req[rule.param])) unsupported(rule.param, modelId, rule.why);
  }

  const { system, turns } = translateMessages(req.messages);
  const instruction = jsonInstruction(req);
  if (instruction !== undefined) system.push(instruction);

  const body: AnthropicRequestBody = {
    model: ctx.upstreamModel,
    messages: turns,
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? ctx.model.max_output_tokens,
  };
  if (system.length > 0) body.system = system.join('\n\n');

  if (opts.sampling) {
    for (const c of CLAMPS) {
      const v = req[c.from];
      if (typeof v === 'number') body[c.from] = Math.min(c.max, Math.max(c.min, v));
    }
  }

  const stop = req.stop;
  if (typeof stop === 'string' && stop !== '') body.stop_sequences = [stop];
  else if (Array.isArray(stop)) {
    const seqs = stop.filter((s) => typeof s === 'string' && s !== '');
    if (seqs.length > 0) body.stop_sequences = seqs;
  }

  // OpenAI's safety_identifier replaced `user` for the same purpose: abuse attribution per end user.
  const userId = req.user ?? (typeof req.safety_identifier === 'string' ? req.safety_identifier : undefined);
  if (typeof userId === 'string' && userId !== '') body.metadata = { user_id: userId };

  const tools = translateTools(req, modelId);
  if (tools !== undefined) {
    body.tools = tools;
    const choice = translateToolChoice(req, modelId);
    if (choice !== undefined) body.tool_choice = choice;
  }

  // reasoning_effort is dropped on purpose: Anthropic's extended thinking must echo signed thinking
  // blocks back on tool-use turns, which the OpenAI message shape cannot carry, so it would break
  // multi-turn tool conversations.
  if (ctx.stream) body.stream = true;
  return body;
}
