// The mock model: deterministic output from the request alone, with real token counts
// (the same tokenizer Tollgate uses for estimates), tool calls and embeddings.
import { countPromptTokens, countTextTokens, tokenizer } from '../../core/tokens.js';
import type { ChatMessage, ChatRequest, FinishReason, ToolCall } from '../../core/types.js';

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

export interface MockOutput {
  text: string | null;
  toolCalls: ToolCall[] | undefined;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

export interface MockOptions {
  /** exact number of words to generate (x-mock-words) */
  words?: number;
}

function generatedText(seed: number, words: number): string {
  const out: string[] = [];
  let s = seed || 1;
  for (let i = 0; i < words; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out.push(WORDS[s % WORDS.length]);
  }
  const text = out.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

function placeholderArgs(schema: unknown): Record<string, unknown> {
  const props = (schema as { properties?: Record<string, { type?: string; enum?: unknown[] }> } | undefined)?.properties ?? {};
  const args: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(props)) {
    if (Array.isArray(p.enum) && p.enum.length > 0) args[name] = p.enum[0];
    else if (p.type === 'number' || p.type === 'integer') args[name] = 1;
    else if (p.type === 'boolean') args[name] = true;
    else if (p.type === 'array') args[name] = [];
    else if (p.type === 'object') args[name] = {};
    else args[name] = 'mock';
  }
  return args;
}

function pickTool(req: ChatRequest, last: ChatMessage | undefined): { name: string; parameters: unknown } | undefined {
  const tools = req.tools?.filter((t) => t.type === 'function') ?? [];
  if (tools.length === 0 || req.tool_choice === 'none' || last?.role === 'tool') return undefined;
  const choice = req.tool_choice;
  if (choice && typeof choice === 'object') {
    const forced = tools.find((t) => t.function.name === choice.function?.name);
    return forced ? { name: forced.function.name, parameters: forced.function.parameters } : undefined;
  }
  const text = messageText(last).toLowerCase();
  if (choice === 'required' || text.includes('use the tool') || text.includes('call the tool')) {
    return { name: tools[0].function.name, parameters: tools[0].function.parameters };
  }
  return undefined;
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

export function mockCompletion(req: ChatRequest, opts: MockOptions = {}): MockOutput {
  const messages = req.messages;
  const last = messages[messages.length - 1];
  const promptTokens = countPromptTokens(messages, req.tools ?? req.functions);
  const tool = pickTool(req, last);
  if (tool) {
    const args = JSON.stringify(placeholderArgs(tool.parameters));
    const id = `call_mock_${fnv1a(JSON.stringify(messages)).toString(36)}`;
    return {
      text: null,
      toolCalls: [{ id, type: 'function', function: { name: tool.name, arguments: args } }],
      finishReason: 'tool_calls',
      promptTokens,
      completionTokens: countTextTokens(tool.name) + countTextTokens(args),
    };
  }
  const lastText = messageText(last);
  let text: string;
  if (last?.role === 'tool') text = `Tool result received: ${lastText}`;
  else if (lastText.startsWith('echo:')) text = lastText.slice(5).trimStart();
  else {
    const seed = fnv1a(JSON.stringify(messages));
    text = generatedText(seed, opts.words ?? 8 + (seed % 24));
  }
  let finishReason: FinishReason = 'stop';
  const stopped = cutAtStop(text, req.stop);
  text = stopped.text;
  const maxOut = req.max_completion_tokens ?? req.max_tokens ?? undefined;
  let tokens = tokenizer().encode(text);
  if (maxOut !== undefined && maxOut !== null && tokens.length > maxOut) {
    tokens = tokens.slice(0, maxOut);
    text = tokenizer().decode(tokens);
    finishReason = 'length';
  }
  return { text, toolCalls: undefined, finishReason, promptTokens, completionTokens: tokens.length };
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
