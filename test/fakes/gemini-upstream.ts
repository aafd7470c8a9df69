// A local stand-in for the Gemini API (v1beta) on 127.0.0.1:0: generateContent,
// streamGenerateContent (SSE and JSON array), embedContent, batchEmbedContents and the models
// list, with Google's error bodies, deterministic answers and scriptable failures.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decode, encode } from 'gpt-tokenizer/encoding/o200k_base';
import { countTextTokens } from '../../src/core/tokens.js';

export interface FakeGeminiOptions {
  /** The only key accepted; unset accepts any non-empty key. */
  apiKey?: string;
  /** Names for the models list (without "models/"). */
  models?: string[];
  /** Words per streamed chunk. */
  wordsPerChunk?: number;
  /** Pause between streamed chunks. */
  chunkDelayMs?: number;
}

/** What to do with the next request instead of (or before) answering normally. */
export type FakeGeminiStep =
  | { kind: 'error'; status: number; googleStatus?: string; message?: string; retryDelayS?: number }
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number }
  /**
   * stream: send `afterChunks` chunks then an error payload, by default as Google writes it (a
   * pretty-printed JSON body outside SSE framing), or as one `data:` event; non-stream: an error answer
   */
  | { kind: 'stream-error'; afterChunks: number; status?: number; googleStatus?: string; message?: string; framing?: 'raw' | 'sse' }
  /** stream: send `afterChunks` chunks then close without a finish; non-stream: half a body */
  | { kind: 'truncate'; afterChunks: number };

export interface FakeGeminiRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface FakeGemini {
  /** Server root, as `httpOptions.baseUrl` of @google/genai expects. */
  url: string;
  /** `${url}/v1beta`, as a Tollgate provider base_url expects. */
  baseUrl: string;
  requests: FakeGeminiRequest[];
  script(...steps: FakeGeminiStep[]): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
interface Part {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { name: string; args?: Json };
  functionResponse?: { name: string; response?: Json };
  inlineData?: { mimeType: string; data: string };
  fileData?: { fileUri: string; mimeType?: string };
}
interface Content {
  role?: string;
  parts?: Part[];
}

const DEFAULT_MODELS = ['gemini-2.5-flash', 'gemini-3-flash-preview', 'gemini-embedding-001'];
const SIGNATURE = Buffer.from('fake-thought-signature').toString('base64');
const SKIP_SIGNATURE = 'skip_thought_signature_validator';
const STATUS_NAMES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };

// Field names the real API accepts; anything else is refused the way Google refuses unknown fields.
const REQUEST_FIELDS = new Set(['contents', 'systemInstruction', 'generationConfig', 'tools', 'toolConfig', 'safetySettings', 'cachedContent']);
const GENERATION_FIELDS = new Set([
  'stopSequences', 'responseMimeType', 'responseSchema', 'responseJsonSchema', 'responseModalities', 'candidateCount', 'maxOutputTokens',
  'temperature', 'topP', 'topK', 'seed', 'presencePenalty', 'frequencyPenalty', 'responseLogprobs', 'logprobs', 'enableEnhancedCivicAnswers',
  'speechConfig', 'thinkingConfig', 'imageConfig', 'mediaResolution',
]);
const PART_FIELDS = new Set(['text', 'thought', 'thoughtSignature', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult', 'videoMetadata']);

class GoogleError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly googleStatus = STATUS_NAMES[status] ?? 'UNKNOWN',
    readonly details?: Json[],
  ) {
    super(message);
  }
  body(indent?: number): string {
    return JSON.stringify({ error: { code: this.status, message: this.message, status: this.googleStatus, ...(this.details ? { details: this.details } : {}) } }, null, indent);
  }
}

function fromStep(step: { status?: number; googleStatus?: string; message?: string; retryDelayS?: number }): GoogleError {
  const status = step.status ?? 500;
  const details = step.retryDelayS === undefined ? undefined : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${step.retryDelayS}s` }];
  return new GoogleError(status, step.message ?? `Scripted failure ${status}`, step.googleStatus, details);
}

function unknownField(where: string, name: string): GoogleError {
  return new GoogleError(400, `Invalid JSON payload received. Unknown name "${name}" at '${where}': Cannot find field.`);
}

function checkFields(obj: unknown, allowed: Set<string>, where: string): void {
  if (obj === null || typeof obj !== 'object') return;
  for (const key of Object.keys(obj)) if (!allowed.has(key)) throw unknownField(where, key);
}

function textOf(parts: Part[] = []): string {
  return parts.map((p) => p.text ?? (p.functionCall || p.functionResponse ? JSON.stringify(p.functionCall ?? p.functionResponse) : '')).join(' ');
}

function validateChat(body: Json, model: string): Content[] {
  checkFields(body, REQUEST_FIELDS, 'request');
  checkFields(body.generationConfig, GENERATION_FIELDS, 'generation_config');
  const contents = body.contents as Content[] | undefined;
  if (!Array.isArray(contents) || contents.length === 0) throw new GoogleError(400, '* GenerateContentRequest.contents: contents is not specified\n');
  contents.forEach((c, i) => {
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') throw new GoogleError(400, 'Please use a valid role: user, model.');
    if (!Array.isArray(c.parts) || c.parts.length === 0) throw new GoogleError(400, `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
    for (const p of c.parts) checkFields(p, PART_FIELDS, `contents[${i}].parts[0]`);
    // Gemini 3 refuses replayed function calls whose first part lost its thought signature.
    const firstCall = c.parts.find((p) => p.functionCall);
    if (model.startsWith('gemini-3') && c.role === 'model' && firstCall && firstCall.thoughtSignature !== SIGNATURE && firstCall.thoughtSignature !== SKIP_SIGNATURE) {
      throw new GoogleError(400, `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly. Additional data, function call \`${firstCall.functionCall?.name}\` , position ${i + 1}.`);
    }
  });
  return contents;
}

function sampleArgs(schema: unknown): Json {
  const props = ((schema ?? {}) as { properties?: Record<string, { type?: string }> }).properties ?? {};
  const samples: Record<string, unknown> = { string: 'test', number: 1, integer: 1, boolean: true, array: [], object: {} };
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, samples[String(v?.type ?? 'string').toLowerCase()] ?? null]));
}

interface Reply {
  parts: Part[];
  finishReason: 'STOP' | 'MAX_TOKENS';
  promptTokens: number;
  outputTokens: number;
}

function generate(body: Json, contents: Content[]): Reply {
  const system = (body.systemInstruction as Content | undefined)?.parts;
  const promptTokens = Math.max(1, countTextTokens(`${textOf(system)} ${contents.map((c) => textOf(c.parts)).join(' ')}`.trim()));
  const lastUser = [...contents].reverse().find((c) => c.role !== 'model') ?? contents[contents.length - 1];
  const lastText = (lastUser.parts ?? []).map((p) => p.text ?? '').join('');
  const toolResults = (lastUser.parts ?? []).filter((p) => p.functionResponse);
  const config = (body.generationConfig ?? {}) as Json;
  const decls = ((body.tools ?? []) as Array<{ functionDeclarations?: Array<{ name: string; parameters?: unknown; parametersJsonSchema?: unknown }> }>).flatMap(
    (t) => t.functionDeclarations ?? [],
  );
  const calling = ((body.toolConfig as Json | undefined)?.functionCallingConfig ?? {}) as { mode?: string; allowedFunctionNames?: string[] };
  const mode = calling.mode ?? 'AUTO';
  if (decls.length > 0 && mode !== 'NONE' && toolResults.length === 0 && (mode === 'ANY' || /use the tool/i.test(lastText))) {
    const decl = decls.find((d) => d.name === calling.allowedFunctionNames?.[0]) ?? decls[0];
    const call = { name: decl.name, args: sampleArgs(decl.parametersJsonSchema ?? decl.parameters) };
    return { parts: [{ functionCall: call, thoughtSignature: SIGNATURE }], finishReason: 'STOP', promptTokens, outputTokens: countTextTokens(JSON.stringify(call)) };
  }
  let text = toolResults.length > 0 ? `The tool returned: ${toolResults.map((p) => JSON.stringify(p.functionResponse?.response ?? {})).join(', ')}` : `You said: ${lastText}`;
  if (config.responseMimeType === 'application/json') text = JSON.stringify({ echo: lastText });
  for (const stop of (config.stopSequences as string[] | undefined) ?? []) {
    const at = text.indexOf(stop);
    if (at !== -1) text = text.slice(0, at);
  }
  let tokens = encode(text);
  let finishReason: Reply['finishReason'] = 'STOP';
  const max = config.maxOutputTokens;
  if (typeof max === 'number' && tokens.length > max) {
    tokens = tokens.slice(0, max);
    text = decode(tokens);
    finishReason = 'MAX_TOKENS';
  }
  return { parts: [{ text }], finishReason, promptTokens, outputTokens: tokens.length };
}

function usage(r: Reply): Json {
  return {
    promptTokenCount: r.promptTokens,
    candidatesTokenCount: r.outputTokens,
    totalTokenCount: r.promptTokens + r.outputTokens,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: r.promptTokens }],
  };
}

function candidates(body: Json, parts: Part[], finishReason?: string): Json[] {
  const n = Number((body.generationConfig as Json | undefined)?.candidateCount ?? 1);
  return Array.from({ length: n }, (_, index) => ({ content: { parts, role: 'model' }, ...(finishReason ? { finishReason } : {}), index }));
}

/** The stream as separate GenerateContentResponses: a few words each, full usage on the last. */
function streamChunks(body: Json, r: Reply, model: string, responseId: string, wordsPerChunk: number): Json[] {
  const meta = { modelVersion: model, responseId };
  const text = r.parts[0].text;
  if (text === undefined || text === '') return [{ candidates: candidates(body, r.parts, r.finishReason), usageMetadata: usage(r), ...meta }];
  const words = text.match(/\S+\s*|\s+/g) ?? [text];
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += wordsPerChunk) pieces.push(words.slice(i, i + wordsPerChunk).join(''));
  return pieces.map((piece, i) => {
    const last = i === pieces.length - 1;
    const partial = { promptTokenCount: r.promptTokens, totalTokenCount: r.promptTokens };
    return { candidates: candidates(body, [{ text: piece }], last ? r.finishReason : undefined), usageMetadata: last ? usage(r) : partial, ...meta };
  });
}

function embeddingOf(text: string, dims: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dims; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (let i = 0; i < digest.length && values.length < dims; i++) values.push(digest[i] / 127.5 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => v / norm);
}

function embedOne(req: Json, dims?: number): { values: number[] } {
  const parts = (req.content as Content | undefined)?.parts;
  if (!Array.isArray(parts) || parts.length === 0) throw new GoogleError(400, '* EmbedContentRequest.content: contents is not specified\n');
  return { values: embeddingOf(textOf(parts), Number(req.outputDimensionality ?? dims ?? 768)) };
}

function modelInfo(name: string): Json {
  const embedding = name.includes('embedding');
  return {
    name: `models/${name}`,
    version: '001',
    displayName: name,
    description: `Fake ${name} for tests`,
    inputTokenLimit: embedding ? 2048 : 1048576,
    outputTokenLimit: embedding ? 1 : 65536,
    supportedGenerationMethods: embedding ? ['embedContent', 'batchEmbedContents'] : ['generateContent', 'countTokens'],
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startFakeGemini(opts: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const requests: FakeGeminiRequest[] = [];
  const steps: FakeGeminiStep[] = [];
  const models = opts.models ?? DEFAULT_MODELS;
  const wordsPerChunk = opts.wordsPerChunk ?? 2;
  let responses = 0;

  function authenticate(req: IncomingMessage, url: URL): void {
    const key = (req.headers['x-goog-api-key'] as string | undefined) ?? url.searchParams.get('key') ?? '';
    if (key === '') {
      throw new GoogleError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
    }
    if (opts.apiKey !== undefined && key !== opts.apiKey) {
      throw new GoogleError(400, 'API key not valid. Please pass a valid API key.', 'INVALID_ARGUMENT', [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
      ]);
    }
  }

  async function sendStream(res: ServerResponse, events: Json[], step: FakeGeminiStep | undefined): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-content-type-options': 'nosniff' });
    const stopAt = step?.kind === 'stream-error' || step?.kind === 'truncate' ? step.afterChunks : events.length;
    for (let i = 0; i < Math.min(stopAt, events.length); i++) {
      if (i > 0 && opts.chunkDelayMs) await sleep(opts.chunkDelayMs);
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(events[i])}\r\n\r\n`);
    }
    if (step?.kind === 'stream-error') {
      const error = fromStep({ status: 500, ...step });
      // A separate network write, as clients (the official SDK among them) detect the raw form per read.
      await sleep(10);
      res.write(step.framing === 'sse' ? `data: ${error.body()}\r\n\r\n` : error.body(2));
    }
    res.end();
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL, raw: string, step: FakeGeminiStep | undefined): Promise<void> {
    authenticate(req, url);
    const match = /^\/v1(?:beta)?\/(?:models\/([^/:]+)(?::(\w+))?|models)$/.exec(url.pathname);
    if (!match) throw new GoogleError(404, `Method not found: ${url.pathname}`);
    const [, model, method] = match;
    if (req.method === 'GET' && !method) {
      if (model) {
        if (!models.includes(model)) throw new GoogleError(404, `models/${model} is not found for API version v1beta.`);
        return json(res, 200, modelInfo(model));
      }
      const pageSize = Number(url.searchParams.get('pageSize') ?? models.length) || models.length;
      return json(res, 200, { models: models.slice(0, pageSize).map(modelInfo) });
    }
    if (req.method !== 'POST' || !model || !method) throw new GoogleError(404, `Method not found: ${req.method} ${url.pathname}`);
    let body: Json;
    try {
      body = JSON.parse(raw) as Json;
    } catch {
      throw new GoogleError(400, `Invalid JSON payload received. Unexpected token.\n${raw.slice(0, 40)}\n^`);
    }
    if (method === 'embedContent') return json(res, 200, { embedding: embedOne(body) });
    if (method === 'batchEmbedContents') {
      const list = body.requests as Json[] | undefined;
      if (!Array.isArray(list) || list.length === 0) throw new GoogleError(400, '* BatchEmbedContentsRequest.requests: requests is not specified\n');
      if (list.some((r) => r.model !== `models/${model}`)) throw new GoogleError(400, `* BatchEmbedContentsRequest.requests[0].model: model must be models/${model}\n`);
      return json(res, 200, { embeddings: list.map((r) => embedOne(r)) });
    }
    if (method !== 'generateContent' && method !== 'streamGenerateContent') throw new GoogleError(404, `Method not found: ${method}`);
    const contents = validateChat(body, model);
    const reply = generate(body, contents);
    const responseId = `fakeResp${++responses}`;
    if (method === 'generateContent') {
      const answer = JSON.stringify({ candidates: candidates(body, reply.parts, reply.finishReason), usageMetadata: usage(reply), modelVersion: model, responseId }, null, 2);
      if (step?.kind === 'truncate') {
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(answer.slice(0, answer.length >> 1));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(answer);
      return;
    }
    const events = streamChunks(body, reply, model, responseId, wordsPerChunk);
    if (url.searchParams.get('alt') === 'sse') return sendStream(res, events, step);
    return json(res, 200, events);
  }

  const server = createServer(async (req, res) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: unknown = raw;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      // recorded as text
    }
    requests.push({ method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, headers: req.headers, body });
    let step = steps.shift();
    try {
      if (step?.kind === 'delay') {
        await sleep(step.ms);
        step = undefined;
      }
      if (step?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (step?.kind === 'error' || (step?.kind === 'stream-error' && !url.pathname.includes(':streamGenerateContent'))) throw fromStep(step);
      await route(req, res, url, raw, step);
    } catch (err) {
      const e = err instanceof GoogleError ? err : new GoogleError(500, 'An internal error has occurred.');
      if (!res.headersSent) {
        res.writeHead(e.status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(e.body(2));
      } else res.destroy();
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    baseUrl: `${url}/v1beta`,
    requests,
    script: (...more) => {
      steps.push(...more);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body, null, 2));
}
