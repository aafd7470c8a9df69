// The mock model: deterministic output from the request alone, with real token counts
// (the o200k tokenizer), tool calls by a documented rule, JSON for response_format, `n`
// choices and embeddings. docs/mock.md is its user-facing description.
import { countPromptTokens, countTextTokens, encodeText, tokenizer } from '../../core/tokens.js';
import type { ChatMessage, ChatRequest, FinishReason, ToolCall, ToolDefinition } from '../../core/types.js';
import { jsonInstance } from './json-instance.js';

const WORDS = [
  'the', 'gateway', 'routes', 'every', 'request', 'to', 'a', 'healthy', 'channel', 'and', 'bills', 'tokens', 'exactly',
  'mock', 'model', 'answers', 'with', 'deterministic', 'text', 'so', 'tests', 'can', 'rely', 'on', 'it', 'while',
  'streams', 'arrive', 'chunk', 'by', 'chunk', 'latency', 'stays', 'low', 'budgets', 'hold', 'under', 'load', 'fallbacks',
  'keep', 'answering', 'when', 'providers', 'fail', 'caches', 'return', 'repeated', 'prompts', 'quickly', 'limits',
  'protect', 'each', 'organisation', 'from', 'surprises', 'in', 'production', 'traffic', 'today', 'always',
];

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function messageText(m: ChatMessage | undefined): string {
  if (!m) return '';
  if (typeof m.content === 'string') return m.content;
  if (Array.isArray(m.content)) return m.content.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join(' ');
  return '';
}

export interface MockChoice {
  text: string | null;
  toolCalls: ToolCall[] | undefined;
  finishReason: FinishReason;
  completionTokens: number;
}

export interface MockOutput {
  /** `n` choices (one when `n` is unset) */
  choices: MockChoice[];
  promptTokens: number;
  /** summed over the choices, as OpenAI bills them */
  completionTokens: number;
}

export interface MockOptions {
  /** exact number of words to generate (x-mock-words) */
  words?: number;
}

/** A request the mock refuses as OpenAI would (400), e.g. tool_choice naming a tool that is not in `tools`. */
export class MockRequestError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

const MAX_CHOICES = 128;

export function generatedText(seed: number, words: number): string {
  const out: string[] = [];
  let s = seed || 1;
  for (let i = 0; i < words; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out.push(WORDS[s % WORDS.length]);
  }
  const text = out.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function lastUserText(messages: readonly ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return messageText(messages[i]);
  return '';
}

/**
 * The tools this turn calls (see docs/mock.md): none for `tool_choice: "none"`; the named tool
 * for a named choice; for `"required"`, and for `"auto"` (or unset) when the last message is
 * the user's, the tools whose names the last user message mentions, else the first tool
 * (only one when `parallel_tool_calls` is false). `"auto"` never calls a tool right after a
 * tool result or an assistant turn.
 */
function toolsToCall(req: ChatRequest): ToolDefinition[] {
  const tools = Array.isArray(req.tools) ? req.tools.filter((t) => t?.type === 'function' && typeof t.function?.name === 'string') : [];
  const choice = req.tool_choice ?? 'auto';
  if (choice === 'none') return [];
  if (typeof choice === 'object' && choice !== null && choice.type === 'function') {
    const name = choice.function?.name;
    const named = tools.find((t) => t.function.name === name);
    if (!named) throw new MockRequestError(`Invalid value for 'tool_choice': the function "${String(name)}" is not in 'tools'.`, 'tool_choice');
    return [named];
  }
  if (tools.length === 0) {
    if (choice === 'required') throw new MockRequestError("'tool_choice' is \"required\" but no 'tools' were given.", 'tool_choice');
    return [];
  }
  if (choice !== 'required' && req.messages[req.messages.length - 1]?.role !== 'user') return [];
  const text = lastUserText(req.messages).toLowerCase();
  const mentioned = tools.filter((t) => text.includes(t.function.name.toLowerCase()));
  const selected = mentioned.length > 0 ? mentioned : [tools[0]];
  return req.parallel_tool_calls === false ? selected.slice(0, 1) : selected;
}

function cutAtStop(text: string, stop: string | string[] | null | undefined): { text: string; stopped: boolean } {
  if (!stop) return { text, stopped: false };
  const list = typeof stop === 'string' ? [stop] : stop;
  let cut = -1;
  for (const s of list) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i !== -1 && (cut === -1 || i < cut)) cut = i;
  }
  return cut === -1 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

function isJsonObjectText(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** The text of a choice that calls no tool: JSON when response_format asks for it, else the mock's text rules. */
function answerText(req: ChatRequest, seed: number, index: number, opts: MockOptions): string {
  const messages = req.messages;
  const last = messages[messages.length - 1];
  const lastText = messageText(last);
  const format = req.response_format;
  if (format?.type === 'json_schema') {
    const schema = format.json_schema?.schema ?? {};
    return JSON.stringify(jsonInstance(schema, index));
  }
  if (format?.type === 'json_object') {
    const echoed = lastText.startsWith('echo:') ? lastText.slice(5).trim() : '';
    return isJsonObjectText(echoed) ? echoed : JSON.stringify({ answer: generatedText(seed, opts.words ?? 8 + (seed % 24)) });
  }
  if (last?.role === 'tool') return `Tool result received: ${lastText}`;
  if (lastText.startsWith('echo:')) return lastText.slice(5).trimStart();
  return generatedText(seed, opts.words ?? 8 + (seed % 24));
}

function completionChoice(req: ChatRequest, tools: ToolDefinition[], conversation: string, index: number, opts: MockOptions): MockChoice {
  // Choice 0 keeps the seed of a single answer; further choices differ from it.
  const seed = fnv1a(index === 0 ? conversation : `${conversation}#${index}`);
  if (tools.length > 0) {
    const toolCalls = tools.map((t, k): ToolCall => {
      const args = JSON.stringify(jsonInstance(t.function.parameters ?? { type: 'object', properties: {} }, index));
      return { id: `call_mock_${fnv1a(`${conversation}#${index}#${k}`).toString(36)}`, type: 'function', function: { name: t.function.name, arguments: args } };
    });
    let completionTokens = 0;
    for (const tc of toolCalls) completionTokens += countTextTokens(tc.function.name) + countTextTokens(tc.function.arguments);
    return { text: null, toolCalls, finishReason: 'tool_calls', completionTokens };
  }
  let text = answerText(req, seed, index, opts);
  let finishReason: FinishReason = 'stop';
  text = cutAtStop(text, req.stop).text;
  const maxOut = req.max_completion_tokens ?? req.max_tokens ?? undefined;
  let tokens = encodeText(text);
  if (maxOut !== undefined && maxOut !== null && tokens.length > maxOut) {
    tokens = tokens.slice(0, maxOut);
    text = tokenizer().decode(tokens);
    finishReason = 'length';
  }
  return { text, toolCalls: undefined, finishReason, completionTokens: tokens.length };
}

export function mockCompletion(req: ChatRequest, opts: MockOptions = {}): MockOutput {
  const messages = req.messages;
  const promptTokens = countPromptTokens(messages, req.tools ?? req.functions);
  const tools = toolsToCall(req);
  const conversation = JSON.stringify(messages);
  const n = typeof req.n === 'number' && Number.isInteger(req.n) && req.n > 1 ? Math.min(req.n, MAX_CHOICES) : 1;
  const choices: MockChoice[] = [];
  let completionTokens = 0;
  for (let i = 0; i < n; i++) {
    const c = completionChoice(req, tools, conversation, i, opts);
    completionTokens += c.completionTokens;
    choices.push(c);
  }
  return { choices, promptTokens, completionTokens };
}

/** Splits text into stream pieces (a word and its trailing space) that concatenate back exactly. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text.length > 0 ? [text] : []);
}

/** Deterministic bag-of-words embedding: texts sharing words point the same way. */
export function mockEmbedding(text: string, dims: number): number[] {
  const v = new Array<number>(dims).fill(0);
  const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  for (const w of words) {
    const h = fnv1a(w);
    v[h % dims] += 1;
    v[(h >>> 8) % dims] += 0.5;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  return v.map((x) => x / norm);
}
