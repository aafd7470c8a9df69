// A keep-alive HTTP/1.1 client for upstreams over plain HTTP (vLLM, Ollama, an OpenAI-compatible
// server on the local network) or TLS (the hosted APIs), on Node's own HTTP parser. The parser
// reads each socket (TCP, or TLS's cleartext side) in C++ into one shared buffer and calls back
// only for headers, body chunks and the message's end; undici takes every read through a
// JavaScript stream into a fresh 64 KB buffer and parses it in WebAssembly. In a bare relay undici took 1.3-1.7 times the CPU per request and 38 MB more peak
// memory at 128 connections (bench/results/NOTES.md, eleventh round). HTTP/2 stays with undici.
//
// It speaks the part of undici's dispatcher contract the transport's readers use: dispatch()
// with a handler that gets onRequestStart, onResponseStart, onResponseData, onResponseEnd or
// onResponseError, and a controller that aborts, pauses and resumes. Timeouts fail with undici's
// error codes, so transportError() maps both clients' failures alike.
import { createRequire } from 'node:module';
import { createConnection, isIP, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

interface ParserLike {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  consume(handle: unknown): void;
  finish(): unknown;
  close(): void;
  [key: number]: unknown;
}
interface ParserClass {
  new (): ParserLike;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass };
const kOnHeaders = HTTPParser.kOnHeaders | 0;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
const kOnBody = HTTPParser.kOnBody | 0;
const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;
const kOnExecute = HTTPParser.kOnExecute | 0;

/** The controller handed to a handler: ends the exchange from our side, or holds the socket's reads. */
export interface H1Controller {
  abort(reason: unknown): void;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
}

export interface H1Handler {
  onRequestStart?(controller: H1Controller, context: unknown): void;
  onResponseStart?(controller: H1Controller, statusCode: number, headers: Record<string, string | string[]>, statusMessage: string): void;
  onResponseData?(controller: H1Controller, chunk: Buffer): void;
  onResponseEnd?(controller: H1Controller, trailers: Record<string, string>): void;
  onResponseError?(controller: H1Controller, err: Error): void;
}

export interface H1DispatchOptions {
  origin: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
  /** Time from the request's start to the answer's headers: undefined for the pool's default, 0 for none. */
  headersTimeout?: number | undefined;
}

export interface H1PoolOptions {
  /** Sockets per origin; null: as many as requests need. */
  connections: number | null;
  connectTimeoutMs: number;
  /** Default time to the answer's headers (0: none). */
  headersTimeoutMs: number;
  /** How long an idle socket is kept (less when the server's Keep-Alive header says so). */
  keepAliveMs: number;
  /** More TLS options for https origins (a test's own CA); the system's trust store by default. */
  tls?: ConnectionOptions;
}

/** An error with the code undici gives the same failure, for transportError(). */
export class H1Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'H1Error';
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Bytes that would end a header line or the request line early.
const UNSAFE = /[\r\n\0]/;
const PATH_UNSAFE = /[\s\0]/;

/** A socket idle this close to the server's keep-alive limit is not reused: the server may close it as the request arrives. */
const KEEP_ALIVE_MARGIN_MS = 1000;

/**
 * One connection to the origin and its parser. `exchange` is the request it carries, if any;
 * callbacks from the parser for anything else (after an abort) are ignored.
 */
class Connection {
  readonly socket: Socket;
  readonly parser: ParserLike;
  exchange: Exchange | undefined;
  /** When an idle socket stops being reused (the server's keep-alive limit, or ours). */
  reuseUntil = 0;
  connected = false;
  dead = false;
  private partial: string[] | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Body chunks of the read being parsed, and the exchange whose answer ended in it. */
  private readonly body: Buffer[] = [];
  private ending: Exchange | undefined;

  constructor(
    readonly pool: OriginPool,
    host: string,
    port: number,
    secure: boolean,
  ) {
    const socket = secure
      ? // Only HTTP/1.1 is offered: a server must not pick HTTP/2 for this socket. The name is
        // sent for SNI and checked against the certificate (not an address, which SNI forbids).
        tlsConnect({ ...pool.opts.tls, host, port, ALPNProtocols: ['http/1.1'], ...(isIP(host) === 0 ? { servername: host } : {}) })
      : createConnection({ host, port, noDelay: true });
    if (secure) socket.setNoDelay(true);
    this.socket = socket;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    this.parser = parser;
    parser[kOnHeaders] = (headers: string[]) => {
      this.partial = this.partial ? this.partial.concat(headers) : headers;
    };
    parser[kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, _m: unknown, _u: unknown, status: number, message: string, upgrade: boolean, keepAlive: boolean) => {
      const all = headers ?? this.partial ?? [];
      this.partial = undefined;
      const ex = this.exchange;
      if (ex === undefined) {
        // An answer nobody asked for (on an idle socket, after an abort, or after the answer
        // that ended earlier in this read): the socket's framing can no longer be trusted.
        this.flush();
        this.fail(new H1Error('UND_ERR_SOCKET', 'the upstream sent an answer to no request'));
        return 0;
      }
      if (upgrade) {
        this.fail(new H1Error('UND_ERR_SOCKET', 'the upstream switched protocols'));
        return 0;
      }
      ex.headers(status, all, message, keepAlive);
      return 0;
    };
    // A read's body chunks (an HTTP chunk each) and the message's end are handed on together
    // once the parser has gone through the read (kOnExecute): each parser callback is a separate
    // entry into JavaScript that runs the tick queue after it, so handing each chunk on at once
    // would flush the client's corked socket once per chunk, where one read should be one write.
    parser[kOnBody] = (chunk: Buffer) => {
      if (this.exchange !== undefined) this.body.push(chunk);
    };
    parser[kOnMessageComplete] = () => {
      const ex = this.exchange;
      if (ex === undefined || ex.state !== BODY) return; // no request's, or an interim answer's end
      // Whatever the parser finds after this answer belongs to no request.
      this.exchange = undefined;
      this.ending = ex;
    };
    parser[kOnExecute] = (ret: unknown) => {
      this.flush();
      if (ret instanceof Error) this.fail(new H1Error('UND_ERR_SOCKET', `the upstream's answer is not valid HTTP/1.1 (${(ret as { code?: string }).code ?? ret.message})`));
    };
    if (pool.opts.connectTimeoutMs > 0) this.connectTimer = setTimeout(connectExpired, pool.opts.connectTimeoutMs, this);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      this.parser.consume((socket as unknown as { _handle: unknown })._handle);
    });
    // The parser takes every read; a data listener keeps the stream flowing so its end is seen.
    socket.on('data', noop);
    socket.on('end', () => {
      if (this.dead) return;
      // An answer delimited by the connection's end completes now.
      const ret = this.parser.finish();
      this.flush();
      if (ret instanceof Error) this.fail(new H1Error('UND_ERR_SOCKET', 'the upstream closed the connection in the middle of an answer'));
      else this.fail(new H1Error('UND_ERR_SOCKET', 'the upstream closed the connection'));
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new H1Error('UND_ERR_SOCKET', 'the upstream closed the connection')));
  }

  /** Hands the exchange what the last read brought: its body (as one chunk), then its end. */
  flush(): void {
    const body = this.body;
    const ending = this.ending;
    if (body.length > 0) {
      const chunk = body.length === 1 ? body[0]! : Buffer.concat(body);
      body.length = 0;
      (ending ?? this.exchange)?.data(chunk);
    }
    // Its handler may have aborted it meanwhile (which fails the connection and forgets it).
    if (ending !== undefined && this.ending === ending) {
      this.ending = undefined;
      ending.end();
    }
  }

  /** The connection is over: its request (if any) fails with `err`; it is never reused. */
  fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.pool.forget(this);
    const ex = this.exchange ?? this.ending;
    this.exchange = undefined;
    this.ending = undefined;
    this.body.length = 0;
    this.socket.destroy();
    // Closed after the callbacks that may still be on the stack have returned.
    setImmediate(closeParser, this.parser);
    ex?.error(err);
  }
}

function noop(): void {}

function closeParser(parser: ParserLike): void {
  parser.close();
}

function connectExpired(c: Connection): void {
  if (!c.connected) c.fail(new H1Error('UND_ERR_CONNECT_TIMEOUT', 'connecting to the upstream timed out'));
}

function headersExpired(ex: Exchange): void {
  ex.timer = undefined;
  if (ex.state === WAITING) ex.abort(new H1Error('UND_ERR_HEADERS_TIMEOUT', 'the upstream did not answer in time'));
}

const WAITING = 0;
const BODY = 1;
const DONE = 2;

/** One request and its answer: the handler's controller, its callbacks on the prototype. */
class Exchange implements H1Controller {
  state = WAITING;
  conn: Connection | undefined;
  timer: NodeJS.Timeout | undefined;
  paused = false;
  private keepAlive = false;

  constructor(
    readonly handler: H1Handler,
    readonly head: string,
    readonly body: string | undefined,
  ) {}

  /** Writes the request on `conn` (which is now this exchange's). */
  send(conn: Connection): void {
    if (this.state === DONE) {
      conn.pool.release(conn);
      return;
    }
    this.conn = conn;
    conn.exchange = this;
    conn.socket.write(this.body === undefined ? this.head : this.head + this.body);
  }

  headers(status: number, raw: string[], message: string, keepAlive: boolean): void {
    // An interim answer (100 Continue and the like): the real one follows on the same exchange.
    if (status < 200) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.state = BODY;
    this.keepAlive = keepAlive;
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      const had = headers[name];
      if (had === undefined) headers[name] = value;
      else if (Array.isArray(had)) had.push(value);
      else headers[name] = [had, value];
    }
    if (keepAlive && this.conn) {
      const hint = headers['keep-alive'];
      const m = typeof hint === 'string' ? /timeout=(\d+)/i.exec(hint) : null;
      const limit = m ? Math.min(this.conn.pool.opts.keepAliveMs, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS) : this.conn.pool.opts.keepAliveMs;
      this.conn.reuseUntil = limit > 0 ? Date.now() + limit : 0;
    }
    // A handler that throws fails its own request, never the process: these calls come from the
    // parser, outside any caller's try.
    try {
      this.handler.onResponseStart?.(this, status, headers, message);
    } catch (err) {
      this.abort(err);
    }
  }

  data(chunk: Buffer): void {
    if (this.state !== BODY) return;
    try {
      this.handler.onResponseData?.(this, chunk);
    } catch (err) {
      this.abort(err);
    }
  }

  end(): void {
    if (this.state === WAITING) return; // the end of an interim answer
    if (this.state !== BODY) return;
    this.state = DONE;
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      conn.exchange = undefined;
      if (this.paused) setReading(conn.socket, true);
      this.paused = false;
      if (this.keepAlive && conn.reuseUntil > 0) conn.pool.release(conn);
      else conn.fail(new H1Error('UND_ERR_SOCKET', 'closed after the answer'));
    }
    try {
      this.handler.onResponseEnd?.(this, {});
    } catch (err) {
      process.emitWarning(err as Error);
    }
  }

  error(err: Error): void {
    if (this.state === DONE) return;
    this.state = DONE;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.conn = undefined;
    try {
      this.handler.onResponseError?.(this, err);
    } catch (thrown) {
      process.emitWarning(thrown as Error);
    }
  }

  abort(reason: unknown): void {
    if (this.state === DONE) return;
    const err = reason instanceof Error ? reason : new H1Error('UND_ERR_ABORTED', String(reason));
    const conn = this.conn;
    if (conn) {
      // The answer cannot be read to its end on this connection now: it goes.
      conn.exchange = undefined;
      conn.fail(err);
    }
    this.error(err);
  }

  pause(): void {
    if (this.paused || this.state !== BODY || !this.conn) return;
    this.paused = true;
    setReading(this.conn.socket, false);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.conn) setReading(this.conn.socket, true);
  }
}

type Handle = { readStop(): number; readStart(): number; reading?: boolean };

/** Starts or stops reading the socket (the parser consumes it, so the stream's own pause does not). */
function setReading(socket: Socket, on: boolean): void {
  const h = (socket as unknown as { _handle: Handle | null })._handle;
  if (!h) return;
  h.reading = on;
  if (on) h.readStart();
  else h.readStop();
}

/** The sockets to one origin: idle ones (most recent last), a count of all, and requests waiting for one. */
class OriginPool {
  private readonly idle: Connection[] = [];
  private open = 0;
  private readonly waiting: Exchange[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;
  readonly hostHeader: string;

  constructor(
    origin: string,
    readonly opts: H1PoolOptions,
  ) {
    const u = new URL(origin);
    this.host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.secure = u.protocol === 'https:';
    this.port = u.port !== '' ? Number(u.port) : this.secure ? 443 : 80;
    this.hostHeader = u.host;
  }

  get size(): number {
    return this.open;
  }

  run(ex: Exchange): void {
    const now = Date.now();
    let conn = this.idle.pop();
    while (conn !== undefined && conn.reuseUntil <= now) {
      conn.fail(new H1Error('UND_ERR_SOCKET', 'idle too long'));
      conn = this.idle.pop();
    }
    if (conn === undefined) {
      if (this.opts.connections !== null && this.open >= this.opts.connections) {
        this.waiting.push(ex);
        return;
      }
      this.open++;
      conn = new Connection(this, this.host, this.port, this.secure);
    }
    ex.send(conn);
  }

  /** `conn` finished an answer and may carry another. */
  release(conn: Connection): void {
    if (conn.dead) return;
    const next = this.nextWaiting();
    if (next !== undefined) {
      next.send(conn);
      return;
    }
    this.idle.push(conn);
  }

  /** The oldest request still waiting for a socket (one aborted meanwhile needs none). */
  private nextWaiting(): Exchange | undefined {
    let next = this.waiting.shift();
    while (next !== undefined && next.state === DONE) next = this.waiting.shift();
    return next;
  }

  /** `conn` is gone: a request waiting for a socket gets a new one. */
  forget(conn: Connection): void {
    this.open--;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    const next = this.nextWaiting();
    if (next !== undefined) this.run(next);
  }

  /** Closes idle sockets past their keep-alive time. */
  sweep(now: number): void {
    for (const c of this.idle.slice()) if (c.reuseUntil <= now) c.fail(new H1Error('UND_ERR_SOCKET', 'idle too long'));
  }

  close(): void {
    for (const ex of this.waiting.splice(0)) ex.error(new H1Error('UND_ERR_CLOSED', 'the client is closed'));
    for (const c of this.idle.slice()) c.fail(new H1Error('UND_ERR_CLOSED', 'the client is closed'));
  }
}

/** HTTP/1.1 keep-alive pools, one per origin (http or https), with undici's dispatch() contract. */
export class H1Client {
  private readonly pools = new Map<string, OriginPool>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: H1PoolOptions) {}

  /** Sockets open to `origin` (idle or busy). */
  connections(origin: string): number {
    return this.pools.get(origin)?.size ?? 0;
  }

  dispatch(o: H1DispatchOptions, handler: H1Handler): boolean {
    if (this.closed) throw new H1Error('UND_ERR_CLOSED', 'the client is closed');
    let pool = this.pools.get(o.origin);
    if (pool === undefined) {
      if (!o.origin.startsWith('http://') && !o.origin.startsWith('https://')) throw new H1Error('UND_ERR_INVALID_ARG', `not an HTTP origin: ${o.origin}`);
      pool = new OriginPool(o.origin, this.opts);
      this.pools.set(o.origin, pool);
      if (this.sweeper === undefined) {
        this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(10_000, this.opts.keepAliveMs)));
        this.sweeper.unref();
      }
    }
    const ex = new Exchange(handler, requestHead(o, pool.hostHeader), o.body);
    const wait = o.headersTimeout ?? this.opts.headersTimeoutMs;
    handler.onRequestStart?.(ex, {});
    if (ex.state === DONE) return true;
    if (wait > 0) ex.timer = setTimeout(headersExpired, wait, ex);
    pool.run(ex);
    return true;
  }

  private sweep(): void {
    const now = Date.now();
    for (const p of this.pools.values()) p.sweep(now);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const p of this.pools.values()) p.close();
  }
}

/** The request line and headers; throws on a path, name or value that would break the message. */
function requestHead(o: H1DispatchOptions, host: string): string {
  if (!TOKEN.test(o.method)) throw new H1Error('UND_ERR_INVALID_ARG', 'invalid request method');
  if (o.path[0] !== '/' || PATH_UNSAFE.test(o.path)) throw new H1Error('UND_ERR_INVALID_ARG', 'invalid request path');
  let head = `${o.method} ${o.path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const name in o.headers) {
    const value = o.headers[name];
    if (value === undefined) continue;
    if (!TOKEN.test(name) || UNSAFE.test(value)) throw new H1Error('UND_ERR_INVALID_ARG', `invalid request header: ${name}`);
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    head += `${name}: ${value}\r\n`;
  }
  if (o.body !== undefined) head += `content-length: ${Buffer.byteLength(o.body)}\r\n`;
  return `${head}\r\n`;
}
