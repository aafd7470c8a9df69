// Local upstreams for gateway tests: a scripted node:http server on port 0 that records
// every request and lets a test decide each answer, and a recording proxy in front of the
// standalone mock upstream (so the exact bodies Tollgate sent can be inspected).
import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMockUpstream } from '../../src/providers/mock/http-server.js';
import type { MockSettings } from '../../src/providers/mock/server.js';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: Record<string, unknown> | undefined;
}

export type UpstreamHandler = (req: RecordedRequest, res: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

export interface ScriptedUpstream {
  /** base URL including /v1, as a provider's base_url */
  url: string;
  server: Server;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A node:http upstream on port 0 that records each request, then runs `handler`. */
export async function startScriptedUpstream(handler: UpstreamHandler): Promise<ScriptedUpstream> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    readAll(req).then(
      async (body) => {
        const rec: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, json: parseJson(body) };
        requests.push(rec);
        try {
          await handler(rec, res, req);
        } catch {
          res.destroy();
        }
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    server,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The last user message's text of a recorded chat request (how scripted upstreams pick a scenario). */
export function lastUserText(req: RecordedRequest): string {
  const messages = (req.json?.messages ?? []) as Array<{ role?: string; content?: unknown }>;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user' && typeof messages[i].content === 'string') return messages[i].content as string;
  }
  return '';
}

/** The standalone mock upstream behind a recording proxy: answers like the mock, remembers every body. */
export async function startRecordingMockUpstream(settings: Partial<MockSettings> = {}): Promise<ScriptedUpstream> {
  const mock = await startMockUpstream({ port: 0, settings: { tokensPerSecond: 0, faults: undefined, ...settings } });
  const target = new URL(mock.url);
  const proxy = await startScriptedUpstream(
    (rec, res) =>
      new Promise<void>((resolve) => {
        const headers = { ...rec.headers, host: target.host, 'content-length': String(Buffer.byteLength(rec.body)) };
        const out = httpRequest({ host: target.hostname, port: target.port, method: rec.method, path: rec.path, headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', resolve);
          up.on('error', () => {
            res.destroy();
            resolve();
          });
        });
        out.on('error', () => {
          res.destroy();
          resolve();
        });
        // The client (Tollgate) went away: drop the upstream leg too.
        res.once('close', () => {
          if (!res.writableFinished) out.destroy();
        });
        out.end(rec.body);
      }),
  );
  return {
    ...proxy,
    async close() {
      await proxy.close();
      await mock.close();
    },
  };
}

/** An OpenAI-compatible chunk frame as an upstream would send it. */
export function chunkFrame(delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
}

/** A complete OpenAI-compatible chat.completion body. */
export function completionBody(content: string, usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }): string {
  return JSON.stringify({
    id: 'chatcmpl-scripted',
    object: 'chat.completion',
    created: 1,
    model: 'scripted',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage,
  });
}

/** An `openai`-type provider entry pointing at a local upstream. */
export function openaiProvider(id: string, baseUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type: 'openai', base_url: baseUrl, api_key: 'upstream-secret-key', ...extra };
}

/** A chat model entry served by one channel. */
export function chatModel(id: string, provider: string, upstreamModel: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    context_window: 32000,
    max_output_tokens: 4096,
    pricing: { input_per_mtok: 1, output_per_mtok: 2 },
    channels: [{ provider, upstream_model: upstreamModel }],
    ...extra,
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  settled: boolean;
}

/** A promise resolved from outside: how a scripted upstream and a test hand events to each other. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(value: T) {
      d.settled = true;
      resolve(value);
    },
  };
  return d;
}
