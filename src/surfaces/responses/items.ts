// Responses input items ↔ canonical chat messages. A run of assistant-side items (reasoning,
// message, function and custom tool calls) becomes one assistant message; tool outputs become
// tool messages. Reasoning Tollgate produced itself travels in `encrypted_content` as an opaque
// envelope, so a client that keeps nothing on the server (`store: false`) can hand it back.
import { randomBytes } from 'node:crypto';
import type { ChatMessage, ContentPart, ToolCall } from '../../core/types.js';
import { type ConvertedTools, canonicalToolName, invalid } from './tools.js';
import type { Json } from './types.js';

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function newItemId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('hex')}`;
}

/** The reasoning a translated answer carried, as the client must hand it back. */
export interface ReasoningState {
  text?: string;
  signature?: string;
  redacted?: string[];
}

const ENVELOPE = 'tg1.';

export function sealReasoning(r: ReasoningState): string | undefined {
  if (r.signature === undefined && (r.redacted === undefined || r.redacted.length === 0)) return undefined;
  const body: Json = {};
  if (r.text !== undefined) body.t = r.text;
  if (r.signature !== undefined) body.s = r.signature;
  if (r.redacted && r.redacted.length > 0) body.d = r.redacted;
  return ENVELOPE + Buffer.from(JSON.stringify(body)).toString('base64url');
}

function openReasoning(sealed: string): ReasoningState | undefined {
  if (!sealed.startsWith(ENVELOPE)) return undefined;
  try {
    const body = JSON.parse(Buffer.from(sealed.slice(ENVELOPE.length), 'base64url').toString('utf8')) as unknown;
    if (!isObj(body)) return undefined;
    const out: ReasoningState = {};
    if (typeof body.t === 'string') out.text = body.t;
    if (typeof body.s === 'string') out.signature = body.s;
    if (Array.isArray(body.d) && body.d.every((x) => typeof x === 'string')) out.redacted = body.d as string[];
    return out;
  } catch {
    return undefined;
  }
}

/** `input` (or array `instructions`, named by `param`) as the client sent it → a list of items (a string is one user message). */
export function normaliseInput(input: unknown, param = 'input'): Json[] {
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }];
  if (!Array.isArray(input)) throw invalid(param, `"${param}" must be a string or an array of input items.`);
  return input.map((item, i) => {
    if (!isObj(item)) throw invalid(`${param}[${i}]`, `${param}[${i}] must be an object (a message or another input item).`);
    return item;
  });
}

/** The id prefix of an input item of this type. */
export function itemIdPrefix(type: unknown): string {
  const t = type ?? 'message';
  return t === 'message' ? 'msg' : t === 'function_call_output' ? 'fco' : t === 'custom_tool_call_output' ? 'ctco' : 'item';
}

/** Gives every item an id (listed by GET /v1/responses/{id}/input_items); an id that is not a string is replaced. */
export function withIds(items: readonly Json[]): Json[] {
  return items.map((item) => {
    if (typeof item.id === 'string') return item;
    const { id: _none, ...rest } = item;
    return { id: newItemId(itemIdPrefix(item.type)), ...(item.type === undefined ? { type: 'message' } : {}), ...rest };
  });
}

/** An item or content part only a native upstream understands, and where the client sent it. */
export interface NativeOnlyInput {
  /** e.g. `input item "web_search_call"`, `content part "input_file"` */
  what: string;
  /** the field path of its type, e.g. `input[2].content[0].type` */
  param: string;
}

export interface ConvertedItems {
  messages: ChatMessage[];
  nativeOnly: NativeOnlyInput[];
}

function textOf(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(param, `${param} must be a string or an array of content parts.`);
  let s = '';
  for (const p of content) {
    if (isObj(p) && typeof p.text === 'string') s += p.text;
    else if (isObj(p) && typeof p.refusal === 'string') s += p.refusal;
  }
  return s;
}

function userParts(content: unknown, param: string, nativeOnly: NativeOnlyInput[]): string | ContentPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalid(param, `${param} must be a string or an array of content parts.`);
  const parts: ContentPart[] = [];
  content.forEach((p, j) => {
    const pp = `${param}[${j}]`;
    if (!isObj(p) || typeof p.type !== 'string') throw invalid(pp, `${pp} must be a content part with a "type".`);
    if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') {
      if (typeof p.text !== 'string') throw invalid(`${pp}.text`, `${pp} needs a "text" string.`);
      parts.push({ type: 'text', text: p.text });
    } else if (p.type === 'input_image') {
      if (typeof p.image_url === 'string') {
        const detail = p.detail === 'low' || p.detail === 'high' || p.detail === 'auto' ? p.detail : undefined;
        parts.push({ type: 'image_url', image_url: { url: p.image_url, ...(detail ? { detail } : {}) } });
      } else if (typeof p.file_id === 'string') nativeOnly.push({ what: 'content part "input_image" with a "file_id"', param: `${pp}.file_id` });
      else throw invalid(pp, `${pp} (input_image) needs an "image_url" or a "file_id".`);
    } else nativeOnly.push({ what: `content part "${p.type}"`, param: `${pp}.type` });
  });
  if (parts.length === 1 && parts[0].type === 'text') return (parts[0] as { text: string }).text;
  return parts;
}

function toolOutput(output: unknown, param: string): string | ContentPart[] {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) throw invalid(param, `${param} must be a string or an array of content parts.`);
  return userParts(output, param, []);
}

/**
 * Converts the whole conversation (array instructions, stored history, this request's input) to
 * canonical messages. `paths[i]` is where the client sent `items[i]` (`input[2]`), for errors.
 */
export function itemsToMessages(items: readonly Json[], tools: ConvertedTools, paths: readonly string[]): ConvertedItems {
  const messages: ChatMessage[] = [];
  const nativeOnly: NativeOnlyInput[] = [];
  let turn: ChatMessage | undefined;
  const flush = () => {
    if (turn) messages.push(turn);
    turn = undefined;
  };
  const assistant = (): ChatMessage => {
    turn ??= { role: 'assistant', content: null };
    return turn;
  };
  const addCall = (call: ToolCall) => {
    const a = assistant();
    (a.tool_calls ??= []).push(call);
  };

  items.forEach((item, i) => {
    const p = paths[i] ?? `input[${i}]`;
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    switch (type) {
      case 'message': {
        const role = item.role;
        if (role === 'assistant') {
          if (turn?.tool_calls) flush();
          const a = assistant();
          const text = textOf(item.content, `${p}.content`);
          a.content = typeof a.content === 'string' ? a.content + text : text;
          return;
        }
        if (role !== 'user' && role !== 'system' && role !== 'developer') {
          throw invalid(`${p}.role`, `${p}.role is ${JSON.stringify(role) ?? 'missing'}: it must be "user", "assistant", "system" or "developer".`);
        }
        flush();
        // Chat servers (vLLM, Ollama) know "system" far more widely than "developer".
        if (role === 'user') messages.push({ role: 'user', content: userParts(item.content, `${p}.content`, nativeOnly) });
        else messages.push({ role: 'system', content: textOf(item.content, `${p}.content`) });
        return;
      }
      case 'function_call':
      case 'custom_tool_call': {
        if (typeof item.call_id !== 'string' || typeof item.name !== 'string') throw invalid(p, `${p} (${type}) needs "call_id" and "name".`);
        let args: string;
        if (type === 'function_call') {
          if (typeof item.arguments !== 'string') throw invalid(`${p}.arguments`, `${p}.arguments must be a string of JSON.`);
          args = item.arguments;
        } else {
          if (typeof item.input !== 'string') throw invalid(`${p}.input`, `${p}.input must be a string.`);
          args = JSON.stringify({ input: item.input });
        }
        addCall({ id: item.call_id, type: 'function', function: { name: canonicalToolName(tools, item.name, item.namespace), arguments: args } });
        return;
      }
      case 'function_call_output':
      case 'custom_tool_call_output': {
        if (typeof item.call_id !== 'string') throw invalid(`${p}.call_id`, `${p}.call_id is missing: ${p} (${type}) needs the "call_id" of the call it answers.`);
        flush();
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: toolOutput(item.output, `${p}.output`) });
        return;
      }
      case 'reasoning': {
        if (turn && (turn.content !== null || turn.tool_calls)) flush();
        const a = assistant();
        const sealed = typeof item.encrypted_content === 'string' ? item.encrypted_content : undefined;
        const own = sealed !== undefined ? openReasoning(sealed) : undefined;
        let text = own?.text;
        if (text === undefined) {
          const pieces: string[] = [];
          for (const list of [item.content, item.summary]) {
            if (!Array.isArray(list)) continue;
            for (const s of list) if (isObj(s) && typeof s.text === 'string') pieces.push(s.text);
            if (pieces.length > 0) break;
          }
          if (pieces.length > 0) text = pieces.join('\n\n');
        }
        if (text !== undefined) a.reasoning_content = (typeof a.reasoning_content === 'string' ? `${a.reasoning_content}\n\n` : '') + text;
        if (own?.signature !== undefined) a.reasoning_signature = own.signature;
        // Another provider's encrypted reasoning (a Responses upstream's) means nothing to a
        // translated upstream and would be refused as Anthropic redacted thinking: it stays here.
        const redacted = own?.redacted;
        if (redacted && redacted.length > 0) (a.reasoning_redacted ??= []).push(...redacted);
        return;
      }
      case undefined:
        throw invalid(`${p}.type`, `${p} has no "type" (expected a message or another input item).`);
      default:
        if (typeof type !== 'string') throw invalid(`${p}.type`, `${p}.type must be a string such as "message" or "function_call_output".`);
        // item_reference, web_search_call, local_shell_call, …: meaningful only to a Responses upstream.
        nativeOnly.push({ what: `input item "${type}"`, param: `${p}.type` });
    }
  });
  flush();
  return { messages, nativeOnly };
}
