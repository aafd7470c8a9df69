// The HTTP/1.1 upstream client (src/routing/h1-client.ts) against real Node servers, plain and TLS:
// sockets kept alive and capped, answers framed every way HTTP/1.1 frames them, the server's
// keep-alive limit honoured, hostile request headers refused before anything is sent, and a
// broken or slow upstream failing with the codes the transport maps to its errors.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { providerSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/core/errors.js';
import { ClientSignal } from '../../src/core/request-signal.js';
import { H1Client, type H1Controller } from '../../src/routing/h1-client.js';
import { createHttpTransport } from '../../src/routing/transport.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  text: string;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A Node HTTP server on a free port that counts the sockets it accepted. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ origin: string; sockets: () => number; server: Server }> {
  let sockets = 0;
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, res, body));
  });
  server.on('connection', () => sockets++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())), () => server.closeAllConnections());
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets: () => sockets, server };
}

/** A raw TCP server that answers every connection with `reply` (bytes of the server's choosing). */
async function rawServer(reply: (socket: Socket) => void): Promise<string> {
  const open = new Set<Socket>();
  const server = createTcpServer((s) => {
    open.add(s);
    s.on('error', () => {});
    s.once('data', () => reply(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(connections: number | null = 8, headersTimeoutMs = 5000): H1Client {
  const c = new H1Client({ connections, connectTimeoutMs: 5000, headersTimeoutMs, keepAliveMs: 30_000 });
  cleanups.push(() => c.close());
  return c;
}

function send(c: H1Client, origin: string, path: string, body?: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let status = 0;
    let got: Record<string, string | string[]> = {};
    c.dispatch(
      { origin, path, method: body === undefined ? 'GET' : 'POST', headers, body },
      {
        onResponseStart: (_c, s, h) => {
          status = s;
          got = h;
        },
        onResponseData: (_c, chunk) => void parts.push(chunk),
        onResponseEnd: () => resolve({ status, headers: got, text: Buffer.concat(parts).toString('utf8') }),
        onResponseError: (_c, err) => reject(err),
      },
    );
  });
}

describe('the plain-HTTP/1.1 upstream client', () => {
  it('sends the body with its byte length and reuses one kept-alive socket for answers in turn', async () => {
    const up = await serve((req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ body, length: req.headers['content-length'], host: req.headers.host, type: req.headers['content-type'] }));
    });
    const c = client();
    for (let i = 0; i < 5; i++) {
      const a = await send(c, up.origin, '/v1/chat/completions', `{"n":${i},"text":"é"}`);
      expect(a.status).toBe(200);
      expect(JSON.parse(a.text)).toEqual({ body: `{"n":${i},"text":"é"}`, length: String(Buffer.byteLength(`{"n":${i},"text":"é"}`)), host: new URL(up.origin).host, type: 'application/json' });
    }
    expect(up.sockets()).toBe(1);
    expect(c.connections(up.origin)).toBe(1);
  });

  it('opens no more sockets than its cap; requests past it wait for a free one and all are answered', async () => {
    const held: ServerResponse[] = [];
    let arrived!: () => void;
    const allHeld = new Promise<void>((r) => (arrived = r));
    const up = await serve((_req, res, body) => {
      held.push(res);
      res.writeHead(200);
      if (held.length === 2) arrived();
      // The first two wait until both are in: the other eight must queue behind them.
      if (held.length > 2) res.end(body);
    });
    const c = client(2);
    const answers = Promise.all(Array.from({ length: 10 }, (_, i) => send(c, up.origin, '/x', String(i))));
    await allHeld;
    expect(c.connections(up.origin)).toBe(2);
    held[0]!.end('0');
    held[1]!.end('1');
    const texts = (await answers).map((a) => a.text).sort((a, b) => Number(a) - Number(b));
    expect(texts).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(up.sockets()).toBe(2);
  });

  it('reads chunked answers, repeated headers, and an answer ended by the connection closing; a closed socket is not reused', async () => {
    const up = await serve((req, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-many': ['a', 'b'] });
        res.write('hello ');
        setImmediate(() => res.end('world'));
        return;
      }
      // No length and no chunking: the body ends where the connection does.
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      res.writeHead(200, { connection: 'close' });
      res.end('until the end');
    });
    const c = client();
    const chunked = await send(c, up.origin, '/chunked');
    expect(chunked.text).toBe('hello world');
    expect(chunked.headers['x-many']).toEqual(['a', 'b']);
    expect((await send(c, up.origin, '/close')).text).toBe('until the end');
    expect((await send(c, up.origin, '/chunked')).text).toBe('hello world');
    expect(up.sockets()).toBe(2);
  });

  it('hands on the body chunks of one read as one piece, then the end', async () => {
    // Five HTTP chunks and the terminating one in a single write: one read on our side.
    const events = ['a', 'b', 'c', 'd', 'e'].map((x) => `data: ${x}\n\n`);
    const chunked = events.map((e) => `${Buffer.byteLength(e).toString(16)}\r\n${e}\r\n`).join('');
    const origin = await rawServer((s) => s.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${chunked}0\r\n\r\n`));
    const calls: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client().dispatch(
        { origin, path: '/stream', method: 'GET', headers: {} },
        {
          onResponseStart: () => void calls.push('start'),
          onResponseData: (_c, chunk) => void calls.push(chunk.toString()),
          onResponseEnd: () => {
            calls.push('end');
            resolve();
          },
          onResponseError: (_c, err) => reject(err),
        },
      );
    });
    expect(calls).toEqual(['start', events.join(''), 'end']);
  });

  it('skips an interim answer (100 Continue) and reads the final one', async () => {
    const origin = await rawServer((s) => s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nhi'));
    const a = await send(client(), origin, '/x', '{}');
    expect(a.status).toBe(201);
    expect(a.text).toBe('hi');
  });

  it("does not reuse a socket the server keeps alive for less time than the margin (Keep-Alive: timeout=1)", async () => {
    const up = await serve((_req, res) => {
      res.writeHead(200, { 'keep-alive': 'timeout=1' });
      res.end('ok');
    });
    const c = client();
    await send(c, up.origin, '/a');
    await send(c, up.origin, '/b');
    expect(up.sockets()).toBe(2);
  });

  it('refuses a header value, name or path that would split the request, sending nothing', async () => {
    const up = await serve((_req, res) => res.end('sound'));
    const c = client();
    const dispatch = (path: string, headers: Record<string, string>) => () => c.dispatch({ origin: up.origin, path, method: 'POST', headers, body: '{}' }, {});
    expect(dispatch('/x', { 'x-evil': 'a\r\nx-injected: 1' })).toThrow(expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }));
    expect(dispatch('/x HTTP/1.1\r\nx: y', {})).toThrow(expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }));
    expect(dispatch('/x', { 'bad name': 'v' })).toThrow(expect.objectContaining({ code: 'UND_ERR_INVALID_ARG' }));
    // A sound request still goes on the same client afterwards.
    expect((await send(c, up.origin, '/ok', '{}')).text).toBe('sound');
    expect(up.sockets()).toBe(1);
  });

  it('fails an answer that is not HTTP, and one cut off in the middle, with a socket error', async () => {
    const garbage = await rawServer((s) => s.end('this is not http\r\n\r\n'));
    await expect(send(client(), garbage, '/x', '{}')).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    const cut = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part'));
    await expect(send(client(), cut, '/x', '{}')).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });

  it('closes an idle socket on which the server sends an answer to no request; the next request gets a new one', async () => {
    let first: ServerResponse | undefined;
    const up = await serve((_req, res) => {
      if (first === undefined) {
        first = res;
        res.writeHead(200, { 'content-length': '2' });
        res.end('ok');
        // A second answer on the same socket, which no request asked for.
        res.socket?.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray');
        return;
      }
      res.end('fresh');
    });
    const c = client();
    expect((await send(c, up.origin, '/a')).text).toBe('ok');
    // The stray answer reaches the idle socket, which closes: the pool then holds none.
    await vi.waitFor(() => expect(c.connections(up.origin)).toBe(0));
    expect((await send(c, up.origin, '/b')).text).toBe('fresh');
    expect(up.sockets()).toBe(2);
  });

  it('fails with the headers-timeout code when no answer starts in time, and closes that socket', async () => {
    let closed!: () => void;
    const socketClosed = new Promise<void>((r) => (closed = r));
    const up = await serve((req) => req.socket.once('close', () => closed()));
    await expect(send(client(8, 100), up.origin, '/hang', '{}')).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    await socketClosed;
  });

  it('an abort mid-answer closes the socket; the next request gets a new one', async () => {
    const up = await serve((req, res) => {
      res.writeHead(200);
      if (req.url === '/long') res.write('part');
      else res.end('short');
    });
    const c = client();
    const aborted = new Promise<unknown>((resolve) => {
      c.dispatch(
        { origin: up.origin, path: '/long', method: 'GET', headers: {} },
        {
          onResponseData: (ctl: H1Controller) => ctl.abort(new Error('client left')),
          onResponseError: (_c, err) => resolve(err),
        },
      );
    });
    expect((await aborted as Error).message).toBe('client left');
    expect((await send(c, up.origin, '/short')).text).toBe('short');
    expect(up.sockets()).toBe(2);
  });

  it('fails only its own request when a handler throws, and the client goes on', async () => {
    const up = await serve((_req, res) => res.end('answer'));
    const c = client();
    const failed = new Promise<unknown>((resolve) => {
      c.dispatch(
        { origin: up.origin, path: '/x', method: 'GET', headers: {} },
        {
          onResponseData: () => {
            throw new Error('handler bug');
          },
          onResponseError: (_c, err) => resolve(err),
        },
      );
    });
    expect(((await failed) as Error).message).toBe('handler bug');
    expect((await send(c, up.origin, '/y')).text).toBe('answer');
  });

  it('reads nothing more while paused and delivers the rest after resume', async () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const up = await serve((req, res) => {
      res.writeHead(200);
      res.end(req.url === '/big' ? big : 'pong');
    });
    const c = client();
    let ctl: H1Controller | undefined;
    let received = 0;
    let firstSize = 0;
    let firstChunk!: () => void;
    const gotFirst = new Promise<void>((r) => (firstChunk = r));
    const done = new Promise<void>((resolve, reject) => {
      c.dispatch(
        { origin: up.origin, path: '/big', method: 'GET', headers: {} },
        {
          onResponseData: (controller, chunk) => {
            received += chunk.length;
            if (ctl === undefined) {
              ctl = controller;
              firstSize = chunk.length;
              controller.pause();
              firstChunk();
            }
          },
          onResponseEnd: () => resolve(),
          onResponseError: (_c, err) => reject(err),
        },
      );
    });
    await gotFirst;
    expect(ctl!.paused).toBe(true);
    // A whole exchange on another socket, many turns of the event loop with the paused socket's
    // bytes waiting: none of them is read.
    expect((await send(client(), up.origin, '/ping')).text).toBe('pong');
    expect(received).toBe(firstSize);
    expect(firstSize).toBeLessThan(big.length);
    ctl!.resume();
    await done;
    expect(received).toBe(big.length);
  });
});

describe('the HTTP/1.1 upstream client over TLS', () => {
  // A self-signed certificate for localhost and 127.0.0.1, valid 2000-2100.
  const key = readFileSync(new URL('./tls/localhost-key.pem', import.meta.url));
  const cert = readFileSync(new URL('./tls/localhost-cert.pem', import.meta.url));

  async function serveTls(): Promise<{ port: number; sockets: () => number; requests: () => number }> {
    let sockets = 0;
    let requests = 0;
    const server = createHttpsServer({ key, cert, ALPNProtocols: ['h2', 'http/1.1'] }, (req, res) => {
      requests++;
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ body, host: req.headers.host, alpn: (req.socket as TLSSocket).alpnProtocol }));
      });
    });
    server.on('secureConnection', () => sockets++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())), () => server.closeAllConnections());
    return { port: (server.address() as AddressInfo).port, sockets: () => sockets, requests: () => requests };
  }

  it('answers over TLS with HTTP/1.1 negotiated, by name and by address, reusing one socket per origin', async () => {
    const up = await serveTls();
    const c = new H1Client({ connections: 4, connectTimeoutMs: 5000, headersTimeoutMs: 5000, keepAliveMs: 30_000, tls: { ca: cert } });
    cleanups.push(() => c.close());
    for (const origin of [`https://localhost:${up.port}`, `https://127.0.0.1:${up.port}`]) {
      for (let i = 0; i < 3; i++) {
        const a = await send(c, origin, '/v1/chat/completions', `{"n":${i}}`);
        expect(JSON.parse(a.text)).toEqual({ body: `{"n":${i}}`, host: new URL(origin).host, alpn: 'http/1.1' });
      }
      expect(c.connections(origin)).toBe(1);
    }
    expect(up.sockets()).toBe(2);
  });

  it('refuses a server whose certificate it cannot verify, sending it no request', async () => {
    const up = await serveTls();
    const err = await send(client(), `https://localhost:${up.port}`, '/x', '{}').catch((e: unknown) => e);
    expect((err as { code?: string }).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(up.requests()).toBe(0);
  });
});

describe('the HTTP transport over plain HTTP/1.1', () => {
  it('maps a refused connection to a retryable provider error naming the code', async () => {
    const probe = createTcpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const transport = createHttpTransport(providerSchema.parse({ id: 'up', type: 'openai', base_url: `http://127.0.0.1:${port}/v1`, api_key: 'x' }));
    cleanups.push(() => transport.close());
    const err = await transport.sendForText!({ url: `http://127.0.0.1:${port}/v1/chat/completions`, method: 'POST', headers: {}, body: '{}' }, new ClientSignal(), 1 << 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).message).toContain('ECONNREFUSED');
    expect((err as GatewayError).retryable).toBe(true);
  });

  it('refuses an answer larger than the limit and does not reuse its socket', async () => {
    const up = await serve((req, res) => {
      res.writeHead(200);
      res.end(req.url === '/big' ? 'y'.repeat(10_000) : 'small');
    });
    const transport = createHttpTransport(providerSchema.parse({ id: 'up', type: 'openai', base_url: `${up.origin}/v1`, api_key: 'x' }));
    cleanups.push(() => transport.close());
    const post = (path: string) => transport.sendForText!({ url: `${up.origin}${path}`, method: 'POST', headers: {}, body: '{}' }, new ClientSignal(), 1000);
    await expect(post('/big')).rejects.toThrow(/larger than 1000 bytes/);
    expect((await post('/small')).text).toBe('small');
    expect(up.sockets()).toBe(2);
  });
});
