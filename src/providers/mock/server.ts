// The mock upstream's request handler, speaking the OpenAI wire format. Shared by the
// in-process transport (provider type `mock`) and the standalone `tollgate mock-upstream`.
import { setTimeout as sleep } from 'node:timers/promises';
import type { MockFaults } from '../../config/schema.js';
import { countTextTokens, tokenizer } from '../../core/tokens.js';
import type { ChatRequest, EmbeddingsRequest } from '../../core/types.js';
import { planFaults } from './faults.js';
import { mockPng } from './png.js';
import { wavDurationSeconds } from '../../core/audio.js';
import { boundaryOf, MultipartReader } from '../../core/multipart.js';
import { fnv1a, generatedText, type MockOutput, MockRequestError, mockCompletion, mockEmbedding, streamPieces } from './model.js';

export interface MockSettings {
  tokensPerSecond: number;
  faults: MockFaults | undefined;
  /** Header value required as `Authorization: Bearer …` (standalone server only). */
  apiKey?: string;
  /** Remembers outputs by request body: the model is deterministic, and benchmarks should measure the gateway, not the mock. */
  memo?: Map<string, MockOutput>;
}

const MEMO_MAX = 1000;

function memoised<T>(memo: Map<string, T>, key: string, make: () => T): T {
  let v = memo.get(key);
  if (v === undefined) {
    v = make();
    if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value as string);
    memo.set(key, v);
  }
  return v;
}

export interface MockRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body's bytes, when it is not text (a multipart upload). */
  raw?: Buffer;
}

export interface MockReply {
  status: number;
  headers: Record<string, string>;
  /** Whole body, or a stream of chunks. A stream that throws models a connection reset. */
  body: string | AsyncIterable<Uint8Array>;
}

export class MockResetError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('mock upstream reset the connection');
  }
}

const enc = new TextEncoder();
const json = (status: number, body: unknown, extra: Record<string, string> = {}): MockReply => ({
  status,
  headers: { 'content-type': 'application/json', ...extra },
  body: JSON.stringify(body),
});
const errorReply = (status: number, message: string, type: string, extra: Record<string, string> = {}) =>
  json(status, { error: { message, type, code: null, param: null } }, extra);

function header(h: MockRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

async function waitFor(ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) await sleep(ms, undefined, { signal });
}

function hangUntilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export const MOCK_MODELS = ['mock-chat', 'mock-chat-large', 'mock-embedding'];

const MOCK_POST_ROUTES = new Set(['/chat/completions', '/completions', '/embeddings', '/images/generations', '/audio/transcriptions', '/audio/translations']);

export async function handleMockRequest(req: MockRequest, settings: MockSettings, signal: AbortSignal): Promise<MockReply> {
  if (settings.apiKey && header(req.headers, 'authorization') !== `Bearer ${settings.apiKey}`) {
    return errorReply(401, 'Incorrect API key provided to the mock upstream.', 'invalid_request_error');
  }
  const path = req.path.replace(/\?.*$/, '').replace(/^\/v1/, '');
  if (req.method === 'GET' && path === '/models') {
    return json(200, { object: 'list', data: MOCK_MODELS.map((id) => ({ id, object: 'model', created: 0, owned_by: 'tollgate-mock' })) });
  }
  if (req.method !== 'POST' || !MOCK_POST_ROUTES.has(path)) {
    return errorReply(404, `The mock upstream has no route ${req.method} ${req.path}.`, 'invalid_request_error');
  }
  const plan = planFaults(settings.faults, header(req.headers, 'x-mock-fault'));
  await waitFor(plan.latencyMs, signal);
  if (plan.hang) await hangUntilAborted(signal);
  if (plan.status !== undefined && plan.status >= 400) {
    const extra: Record<string, string> = plan.retryAfterS !== undefined ? { 'retry-after': String(plan.retryAfterS) } : {};
    return errorReply(plan.status, `Mock upstream injected HTTP ${plan.status}.`, plan.status === 429 ? 'rate_limit_error' : 'server_error', extra);
  }
  if (path.startsWith('/audio/')) return audio(path === '/audio/translations' ? 'translate' : 'transcribe', req);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(req.body);
  } catch {
    return errorReply(400, 'The mock upstream received a body that is not JSON.', 'invalid_request_error');
  }
  if (path === '/embeddings') {
    if (plan.malformed) return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data": [' };
    return embeddings(body as unknown as EmbeddingsRequest);
  }
  if (path === '/images/generations') {
    if (plan.malformed) return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data": [' };
    return images(body);
  }
  const wordsOpt = Number(header(req.headers, 'x-mock-words'));
  if (path === '/completions') {
    const words = Number.isInteger(wordsOpt) && wordsOpt > 0 ? Math.min(wordsOpt, 100000) : undefined;
    return textCompletions(body, req.body, { words, plan, tps: plan.tokensPerSecond ?? settings.tokensPerSecond, signal });
  }
  const chat = body as unknown as ChatRequest;
  if (!Array.isArray(chat.messages)) return errorReply(400, '"messages" must be an array.', 'invalid_request_error');
  const wordsHeader = Number(header(req.headers, 'x-mock-words'));
  const words = Number.isInteger(wordsHeader) && wordsHeader > 0 ? Math.min(wordsHeader, 100000) : undefined;
  let out: MockOutput;
  try {
    out = settings.memo ? memoised(settings.memo, `${words ?? ''}|${req.body}`, () => mockCompletion(chat, { words })) : mockCompletion(chat, { words });
  } catch (err) {
    if (err instanceof MockRequestError) return json(400, { error: { message: err.message, type: 'invalid_request_error', code: 'invalid_value', param: err.param } });
    throw err;
  }
  const id = `chatcmpl-mock${fnv1a(req.body).toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = typeof chat.model === 'string' ? chat.model : 'mock-chat';
  const usage = { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens };
  if (!chat.stream) {
    if (plan.malformed) return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"id": "broken", "choices": [' };
    const choices = out.choices.map((c, index) => ({
      index,
      message: { role: 'assistant', content: c.text, ...(c.toolCalls ? { tool_calls: c.toolCalls } : {}), refusal: null },
      finish_reason: c.finishReason,
      logprobs: null,
    }));
    return json(200, { id, object: 'chat.completion', created, model, choices, usage, system_fingerprint: 'tollgate-mock' });
  }
  const includeUsage = chat.stream_options?.include_usage === true;
  const tps = plan.tokensPerSecond ?? settings.tokensPerSecond;
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    body: streamBody({ id, created, model, out, usage, includeUsage, tps, plan, signal }),
  };
}

function float32Base64(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i], i * 4);
  return bytes.toString('base64');
}

function embeddings(body: EmbeddingsRequest): MockReply {
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  const dims = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.min(body.dimensions, 4096) : 256;
  let tokens = 0;
  const data = inputs.map((input, index) => {
    const text = typeof input === 'string' ? input : JSON.stringify(input);
    tokens += typeof input === 'string' ? countTextTokens(input) : Array.isArray(input) ? input.length : 1;
    const vector = mockEmbedding(text, dims);
    // As OpenAI does: base64 is the float32 little-endian bytes (the official SDK asks for it by default).
    return { object: 'embedding', index, embedding: body.encoding_format === 'base64' ? float32Base64(vector) : vector };
  });
  return json(200, { object: 'list', data, model: typeof body.model === 'string' ? body.model : 'mock-embedding', usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

interface StreamArgs {
  id: string;
  created: number;
  model: string;
  out: MockOutput;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  includeUsage: boolean;
  tps: number;
  plan: ReturnType<typeof planFaults>;
  signal: AbortSignal;
}

/** Tool arguments in pieces of a few characters, as real models stream them (compact JSON has no spaces to split at). */
function argumentPieces(args: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 8) out.push(args.slice(i, i + 8));
  return out;
}

async function* streamBody(a: StreamArgs): AsyncGenerator<Uint8Array> {
  const frame = (choice: number, delta: Record<string, unknown>, finish: string | null) =>
    enc.encode(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [{ index: choice, delta, finish_reason: finish, logprobs: null }], ...(a.includeUsage ? { usage: null } : {}) })}\n\n`);
  const frames: Uint8Array[] = [];
  // Each choice in turn, as its own run of chunks with its index (OpenAI interleaves them; clients accept both).
  a.out.choices.forEach((c, choice) => {
    frames.push(frame(choice, { role: 'assistant', content: '' }, null));
    if (c.toolCalls) {
      c.toolCalls.forEach((tc, index) => {
        frames.push(frame(choice, { tool_calls: [{ index, id: tc.id, type: 'function', function: { name: tc.function.name, arguments: '' } }] }, null));
        for (const piece of argumentPieces(tc.function.arguments)) frames.push(frame(choice, { tool_calls: [{ index, function: { arguments: piece } }] }, null));
      });
    } else {
      for (const piece of streamPieces(c.text ?? '')) frames.push(frame(choice, { content: piece }, null));
    }
    frames.push(frame(choice, {}, c.finishReason));
  });
  if (a.includeUsage) {
    frames.push(enc.encode(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model, choices: [], usage: a.usage })}\n\n`));
  }
  frames.push(enc.encode('data: [DONE]\n\n'));
  yield* emitFrames(frames, a.plan, a.tps, a.signal);
}

/** Writes prepared frames at the configured token rate, with the planned faults (reset, hang, malformed). */
async function* emitFrames(frames: Uint8Array[], plan: ReturnType<typeof planFaults>, tps: number, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const delayMs = tps > 0 ? 1000 / tps : 0;
  for (let i = 0; i < frames.length; i++) {
    if (plan.resetAfter !== undefined && i >= plan.resetAfter) throw new MockResetError();
    if (plan.hangAfter !== undefined && i >= plan.hangAfter) await hangUntilAborted(signal);
    if (plan.malformed && i === 2) {
      yield enc.encode('data: {"id": "broken", "choices": [\n\n');
      return;
    }
    if (i > 0 && delayMs > 0) await waitFor(delayMs, signal);
    yield frames[i];
  }
}

/**
 * POST /images/generations: `n` small PNGs seeded by the prompt, size and quality and each
 * image's index; `b64_json` unless `response_format` is `url` (then a data URL).
 */
function images(body: Record<string, unknown>): MockReply {
  if (typeof body.prompt !== 'string' || body.prompt === '') return errorReply(400, '"prompt" must be a non-empty string.', 'invalid_request_error');
  const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 0 ? Math.min(body.n, 10) : 1;
  const data = [];
  for (let i = 0; i < n; i++) {
    const png = mockPng(fnv1a(`${body.prompt}|${String(body.size)}|${String(body.quality)}|${i}`)).toString('base64');
    data.push(body.response_format === 'url' ? { url: `data:image/png;base64,${png}`, revised_prompt: body.prompt } : { b64_json: png, revised_prompt: body.prompt });
  }
  return json(200, { created: Math.floor(Date.now() / 1000), data });
}

function timestamp(seconds: number, sep: string): string {
  const ms = Math.round(seconds * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${sep}${pad(ms % 1000, 3)}`;
}

/**
 * POST /audio/transcriptions and /audio/translations: a WAV file "transcribed" into words
 * seeded by its bytes, two and a half words per second of audio (read from the WAV header), in
 * every response_format; json carries usage in seconds, as OpenAI's whisper-1 does.
 */
async function audio(task: 'transcribe' | 'translate', req: MockRequest): Promise<MockReply> {
  const boundary = boundaryOf(header(req.headers, 'content-type'));
  if (!boundary || !req.raw) return errorReply(400, 'The mock upstream expects a multipart/form-data body.', 'invalid_request_error');
  const fields = new Map<string, string>();
  let current: { name: string; file: boolean; parts: Buffer[] } | undefined;
  let file: Buffer | undefined;
  const reader = new MultipartReader(boundary, {
    part: (h) => {
      current = { name: h.name, file: h.filename !== undefined, parts: [] };
    },
    data: (chunk) => {
      current?.parts.push(Buffer.from(chunk));
    },
    partEnd: () => {
      if (!current) return;
      const bytes = Buffer.concat(current.parts);
      if (current.file) file = bytes;
      else fields.set(current.name, bytes.toString('utf8'));
    },
  });
  try {
    await reader.push(req.raw);
    reader.end();
  } catch (err) {
    return errorReply(400, `The mock upstream could not read the upload: ${(err as Error).message}`, 'invalid_request_error');
  }
  if (!file) return errorReply(400, 'Missing the "file" part.', 'invalid_request_error');
  if (!fields.get('model')) return errorReply(400, 'Missing the "model" field.', 'invalid_request_error');
  const duration = wavDurationSeconds(file.subarray(0, 65536), file.length);
  if (duration === undefined) return errorReply(400, 'The mock upstream transcribes WAV files only.', 'invalid_request_error');
  const words = Math.max(1, Math.round(duration * 2.5));
  const text = generatedText(fnv1a(`${task}|${file.toString('base64', 0, Math.min(file.length, 4096))}|${file.length}`), words);
  const format = fields.get('response_format') ?? 'json';
  const plain = (t: string, type: string) => ({ status: 200, headers: { 'content-type': `${type}; charset=utf-8` }, body: t });
  switch (format) {
    case 'text':
      return plain(`${text}\n`, 'text/plain');
    case 'srt':
      return plain(`1\n${timestamp(0, ',')} --> ${timestamp(duration, ',')}\n${text}\n\n`, 'application/x-subrip');
    case 'vtt':
      return plain(`WEBVTT\n\n${timestamp(0, '.')} --> ${timestamp(duration, '.')}\n${text}\n\n`, 'text/vtt');
    case 'verbose_json':
      return json(200, {
        task,
        language: task === 'translate' ? 'english' : (fields.get('language') ?? 'english'),
        duration,
        text,
        segments: [{ id: 0, seek: 0, start: 0, end: duration, text, tokens: [], temperature: 0, avg_logprob: 0, compression_ratio: 1, no_speech_prob: 0 }],
      });
    default:
      return json(200, { text, usage: { type: 'duration', seconds: Math.ceil(duration) } });
  }
}

/** The prompts of a legacy completions request as text (token ids are decoded). */
function promptTexts(prompt: unknown): string[] {
  if (typeof prompt === 'string') return [prompt];
  if (!Array.isArray(prompt) || prompt.length === 0) return [];
  if (prompt.every((x) => typeof x === 'number')) return [tokenizer().decode(prompt as number[])];
  return prompt.map((x) => (typeof x === 'string' ? x : Array.isArray(x) ? tokenizer().decode(x as number[]) : String(x)));
}

/**
 * POST /completions: each prompt answered by the mock model's text rules (a `suffix` changes
 * the seed, `echo` puts the prompt in front), `n` choices per prompt, usage counted on the
 * prompt and suffix text alone.
 */
function textCompletions(body: Record<string, unknown>, raw: string, o: { words: number | undefined; plan: ReturnType<typeof planFaults>; tps: number; signal: AbortSignal }): MockReply {
  const prompts = promptTexts(body.prompt);
  if (prompts.length === 0) return errorReply(400, '"prompt" must be a string or an array of strings or token ids.', 'invalid_request_error');
  const suffix = typeof body.suffix === 'string' ? body.suffix : undefined;
  const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? Math.min(body.n, 128) : 1;
  const choices: Array<{ text: string; index: number; logprobs: null; finish_reason: string }> = [];
  let promptTokens = suffix ? countTextTokens(suffix) * prompts.length : 0;
  let completionTokens = 0;
  prompts.forEach((p, pi) => {
    promptTokens += countTextTokens(p);
    const messages: ChatRequest['messages'] = suffix === undefined ? [{ role: 'user', content: p }] : [{ role: 'system', content: `suffix:${suffix}` }, { role: 'user', content: p }];
    const chat = { model: 'mock', messages, n, max_tokens: body.max_tokens, stop: body.stop } as ChatRequest;
    const out = mockCompletion(chat, { words: o.words });
    completionTokens += out.completionTokens;
    out.choices.forEach((c, ci) => {
      choices.push({ text: (body.echo === true ? p : '') + (c.text ?? ''), index: pi * n + ci, logprobs: null, finish_reason: c.finishReason === 'length' ? 'length' : 'stop' });
    });
  });
  const id = `cmpl-mock${fnv1a(raw).toString(36)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = typeof body.model === 'string' ? body.model : 'mock-chat';
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (body.stream !== true) {
    if (o.plan.malformed) return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"id": "broken", "choices": [' };
    return json(200, { id, object: 'text_completion', created, model, choices, usage });
  }
  const frame = (payload: Record<string, unknown>) => enc.encode(`data: ${JSON.stringify({ id, object: 'text_completion', created, model, ...payload })}\n\n`);
  const frames: Uint8Array[] = [];
  for (const c of choices) {
    for (const piece of streamPieces(c.text)) frames.push(frame({ choices: [{ text: piece, index: c.index, logprobs: null, finish_reason: null }] }));
    frames.push(frame({ choices: [{ text: '', index: c.index, logprobs: null, finish_reason: c.finish_reason }] }));
  }
  if ((body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true) frames.push(frame({ choices: [], usage }));
  frames.push(enc.encode('data: [DONE]\n\n'));
  return { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, body: emitFrames(frames, o.plan, o.tps, o.signal) };
}
