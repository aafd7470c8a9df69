// An Anthropic Messages upstream whose stream the test drives: it writes one SSE event per
// release() and nothing in between, so a test can prove each event reached the client before
// the next one even existed (no buffering anywhere on the path).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;

export interface GatedAnthropic {
  url: string;
  requests: Array<{ path: string; headers: IncomingHttpHeaders; body: Json }>;
  /** Events written so far to the current stream. */
  readonly sent: number;
  /** Lets `n` more events be written. */
  release(n?: number): void;
  close(): Promise<void>;
}

export async function startGatedAnthropic(events: readonly Json[]): Promise<GatedAnthropic> {
  const requests: GatedAnthropic['requests'] = [];
  let allowance = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  let closed = false;

  const nextPermit = async (): Promise<boolean> => {
    while (allowance === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
    if (closed) return false;
    allowance--;
    return true;
  };

  const server = createServer((req, res) => {
    req.socket.setNoDelay(true);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', async () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as Json;
      requests.push({ path: req.url ?? '/', headers: req.headers, body });
      if (req.method !== 'POST' || req.url !== '/v1/messages' || body.stream !== true) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'the gated fake only streams /v1/messages' } }));
        return;
      }
      sent = 0;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.flushHeaders();
      for (const ev of events) {
        if (!(await nextPermit()) || res.destroyed) {
          res.destroy();
          return;
        }
        res.write(`event: ${String(ev.type)}\ndata: ${JSON.stringify(ev)}\n\n`);
        sent++;
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get sent() {
      return sent;
    },
    release(n = 1) {
      allowance += n;
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
