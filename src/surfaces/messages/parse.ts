// A Messages request → the canonical (Chat Completions-shaped) request plus the request's
// facts. The client's own body is kept untouched for the native lane; the canonical form
// drops what only Anthropic understands and lists what it could not carry, so a model
// without an Anthropic channel can refuse it by name instead of answering something else.
import type { CanonicalExtensions, ReasoningControl } from '../../core/canonical.js';
import type { ChatMessage, ChatRequest, ContentPart, ToolCall, ToolChoice, ToolDefinition } from '../../core/types.js';
import type { InboundHeaders, ParsedRequest } from '../types.js';
import { isObj, type Json, validateMessagesBody } from './validate.js';

/** The parsed request with what the translation lane cannot carry (read back by checkModel). */
export interface MessagesParsed extends ParsedRequest {
  untranslatable: string[];
}

export function isMessagesParsed(p: ParsedRequest): p is MessagesParsed {
  return Array.isArray((p as Partial<MessagesParsed>).untranslatable);
}

/** The inbound headers an Anthropic upstream must see as the client sent them. */
const FORWARDED = ['anthropic-version', 'anthropic-beta'] as const;

const TOOL_CHOICE: Readonly<Record<string, ToolChoice>> = { auto: 'auto', any: 'required', none: 'none' };

/** Anthropic's effort levels in OpenAI's words; "max" is beyond every OpenAI level, so it becomes the highest. */
const EFFORT: Readonly<Record<string, ReasoningControl['effort']>> = { low: 'low', medium: 'medium', high: 'high', xhigh: 'xhigh', max: 'xhigh' };

interface Converter {
  messages: ChatMessage[];
  untranslatable: string[];
}

function textOfBlocks(blocks: unknown[]): string {
  let out = '';
  for (const b of blocks) if (isObj(b) && b.type === 'text' && typeof b.text === 'string') out += out === '' ? b.text : `\n\n${b.text}`;
  return out;
}

function imagePart(source: Json, at: string, conv: Converter): ContentPart | undefined {
  if (source.type === 'base64') return { type: 'image_url', image_url: { url: `data:${String(source.media_type)};base64,${String(source.data)}` } };
  if (source.type === 'url') return { type: 'image_url', image_url: { url: String(source.url) } };
  conv.untranslatable.push(`${at} (an image from the Files API)`);
  return undefined;
}

function documentParts(b: Json, at: string, conv: Converter): ContentPart[] {
  const source = b.source as Json;
  const title = typeof b.title === 'string' && b.title !== '' ? `${b.title}\n\n` : '';
  switch (source.type) {
    case 'base64':
      return [{ type: 'file', file: { filename: typeof b.title === 'string' ? b.title : 'document.pdf', file_data: `data:application/pdf;base64,${String(source.data)}` } }];
    case 'text':
      return [{ type: 'text', text: `${title}${String(source.data)}` }];
    case 'content':
      if (typeof source.content === 'string') return [{ type: 'text', text: `${title}${source.content}` }];
      return (source.content as unknown[]).flatMap((inner, i) => userPart(inner as Json, `${at}.source.content[${i}]`, conv));
    default:
      conv.untranslatable.push(`${at} (a ${String(source.type)} document)`);
      return [];
  }
}

function userPart(b: Json, at: string, conv: Converter): ContentPart[] {
  switch (b.type) {
    case 'text':
      return [{ type: 'text', text: String(b.text) }];
    case 'image': {
      const part = imagePart(b.source as Json, at, conv);
      return part ? [part] : [];
    }
    case 'document':
      return documentParts(b, at, conv);
    case 'search_result': {
      const body = Array.isArray(b.content) ? textOfBlocks(b.content) : '';
      return [{ type: 'text', text: `${typeof b.title === 'string' ? `${b.title}\n` : ''}${typeof b.source === 'string' ? `${b.source}\n` : ''}${body}` }];
    }
    default:
      // Server-tool results and newer blocks mean nothing to another provider's model.
      conv.untranslatable.push(`${at} (a ${String(b.type)} block)`);
      return [];
  }
}

/** Text-only content collapses to a string: every provider takes that, not every one takes part arrays. */
function contentOf(parts: ContentPart[]): string | ContentPart[] {
  if (parts.every((p) => p.type === 'text')) return parts.map((p) => (p as { text: string }).text).join('\n\n');
  return parts;
}

function toolResultMessage(b: Json, at: string, conv: Converter): ChatMessage {
  let parts: ContentPart[] = [];
  if (typeof b.content === 'string') parts = [{ type: 'text', text: b.content }];
  else if (Array.isArray(b.content)) {
    b.content.forEach((inner, i) => {
      parts.push(...userPart(inner as Json, `${at}.content[${i}]`, conv));
    });
  }
  let content = contentOf(parts);
  // Chat has no error flag on tool results; the model still needs to know the call failed.
  if (b.is_error === true) content = typeof content === 'string' ? `Error: ${content}` : [{ type: 'text', text: 'Error:' }, ...content];
  return { role: 'tool', tool_call_id: String(b.tool_use_id), content };
}

function userTurn(content: unknown, at: string, conv: Converter): void {
  if (typeof content === 'string') {
    conv.messages.push({ role: 'user', content });
    return;
  }
  const blocks = content as Json[];
  const parts: ContentPart[] = [];
  // Chat wants tool results as their own messages right after the assistant's calls, before the user's words.
  blocks.forEach((b, j) => {
    if (b.type === 'tool_result') conv.messages.push(toolResultMessage(b, `${at}.content[${j}]`, conv));
    else parts.push(...userPart(b, `${at}.content[${j}]`, conv));
  });
  if (parts.length > 0) conv.messages.push({ role: 'user', content: contentOf(parts) });
}

function assistantTurn(content: unknown, at: string, conv: Converter): void {
  if (typeof content === 'string') {
    conv.messages.push({ role: 'assistant', content });
    return;
  }
  let text: string | null = null;
  let reasoning: string | undefined;
  let signature: string | undefined;
  const redacted: string[] = [];
  const calls: ToolCall[] = [];
  (content as Json[]).forEach((b, j) => {
    switch (b.type) {
      case 'text':
        text = text === null ? String(b.text) : text + String(b.text);
        return;
      case 'thinking':
        reasoning = reasoning === undefined ? String(b.thinking) : reasoning + String(b.thinking);
        signature = String(b.signature);
        return;
      case 'redacted_thinking':
        redacted.push(String(b.data));
        return;
      case 'tool_use':
        calls.push({ id: String(b.id), type: 'function', function: { name: String(b.name), arguments: JSON.stringify(b.input) } });
        return;
      default:
        conv.untranslatable.push(`${at}.content[${j}] (a ${String(b.type)} block)`);
    }
  });
  const msg: ChatMessage = { role: 'assistant', content: text };
  if (calls.length > 0) msg.tool_calls = calls;
  if (reasoning !== undefined) msg.reasoning_content = reasoning;
  if (signature !== undefined && signature !== '') msg.reasoning_signature = signature;
  if (redacted.length > 0) msg.reasoning_redacted = redacted;
  conv.messages.push(msg);
}

function toolsOf(tools: Json[]): ToolDefinition[] {
  const out: ToolDefinition[] = [];
  for (const t of tools) {
    // Anthropic-defined tools (bash, text editor, web search …) exist only on Anthropic's side; other models do without them.
    if (t.type !== undefined && t.type !== null && t.type !== 'custom') continue;
    const fn: ToolDefinition['function'] = { name: String(t.name), parameters: t.input_schema as Json };
    if (typeof t.description === 'string') fn.description = t.description;
    if (t.strict === true) fn.strict = true;
    out.push({ type: 'function', function: fn });
  }
  return out;
}

function reasoningOf(body: Json): ReasoningControl | undefined {
  const thinking = isObj(body.thinking) ? body.thinking : undefined;
  const effort = isObj(body.output_config) && typeof body.output_config.effort === 'string' ? EFFORT[body.output_config.effort] : undefined;
  if (thinking?.type === 'enabled') return { budget_tokens: thinking.budget_tokens as number, ...(effort ? { effort } : {}) };
  if (thinking?.type === 'disabled') return undefined;
  return effort ? { effort } : undefined;
}

/** The canonical request every translating adapter receives. */
export function toCanonical(body: Json): { canonical: ChatRequest; untranslatable: string[] } {
  const conv: Converter = { messages: [], untranslatable: [] };
  if (typeof body.system === 'string' && body.system !== '') conv.messages.push({ role: 'system', content: body.system });
  else if (Array.isArray(body.system) && body.system.length > 0) conv.messages.push({ role: 'system', content: textOfBlocks(body.system) });
  (body.messages as Json[]).forEach((m, i) => {
    if (m.role === 'user') userTurn(m.content, `messages[${i}]`, conv);
    else if (m.role === 'assistant') assistantTurn(m.content, `messages[${i}]`, conv);
    else conv.messages.push({ role: 'system', content: typeof m.content === 'string' ? m.content : textOfBlocks(m.content as unknown[]) });
  });

  const req: ChatRequest = { model: body.model as string, messages: conv.messages };
  if (typeof body.max_tokens === 'number') req.max_tokens = body.max_tokens;
  if (body.stream === true) req.stream = true;
  if (typeof body.temperature === 'number') req.temperature = body.temperature;
  if (typeof body.top_p === 'number') req.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) req.stop = body.stop_sequences as string[];
  const userId = isObj(body.metadata) ? body.metadata.user_id : undefined;
  if (typeof userId === 'string' && userId !== '') req.user = userId;

  const tools = Array.isArray(body.tools) ? toolsOf(body.tools as Json[]) : [];
  const choice = isObj(body.tool_choice) ? body.tool_choice : undefined;
  if (tools.length > 0) {
    req.tools = tools;
    if (choice !== undefined) {
      req.tool_choice = choice.type === 'tool' ? { type: 'function', function: { name: String(choice.name) } } : TOOL_CHOICE[String(choice.type)];
      if (choice.disable_parallel_tool_use === true) req.parallel_tool_calls = false;
    }
  }
  const format = isObj(body.output_config) && isObj(body.output_config.format) ? body.output_config.format : undefined;
  if (format?.type === 'json_schema' && isObj(format.schema)) req.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema } };

  const ext: CanonicalExtensions = { surface: 'messages' };
  const reasoning = reasoningOf(body);
  if (reasoning) ext.reasoning = reasoning;
  if (typeof body.top_k === 'number') ext.top_k = body.top_k;
  req.tollgate = ext;
  return { canonical: req, untranslatable: conv.untranslatable };
}

/** The most output a request may produce; an interleaved-thinking budget may exceed max_tokens. */
export function maxOutputOf(body: Json): number | undefined {
  const max = typeof body.max_tokens === 'number' ? body.max_tokens : undefined;
  const thinking = isObj(body.thinking) && body.thinking.type === 'enabled' ? (body.thinking.budget_tokens as number) : undefined;
  if (max === undefined) return thinking;
  return thinking !== undefined && thinking > max ? thinking : max;
}

export function forwardHeadersOf(headers: InboundHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = headers[name];
    if (typeof v === 'string' && v !== '') out[name] = v;
  }
  return out;
}

/** `countOnly`: a count_tokens body, which has no max_tokens. */
export function parseMessagesRequest(raw: unknown, headers: InboundHeaders, countOnly = false): MessagesParsed {
  const body = validateMessagesBody(raw, { requireMaxTokens: !countOnly });
  const { canonical, untranslatable } = toCanonical(body);
  return {
    canonical,
    native: body,
    forwardHeaders: forwardHeadersOf(headers),
    facts: {
      model: body.model as string,
      fallbacks: [],
      stream: body.stream === true,
      maxOutputTokens: maxOutputOf(body),
      n: 1,
      relayUsageFrames: true,
    },
    untranslatable,
  };
}
