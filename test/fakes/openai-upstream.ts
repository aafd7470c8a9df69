// A scriptable OpenAI-compatible upstream on 127.0.0.1:0 for end-to-end tests: normal answers
// come from the mock model's handler (OpenAI wire format, real token counts, streams, tool
// calls, embeddings); a script of failures decides what the next requests get instead.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleMockRequest } from '../../src/providers/mock/server.js';

/** One scripted failure, applied to the next `times` (default 1) POST requests. */
export interface FakeOpenAIStep {
  status: number;
  message?: string;
  type?: string;
  code?: string | null;
  headers?: Record<string, string>;
  times?: number;
}

export interface FakeOpenAIRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | undefined;
}

export interface FakeOpenAI {
  /** Base URL including /v1, as a Tollgate `openai` provider's base_url. */
  url: string;
  requests: FakeOpenAIRequest[];
  script(...steps: FakeOpenAIStep[]): void;
  close(): Promise<void>;
}

const TYPE_BY_STATUS: Record<number, string> = { 400: 'invalid_request_error', 401: 'invalid_request_error', 429: 'rate_limit_error' };

export async function startFakeOpenAI(opts: { apiKey?: string; tokensPerSecond?: number } = {}): Promise<FakeOpenAI> {
  const requests: FakeOpenAIRequest[] = [];
  const queue: Array<FakeOpenAIStep & { left: number }> = [];
  const settings = { tokensPerSecond: opts.tokensPerSecond ?? 0, faults: undefined, apiKey: opts.apiKey };

  const server = createServer((req, res) => {
    req.socket.setNoDelay(true);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body });
      const step = req.method === 'POST' ? queue[0] : undefined;
      if (step) {
        if (--step.left <= 0) queue.shift();
        res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
        res.end(JSON.stringify({ error: { message: step.message ?? `Scripted failure ${step.status}`, type: step.type ?? TYPE_BY_STATUS[step.status] ?? 'server_error', param: null, code: step.code ?? null } }));
        return;
      }
      const ac = new AbortController();
      res.on('close', () => ac.abort());
      handleMockRequest({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: raw }, settings, ac.signal)
        .then(async (reply) => {
          if (typeof reply.body === 'string') {
            res.writeHead(reply.status, reply.headers);
            res.end(reply.body);
            return;
          }
          res.writeHead(reply.status, reply.headers);
          for await (const chunk of reply.body) res.write(chunk);
          res.end();
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script(...steps) {
      for (const s of steps) queue.push({ ...s, left: s.times ?? 1 });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
