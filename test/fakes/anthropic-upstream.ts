// A local stand-in for the Anthropic Messages API (versions 2023-06-01 and 2026-10-21) for end-to-end tests:
// deterministic answers computed from the request, the documented SSE event sequence, the
// documented error shapes, and a script of failures for retry and fallback tests.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeAnthropicOptions {
  /** Only this key is accepted; by default any non-empty x-api-key is. */
  apiKey?: string;
  /** Pause between stream events, to exercise idle timeouts and incremental forwarding. */
  eventDelayMs?: number;
}

/** One scripted behaviour, applied to the next `times` (default 1) Messages requests. */
export type FakeAnthropicStep =
  | { status: number; type?: string; message?: string; headers?: Record<string, string>; times?: number }
  /** Streams `afterEvents` (default 1: message_start) normal events, then an `error` event. Non-stream requests get the matching HTTP error. */
  | { streamError: { type: string; message?: string }; afterEvents?: number; times?: number }
  /** Sends `afterEvents` stream events (or half the JSON body) and then resets the connection. */
  | { cut: true; afterEvents?: number; times?: number }
  /** Waits before answering normally. */
  | { delayMs: number; times?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the body was JSON, the raw text otherwise. */
  body: unknown;
}

export interface FakeAnthropic {
  url: string;
  requests: RecordedRequest[];
  script(...steps: FakeAnthropicStep[]): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
type Block = Json & { type: string };

const STATUS_BY_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};
const TYPE_BY_STATUS: Record<number, string> = Object.fromEntries(Object.entries(STATUS_BY_TYPE).map(([t, s]) => [s, t]));
const DEFAULT_MESSAGE: Record<string, string> = {
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error: 'This request would exceed the rate limit for your organization.',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
};

const REQUEST_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'stream',
  'metadata',
  'tools',
  'tool_choice',
  'thinking',
  'service_tier',
  'container',
  'mcp_servers',
  'output_config',
  'context_management',
]);
/** Sampling parameters that API version 2026-10-21 removed; 2023-06-01 still takes them. */
const SAMPLING_FIELDS = ['temperature', 'top_p', 'top_k'];
const API_VERSIONS = new Set(['2023-06-01', '2026-10-21']);
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** The fake's tokenizer: a word with its leading space is one token. Deterministic and easy to predict in tests. */
export function countFakeTokens(text: string): number {
  return splitFakeTokens(text).length;
}

function splitFakeTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function realisticId(prefix: string): string {
  const bytes = randomBytes(22);
  let s = '';
  for (const b of bytes) s += B62[b % 62];
  return `${prefix}_01${s}`;
}

class InvalidRequest extends Error {}

function invalid(message: string): never {
  throw new InvalidRequest(message);
}

function blocksOf(content: unknown): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return Array.isArray(content) ? (content as Block[]) : [];
}

function textOfBlocks(blocks: Block[]): string {
  return blocks
    .filter((b) => b.type === 'text')
    .map((b) => String(b.text))
    .join(' ');
}

function toolResultText(b: Block): string {
  return typeof b.content === 'string' ? b.content : textOfBlocks(blocksOf(b.content));
}

/** The checks the real API makes that an adapter is most likely to trip. Messages follow Anthropic's wording. */
function validate(body: Json, version: string): void {
  for (const key of Object.keys(body)) {
    if (!REQUEST_FIELDS.has(key) || (version !== '2023-06-01' && SAMPLING_FIELDS.includes(key))) invalid(`${key}: Extra inputs are not permitted`);
  }
  if (typeof body.model !== 'string') invalid('model: Field required');
  if (typeof body.max_tokens !== 'number') invalid('max_tokens: Field required');
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) invalid('max_tokens: Input should be greater than or equal to 1');
  if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) {
    invalid('temperature: Input should be less than or equal to 1');
  }
  if (body.tool_choice !== undefined && !Array.isArray(body.tools)) invalid('tool_choice may only be specified while providing tools');
  if (!Array.isArray(body.messages)) invalid('messages: Field required');
  const messages = body.messages as Json[];
  if (messages.length === 0) invalid('messages: at least one message is required');
  messages.forEach((m, i) => {
    if (m.role !== 'user' && m.role !== 'assistant') {
      if (m.role === 'system') {
        invalid('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.');
      }
      invalid(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    }
    const blocks = blocksOf(m.content);
    if (blocks.length === 0 && i !== messages.length - 1) invalid(`messages.${i}: all messages must have non-empty content except for the optional final assistant message`);
    blocks.forEach((b, j) => {
      const at = `messages.${i}.content.${j}`;
      if (b.type === 'text' && typeof b.text !== 'string') invalid(`${at}.text.text: Field required`);
      if (b.type === 'text' && b.text === '') invalid('messages: text content blocks must be non-empty');
      if (b.type === 'text' && String(b.text).trim() === '') invalid('messages: text content blocks must contain non-whitespace text');
      if (b.type === 'image') {
        const src = (b.source ?? {}) as Json;
        if (src.type === 'base64' && (!IMAGE_TYPES.has(String(src.media_type)) || typeof src.data !== 'string')) invalid(`${at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
        if (src.type === 'url' && typeof src.url !== 'string') invalid(`${at}.image.source.url.url: Field required`);
        if (src.type !== 'base64' && src.type !== 'url') invalid(`${at}.image.source: Input tag '${String(src.type)}' found using 'type' does not match any of the expected tags: 'base64', 'url'`);
      }
      if (b.type === 'document' && m.role === 'assistant' && version !== '2023-06-01') invalid(`${at}: document blocks are not allowed in assistant messages`);
      if (b.type === 'tool_use' && (m.role !== 'assistant' || typeof b.input !== 'object' || b.input === null || Array.isArray(b.input))) {
        invalid(`${at}.tool_use.input: Input should be a valid dictionary`);
      }
      if (b.type === 'tool_result') {
        const prev = i > 0 ? blocksOf(messages[i - 1].content) : [];
        if (m.role !== 'user' || !prev.some((p) => p.type === 'tool_use' && p.id === b.tool_use_id)) {
          invalid(
            `${at}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
          );
        }
      }
    });
    const uses = blocks.filter((b) => b.type === 'tool_use');
    const next = messages[i + 1];
    if (uses.length > 0 && next !== undefined) {
      const answered = new Set(blocksOf(next.content).filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id));
      const missing = uses.filter((u) => !answered.has(u.id)).map((u) => String(u.id));
      if (missing.length > 0) {
        invalid(`messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
      }
    }
  });
}

function inputTokens(body: Json): number {
  let n = 0;
  const system = body.system;
  if (typeof system === 'string') n += countFakeTokens(system);
  else if (Array.isArray(system)) n += countFakeTokens(textOfBlocks(system as Block[]));
  for (const m of body.messages as Json[]) {
    n += 3;
    for (const b of blocksOf(m.content)) {
      if (b.type === 'text') n += countFakeTokens(String(b.text));
      else if (b.type === 'tool_use') n += countFakeTokens(`${String(b.name)} ${JSON.stringify(b.input)}`);
      else if (b.type === 'tool_result') n += countFakeTokens(toolResultText(b));
      else if (b.type === 'image') n += 85;
      else n += 100;
    }
  }
  if (Array.isArray(body.tools)) n += countFakeTokens(JSON.stringify(body.tools));
  return n;
}

function sampleValue(schema: unknown): unknown {
  const type = (schema as Json | undefined)?.type;
  const enums = (schema as Json | undefined)?.enum;
  if (Array.isArray(enums) && enums.length > 0) return enums[0];
  switch (type) {
    case 'string':
      return 'example';
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return sampleObject(schema);
    default:
      return null;
  }
}

function sampleObject(schema: unknown): Json {
  const props = ((schema as Json | undefined)?.properties ?? {}) as Record<string, unknown>;
  const out: Json = {};
  for (const [k, v] of Object.entries(props)) out[k] = sampleValue(v);
  return out;
}

interface Answer {
  id: string;
  model: string;
  content: Block[];
  stopReason: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';
  stopSequence: string | null;
  inputTokens: number;
  outputTokens: number;
}

function answer(body: Json): Answer {
  const messages = body.messages as Json[];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const blocks = blocksOf(lastUser?.content);
  const userText = textOfBlocks(blocks);
  const results = blocks.filter((b) => b.type === 'tool_result');
  const base = { id: realisticId('msg'), model: String(body.model), inputTokens: inputTokens(body), stopSequence: null };

  const tools = Array.isArray(body.tools) ? (body.tools as Json[]) : [];
  const choice = (body.tool_choice ?? { type: 'auto' }) as Json;
  const forced = choice.type === 'any' || choice.type === 'tool';
  const asked = results.length === 0 && /use the tool/i.test(userText);
  if (tools.length > 0 && choice.type !== 'none' && (forced || asked)) {
    const tool = (choice.type === 'tool' ? tools.find((t) => t.name === choice.name) : undefined) ?? tools[0];
    const input = sampleObject(tool.input_schema);
    const block: Block = { type: 'tool_use', id: realisticId('toolu'), name: String(tool.name), input };
    return { ...base, content: [block], stopReason: 'tool_use', outputTokens: countFakeTokens(`${block.name} ${JSON.stringify(input)}`) };
  }

  let text = userText !== '' ? `You said: ${userText}` : results.length > 0 ? `Tool result: ${results.map(toolResultText).join('; ')}` : 'You sent no text.';
  let stopReason: Answer['stopReason'] = 'end_turn';
  let stopSequence: string | null = null;
  let cutAt = Number.POSITIVE_INFINITY;
  for (const seq of Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : []) {
    const at = text.indexOf(seq);
    if (at !== -1 && at < cutAt) {
      cutAt = at;
      stopSequence = seq;
    }
  }
  if (stopSequence !== null) {
    text = text.slice(0, cutAt);
    stopReason = 'stop_sequence';
  }
  const tokens = splitFakeTokens(text);
  const max = body.max_tokens as number;
  if (tokens.length > max) {
    text = tokens.slice(0, max).join('');
    stopReason = 'max_tokens';
    stopSequence = null;
  }
  return { ...base, stopSequence, content: [{ type: 'text', text }], stopReason, outputTokens: Math.min(tokens.length, max) };
}

function usageOf(a: Answer, output: number): Json {
  return {
    input_tokens: a.inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: output,
    service_tier: 'standard',
  };
}

function messageBody(a: Answer): Json {
  return {
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: a.content,
    stop_reason: a.stopReason,
    stop_sequence: a.stopSequence,
    usage: usageOf(a, a.outputTokens),
  };
}

/** Splits a string into `parts` roughly equal pieces, the way partial JSON arrives. */
function pieces(s: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(s.length / parts));
  const out: string[] = [];
  for (let at = 0; at < s.length; at += size) out.push(s.slice(at, at + size));
  return out;
}

/** The documented event sequence: message_start, per block start/deltas/stop (ping after the first start), message_delta, message_stop. */
function streamEvents(a: Answer): Json[] {
  const events: Json[] = [
    { type: 'message_start', message: { ...messageBody(a), content: [], stop_reason: null, stop_sequence: null, usage: usageOf(a, 1) } },
  ];
  a.content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      if (index === 0) events.push({ type: 'ping' });
      const tokens = splitFakeTokens(String(block.text));
      for (let i = 0; i < tokens.length; i += 2) {
        events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: tokens.slice(i, i + 2).join('') } });
      }
    } else {
      events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
      if (index === 0) events.push({ type: 'ping' });
      events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } });
      for (const p of pieces(JSON.stringify(block.input), 3)) events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } });
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({ type: 'message_delta', delta: { stop_reason: a.stopReason, stop_sequence: a.stopSequence }, usage: { output_tokens: a.outputTokens } });
  events.push({ type: 'message_stop' });
  return events;
}

function sseFrame(data: Json): string {
  return `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
}

function errorJson(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: realisticId('req') });
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = [];
  const queue: Array<FakeAnthropicStep & { left: number }> = [];
  // Pending waits, so close() can release handlers that are sleeping instead of leaving them hanging.
  const timers = new Map<NodeJS.Timeout, () => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.set(t, resolve);
    });

  const takeStep = (): FakeAnthropicStep | undefined => {
    const step = queue[0];
    if (step === undefined) return undefined;
    step.left -= 1;
    if (step.left <= 0) queue.shift();
    return step;
  };

  // x-api-key is the documented header; SDKs from API version 2026-10-21 on send the key as a
  // bearer token instead. When both are present the API reads x-api-key.
  const authorised = (req: IncomingMessage): boolean => {
    const header = req.headers['x-api-key'];
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const key = typeof header === 'string' && header !== '' ? header : bearer;
    return key !== undefined && key !== '' && (opts.apiKey === undefined || key === opts.apiKey);
  };

  const sendError = (res: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': realisticId('req'), ...headers });
    res.end(errorJson(type, message));
  };

  const handleMessages = async (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    if (!authorised(req)) {
      sendError(res, 401, 'authentication_error', 'invalid x-api-key');
      return;
    }
    const version = req.headers['anthropic-version'];
    if (typeof version !== 'string') {
      sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
      return;
    }
    if (!API_VERSIONS.has(version)) {
      sendError(res, 400, 'invalid_request_error', `anthropic-version: '${version}' is not a valid version`);
      return;
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      sendError(res, 400, 'invalid_request_error', 'There was an issue with the format or content of your request. The body must be a JSON object.');
      return;
    }
    const json = body as Json;
    try {
      validate(json, version);
    } catch (err) {
      if (err instanceof InvalidRequest) {
        sendError(res, 400, 'invalid_request_error', err.message);
        return;
      }
      throw err;
    }

    const step = takeStep();
    const stream = json.stream === true;
    if (step !== undefined && 'status' in step) {
      const type = step.type ?? TYPE_BY_STATUS[step.status] ?? 'api_error';
      sendError(res, step.status, type, step.message ?? DEFAULT_MESSAGE[type] ?? 'Error', step.headers);
      return;
    }
    if (step !== undefined && 'delayMs' in step) await sleep(step.delayMs);
    if (step !== undefined && 'streamError' in step && !stream) {
      const type = step.streamError.type;
      sendError(res, STATUS_BY_TYPE[type] ?? 500, type, step.streamError.message ?? DEFAULT_MESSAGE[type] ?? 'Error');
      return;
    }

    const a = answer(json);
    if (!stream) {
      const text = JSON.stringify(messageBody(a));
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': realisticId('req') });
      if (step !== undefined && 'cut' in step) {
        res.write(text.slice(0, Math.floor(text.length / 2)));
        res.destroy();
        return;
      }
      res.end(text);
      return;
    }

    let events = streamEvents(a);
    let tail: Json | undefined;
    let cutAfter: number | undefined;
    if (step !== undefined && 'streamError' in step) {
      events = events.slice(0, step.afterEvents ?? 1);
      tail = { type: 'error', error: { type: step.streamError.type, message: step.streamError.message ?? DEFAULT_MESSAGE[step.streamError.type] ?? 'Error' } };
    } else if (step !== undefined && 'cut' in step) {
      cutAfter = step.afterEvents ?? 2;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': realisticId('req') });
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      if (cutAfter !== undefined && i === cutAfter) {
        // Half an event, then a reset: what a dropped connection looks like to the reader.
        res.write(sseFrame(events[i]).slice(0, 30));
        res.destroy();
        return;
      }
      res.write(sseFrame(events[i]));
      if (opts.eventDelayMs) await sleep(opts.eventDelayMs);
    }
    if (tail !== undefined) res.write(sseFrame(tail));
    res.end();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = raw;
      }
      const path = (req.url ?? '/').split('?')[0];
      requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
      const route = async () => {
        if (req.method === 'POST' && path === '/v1/messages') return handleMessages(req, res, body);
        if (req.method === 'GET' && path === '/v1/models') {
          if (!authorised(req)) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
          const model = { type: 'model', id: 'claude-sonnet-4-6', display_name: 'Claude Sonnet 4.6', created_at: '2026-02-17T00:00:00Z' };
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ data: [model], has_more: false, first_id: model.id, last_id: model.id }));
          return;
        }
        sendError(res, 404, 'not_found_error', `Not found: ${req.method} ${path}`);
      };
      route().catch(() => {
        if (!res.headersSent) sendError(res, 500, 'api_error', 'Internal server error');
        else res.destroy();
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(...steps) {
      for (const s of steps) queue.push({ ...s, left: s.times ?? 1 });
    },
    close() {
      for (const [t, release] of timers) {
        clearTimeout(t);
        release();
      }
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
