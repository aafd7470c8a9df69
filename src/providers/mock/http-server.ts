// `tollgate mock-upstream`: the mock model as a standalone OpenAI-compatible HTTP server
// for benchmarks and demos. A reset fault destroys the socket mid-stream.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleMockRequest, type MockSettings } from './server.js';

const MAX_BODY = 16 * 1024 * 1024;

function readRequest(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export async function startMockUpstream(opts: { host?: string; port?: number; settings: MockSettings }): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    req.socket.setNoDelay(true);
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    try {
      const raw = await readRequest(req);
      const reply = await handleMockRequest({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: raw.toString('utf8'), raw }, opts.settings, ac.signal);
      if (typeof reply.body === 'string') {
        res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
        res.end(reply.body);
        return;
      }
      res.writeHead(reply.status, reply.headers);
      res.flushHeaders();
      for await (const chunk of reply.body) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    } catch {
      // Aborted by the client, or an injected reset: drop the connection without a clean end.
      res.destroy();
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${opts.host ?? '127.0.0.1'}:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
