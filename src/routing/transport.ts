// Sending one upstream request: the Transport contract and its HTTP implementation (a keep-alive
// pool per provider, connect / first-byte / idle timeouts, client abort): HTTP/1.1, plain or over
// TLS, through h1-client.ts, HTTP/2 through undici.
import { Readable } from 'node:stream';
import type { buildConnector as BuildConnector, Dispatcher } from 'undici';
import { H1Client, type H1DispatchOptions, H1Error, type H1Handler } from './h1-client.js';
import { type Agent, request, undici } from './undici.js';
import type { ProviderConfig } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import type { UpstreamHeaders, UpstreamRequest } from '../providers/types.js';
import type { RequestSignal } from '../core/request-signal.js';

export interface UpstreamResponse {
  status: number;
  headers: UpstreamHeaders;
  body: AsyncIterable<Uint8Array>;
  /** Stop reading and release the connection. */
  discard(): void;
}

/** Takes a pushed upstream body: each chunk, then its end or its failure (once). */
export interface BodySink {
  data(chunk: Uint8Array): void;
  end(): void;
  error(err: unknown): void;
}

/**
 * An upstream body that can push its chunks to a sink as they arrive, in the callback that
 * brought them, instead of being pulled through promises; once subscribed, it is not iterated.
 */
export interface PushBody {
  /** Hands what has arrived to `sink` at once, then every chunk as it comes. */
  subscribe(sink: BodySink): void;
  /** Stops reading the upstream (the client is not keeping up). */
  pause(): void;
  resume(): void;
}

/** The body iterator as a PushBody, when it is one (the HTTP transport's streamed answers). */
export function pushBody(iterator: AsyncIterator<Uint8Array>): PushBody | undefined {
  return iterator instanceof StreamReader ? iterator : undefined;
}

/** A whole upstream answer read as text (non-stream requests). */
export interface UpstreamText {
  status: number;
  headers: UpstreamHeaders;
  text: string;
}

export interface Transport {
  send(req: UpstreamRequest, signal: RequestSignal): Promise<UpstreamResponse>;
  /**
   * The whole answer as text, refusing bodies past `limit` bytes: for a transport that can read
   * it without a body stream. Without it, sendForText() reads send()'s body.
   */
  sendForText?(req: UpstreamRequest, signal: RequestSignal, limit: number): Promise<UpstreamText>;
  close(): Promise<void>;
}

/** The most bytes of an upstream answer read whole (a non-stream answer, an error body). */
export const MAX_UPSTREAM_BODY = 64 * 1024 * 1024;

const tooLarge = (providerId: string, limit: number) => new GatewayError('provider_error', `The provider (${providerId}) sent a response larger than ${limit} bytes.`);

/** Sends a request whose answer is read whole (a non-stream answer), as text. */
export function sendForText(transport: Transport, req: UpstreamRequest, signal: RequestSignal, limit: number, providerId: string): Promise<UpstreamText> {
  // The transport's own promise, not one more wrapped around it.
  if (transport.sendForText && !req.bodyStream) return transport.sendForText(req, signal, limit);
  return sendAndRead(transport, req, signal, limit, providerId);
}

async function sendAndRead(transport: Transport, req: UpstreamRequest, signal: RequestSignal, limit: number, providerId: string): Promise<UpstreamText> {
  const res = await transport.send(req, signal);
  return { status: res.status, headers: res.headers, text: await readBody(res, limit, providerId) };
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** Turns a transport failure into a GatewayError; the client's own abort is passed through unchanged. */
/**
 * Turns a transport failure into a GatewayError; the client's own abort is passed through
 * unchanged. `wholeRequestMs` is set for a non-stream request: its answer arrives only when
 * the generation ends, so running out of that time is the request's own outcome (a long
 * generation), neither retried nor held against the channel.
 */
export function transportError(err: unknown, providerId: string, signal: RequestSignal, wholeRequestMs?: number): unknown {
  if (signal.aborted) return err;
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('timeout', `Connecting to the provider (${providerId}) timed out.`, { retryable: true, blame: 'channel', cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    if (wholeRequestMs !== undefined) {
      return new GatewayError(
        'timeout',
        `The provider (${providerId}) did not finish the answer within ${Math.round(wholeRequestMs / 1000)} s. Ask for fewer output tokens, or stream the answer.`,
        { cause: err },
      );
    }
    return new GatewayError('timeout', `The provider (${providerId}) did not start answering in time.`, { retryable: true, blame: 'channel', cause: err });
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return new GatewayError('timeout', `The provider (${providerId}) stopped sending data (idle timeout).`, { retryable: true, blame: 'channel', cause: err });
  }
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  if (CONNECTION_CODES.has(code) || (cause && CONNECTION_CODES.has(cause))) {
    return new GatewayError('provider_error', `The connection to the provider (${providerId}) failed (${cause ?? code}).`, { retryable: true, blame: 'channel', cause: err });
  }
  return new GatewayError('provider_error', `The request to the provider (${providerId}) failed.`, { retryable: true, blame: 'channel', cause: err });
}

/** HTTP/2 streams one upstream connection carries at once (Node's and most servers' advertised limit is at least this). */
export const H2_STREAMS_PER_CONNECTION = 100;

/**
 * The most requests the provider's pool can carry at once without queueing: what its gate
 * admits. HTTP/1.1 carries one request per connection, HTTP/2 many.
 */
export function upstreamCapacity(provider: ProviderConfig): number {
  if (provider.connections === null) return provider.max_in_flight;
  return Math.min(provider.max_in_flight, provider.connections * (provider.http2 ? H2_STREAMS_PER_CONNECTION : 1));
}

/**
 * Opens connections that must speak HTTP/2: ALPN "h2" over TLS, prior knowledge (h2c) over
 * plain HTTP. A TLS server that picks HTTP/1.1 is refused rather than used, since requests
 * multiplexed for HTTP/2 would be pipelined behind each other on an HTTP/1.1 connection.
 */
function h2Connector(provider: ProviderConfig): BuildConnector.connector {
  const plain = new URL(provider.base_url ?? 'https://invalid').protocol === 'http:';
  const base = undici().buildConnector({ timeout: provider.timeouts.connect_ms, noDelay: true, allowH2: true, ...(plain ? { useH2c: true } : {}) } as BuildConnector.BuildOptions);
  return (opts, callback) =>
    base(opts, (err, socket) => {
      if (err || !socket) return callback(err ?? new Error('no socket'), null);
      if ((socket as { alpnProtocol?: string | false }).alpnProtocol !== 'h2') {
        socket.destroy();
        return callback(new Error(`the provider (${provider.id}) does not offer HTTP/2 (ALPN); set http2: false for it`), null);
      }
      callback(null, socket);
    });
}

/**
 * A URL's origin, remembered: a provider's requests all start with the same one, and parsing
 * a URL for it on every request costs an object graph each time.
 */
export class OriginMemo {
  private last = '';
  private lastPrefix = '';

  of(url: string): string {
    if (this.lastPrefix !== '' && url.startsWith(this.lastPrefix)) return this.last;
    const origin = new URL(url).origin;
    // Only a URL that spells its origin exactly so (scheme and host in lower case, no default
    // port) is recognised by its prefix; any other is parsed every time.
    if (url.startsWith(`${origin}/`)) {
      this.last = origin;
      this.lastPrefix = `${origin}/`;
    }
    return origin;
  }
}

/**
 * The options of one dispatch of an upstream request (H1Client or undici), in one object of one
 * shape (an absent option is undefined, which both treat as unset): no spread copies per request.
 */
function dispatchOptions<B extends Dispatcher.DispatchOptions['body']>(req: UpstreamRequest, provider: ProviderConfig, origins: OriginMemo, body: B, bodyTimeout: number | undefined, headersTimeout = req.timeoutMs) {
  return {
    origin: origins.of(req.url),
    path: req.url.slice(req.url.indexOf('/', req.url.indexOf('//') + 2)),
    method: req.method as 'POST',
    headers: req.headers,
    body,
    // Over HTTP/2 undici multiplexes only requests marked idempotent: a POST would otherwise
    // wait, unseen, until every other request on its connection had ended. Besides, undici
    // re-sends such a request only when the server refused it unstarted (GOAWAY).
    idempotent: provider.http2 ? true : undefined,
    // A non-stream answer's headers come when the generation ends: wait for the whole request.
    headersTimeout,
    bodyTimeout,
  };
}

/** What the readers need of a client: undici's dispatch(), which the HTTP/1.1 client speaks too. */
interface Dispatch {
  dispatch(opts: H1DispatchOptions, handler: H1Handler): boolean;
}

/** Keep-alive time of an idle upstream socket (shorter when the server's Keep-Alive header says so). */
const KEEP_ALIVE_MS = 30_000;

/**
 * A provider's transport. HTTP/1.1 upstreams (plain or TLS) go through H1Client (Node's parser),
 * HTTP/2 ones through an undici Agent. Request bodies read from a stream (audio uploads) always go
 * through undici, whose request API takes a stream; for an HTTP/1.1 provider that agent is made
 * at the first such request.
 */
export function createHttpTransport(provider: ProviderConfig): Transport {
  const t = provider.timeouts;
  const origins = new OriginMemo();
  let agent: Agent | undefined;
  const undiciAgent = (): Agent => {
    if (agent) return agent;
    agent = new (undici().Agent)({
      // Never fewer connections (HTTP/2 streams) than the gate admits requests: no silent queue here.
      connections: provider.connections,
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: t.first_byte_ms,
      // The idle timeout is the IdleWatch's: undici's would re-arm a timer on every chunk received.
      bodyTimeout: 0,
      ...(provider.http2
        ? { allowH2: true, connect: h2Connector(provider), pipelining: H2_STREAMS_PER_CONNECTION, maxConcurrentStreams: H2_STREAMS_PER_CONNECTION }
        : { connect: { timeout: t.connect_ms, noDelay: true } }),
    });
    return agent;
  };
  const h1 = !provider.http2 ? new H1Client({ connections: provider.connections, connectTimeoutMs: t.connect_ms, headersTimeoutMs: t.first_byte_ms, keepAliveMs: KEEP_ALIVE_MS }) : undefined;
  const client: Dispatch = h1 ?? (undiciAgent() as unknown as Dispatch);
  const idle = new IdleWatch(t.idle_ms);
  return {
    async send(req, signal) {
      if (!req.bodyStream) return dispatchStreaming(client, provider, idle, origins, req, signal);
      try {
        const res = await request(undiciAgent(), { ...dispatchOptions(req, provider, origins, Readable.from(req.bodyStream()), undefined), signal });
        return {
          status: res.statusCode,
          headers: res.headers as UpstreamHeaders,
          body: watchedBody(res.body, idle, (err) => transportError(err, provider.id, signal, req.timeoutMs)),
          discard: () => res.body.destroy(),
        };
      } catch (err) {
        throw transportError(err, provider.id, signal, req.timeoutMs);
      }
    },
    // No body stream, async iterator or idle-watch entry: the client hands the chunks to a handler
    // that keeps them and keeps the request's timeouts itself (TextReader).
    sendForText(req, signal, limit) {
      if (signal.aborted) return Promise.reject(signal.reason);
      const reader = new TextReader(signal, limit, provider.id, req.timeoutMs, req.timeoutMs ?? t.first_byte_ms, t.idle_ms);
      signal.addEventListener('abort', reader, ONCE);
      try {
        client.dispatch(dispatchOptions(req, provider, origins, req.body, 0, 0), reader);
      } catch (err) {
        reader.onResponseError(undefined, err);
      }
      return reader.answer;
    },
    close: async () => {
      idle.stop();
      await Promise.all([h1?.close(), agent?.close()]);
    },
  };
}

const ONCE = { once: true } as const;

/** A non-stream request's timeout ran out: before the answer's headers, or between its chunks. */
function expireText(reader: TextReader): void {
  reader.expire();
}

/**
 * The undici handler of a non-stream request: keeps the answer's chunks and settles `answer`
 * with the whole text. One object per request, its callbacks on the prototype; it is also the
 * abort listener of the client's signal (handleEvent).
 *
 * It keeps the request's timeouts with one Node timer (the time for the headers, then the idle
 * time between chunks) that is cleared when the answer ends. undici's own would be timers of its
 * connection that a cleared request leaves in undici's timer list until its next sweep, up to a
 * second later: under load, two such objects per request outlived the young generation.
 */
class TextReader {
  readonly answer: Promise<UpstreamText>;
  private resolve!: (text: UpstreamText) => void;
  private reject!: (err: unknown) => void;
  private first: Buffer | undefined;
  private more: Buffer[] | undefined;
  private size = 0;
  private status = 0;
  private headers: UpstreamHeaders | undefined;
  private controller: { abort(reason: unknown): void } | undefined;
  private done = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly signal: RequestSignal,
    private readonly limit: number,
    private readonly providerId: string,
    private readonly timeoutMs: number | undefined,
    /** Time for the answer's headers (the whole generation for a non-stream answer). */
    private readonly headersMs: number,
    /** Time between two chunks of the answer's body. */
    private readonly idleMs: number,
  ) {
    this.answer = new Promise<UpstreamText>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The client's signal aborted. */
  handleEvent(): void {
    this.controller?.abort(this.signal.reason);
  }

  /** The timer ran out: undici's own timeout errors, so the request fails as with undici's timers. */
  expire(): void {
    this.timer = undefined;
    if (this.done) return;
    this.controller?.abort(this.headers === undefined ? new H1Error('UND_ERR_HEADERS_TIMEOUT', 'the upstream did not answer in time') : new H1Error('UND_ERR_BODY_TIMEOUT', 'upstream idle timeout'));
  }

  onRequestStart(c: { abort(reason: unknown): void }): void {
    this.controller = c;
    if (this.signal.aborted) {
      c.abort(this.signal.reason);
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = this.headersMs > 0 ? setTimeout(expireText, this.headersMs, this) : undefined;
  }

  onResponseStart(_c: unknown, statusCode: number, h: unknown): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = h as UpstreamHeaders;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = this.idleMs > 0 ? setTimeout(expireText, this.idleMs, this) : undefined;
  }

  onResponseData(c: { abort(reason: unknown): void }, chunk: Buffer): void {
    this.timer?.refresh();
    this.size += chunk.length;
    if (this.size > this.limit) {
      c.abort(tooLarge(this.providerId, this.limit));
      return;
    }
    if (this.first === undefined) this.first = chunk;
    else (this.more ??= [this.first]).push(chunk);
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.finish();
    const whole = this.more !== undefined ? Buffer.concat(this.more) : (this.first ?? EMPTY);
    this.resolve({ status: this.status, headers: this.headers ?? {}, text: whole.toString('utf8') });
  }

  onResponseError(_c: unknown, err: unknown): void {
    if (this.done) return;
    this.finish();
    this.reject(transportError(err, this.providerId, this.signal, this.timeoutMs));
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.signal.removeEventListener('abort', this);
  }
}

const EMPTY = Buffer.alloc(0);

interface Watched {
  /** when the reader started waiting for the next chunk; 0 while it is not waiting */
  waitingSince: number;
  expire(): void;
}

/**
 * The upstream idle timeout (timeouts.idle_ms) for every body of one provider, kept by one
 * coarse sweep instead of a timer re-armed per chunk: a body whose reader has waited longer
 * than idle_ms for the next chunk is destroyed with undici's body-timeout error. The sweep
 * runs every tenth of idle_ms (at most every second) while bodies are open.
 */
class IdleWatch {
  private readonly open = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(private readonly idleMs: number) {
    this.tickMs = Math.max(5, Math.min(1000, Math.floor(idleMs / 10)));
  }

  add(w: Watched): void {
    this.open.add(w);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
  }

  delete(w: Watched): void {
    this.open.delete(w);
    if (this.open.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of this.open) {
      if (w.waitingSince !== 0 && now - w.waitingSince >= this.idleMs) {
        this.delete(w);
        w.expire();
      }
    }
  }
}

/**
 * What a streamed body holds for a reader that has not caught up before the upstream socket is
 * paused (back-pressure): 64 chunks or 256 KiB, whichever comes first. The byte bound matters
 * where one chunk is one socket read (up to 64 KiB): 64 of those held 4 MiB per stream.
 */
export const HIGH_WATER_CHUNKS = 64;
export const HIGH_WATER_BYTES = 256 * 1024;

/**
 * Sends a request whose body is read as it comes (streams): undici hands each chunk to a
 * handler that queues it for the reader, with no Readable stream, no stream async iterator and
 * no wrapper in between (each of those cost allocations and promise turns per chunk). The
 * queue pauses the upstream socket past its high-water mark (HIGH_WATER_CHUNKS, HIGH_WATER_BYTES);
 * the IdleWatch keeps the idle timeout.
 */
function dispatchStreaming(agent: Dispatch, provider: ProviderConfig, idle: IdleWatch, origins: OriginMemo, req: UpstreamRequest, signal: RequestSignal): Promise<UpstreamResponse> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const reader = new StreamReader(idle, signal, provider.id, req.timeoutMs);
  signal.addEventListener('abort', reader, ONCE);
  try {
    agent.dispatch(dispatchOptions(req, provider, origins, req.body, undefined), reader);
  } catch (err) {
    reader.finish();
    reader.rejectStart(reader.mapped(err));
  }
  return reader.started;
}

type StreamController = { abort(reason: unknown): void; pause(): void; resume(): void; readonly paused: boolean };

/**
 * One streamed upstream answer in one object, its callbacks on the prototype: the undici
 * handler, the response and its body (an iterator, or a PushBody once subscribed) once headers
 * came, the idle-watch entry, and the abort listener of the client's signal (handleEvent).
 */
export class StreamReader implements UpstreamResponse, Watched, AsyncIterator<Uint8Array>, PushBody {
  readonly started: Promise<UpstreamResponse>;
  resolveStart!: (res: UpstreamResponse) => void;
  rejectStart!: (err: unknown) => void;
  status = 0;
  headers: UpstreamHeaders = NO_HEADERS;
  readonly body: AsyncIterable<Uint8Array> = this;
  waitingSince = 0;
  private controller: StreamController | undefined;
  private headed = false;
  private ended = false;
  private failure: unknown;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  /** The reader waiting for the next step, if one is. */
  private waitResolve: ((step: IteratorResult<Uint8Array>) => void) | undefined;
  private waitReject: ((err: unknown) => void) | undefined;
  /** Where chunks go once subscribed (then nothing is queued). */
  private sink: BodySink | undefined;
  /** The sink asked to pause. */
  private held = false;

  constructor(
    private readonly idle: IdleWatch,
    private readonly signal: RequestSignal,
    private readonly providerId: string,
    private readonly timeoutMs: number | undefined,
  ) {
    this.started = new Promise<UpstreamResponse>((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
  }

  mapped(err: unknown): unknown {
    return transportError(err, this.providerId, this.signal, this.timeoutMs);
  }

  finish(): void {
    this.signal.removeEventListener('abort', this);
    this.idle.delete(this);
  }

  /** The client's signal aborted. */
  handleEvent(): void {
    this.controller?.abort(this.signal.reason);
  }

  /** The idle timeout ran out. */
  expire(): void {
    this.controller?.abort(new H1Error('UND_ERR_BODY_TIMEOUT', 'upstream idle timeout'));
  }

  /** Everything queued, as one chunk (as a Readable's read() gives it): fewer, larger steps for the reader. */
  private take(): Buffer {
    const queue = this.queue;
    const chunk = queue.length === 1 ? queue[0]! : Buffer.concat(queue, this.queuedBytes);
    queue.length = 0;
    this.queuedBytes = 0;
    if (this.controller?.paused) this.controller.resume();
    return chunk;
  }

  /** Hands the reader waiting for a step what has arrived, if anything has. */
  private wake(): void {
    const resolve = this.waitResolve;
    const reject = this.waitReject;
    if (!resolve || !reject) return;
    if (this.queue.length > 0) {
      this.waited();
      resolve({ done: false, value: this.take() });
    } else if (this.failure !== undefined) {
      this.waited();
      reject(this.mapped(this.failure));
    } else if (this.ended) {
      this.waited();
      resolve({ done: true, value: undefined });
    }
  }

  private waited(): void {
    this.waitResolve = undefined;
    this.waitReject = undefined;
    this.waitingSince = 0;
  }

  discard(): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = new Error('the upstream body was discarded');
    this.finish();
    this.controller?.abort(this.failure);
  }

  subscribe(sink: BodySink): void {
    this.sink = sink;
    if (this.queue.length > 0) sink.data(this.take());
    if (this.failure !== undefined) sink.error(this.mapped(this.failure));
    else if (this.ended) sink.end();
    // Waiting for the next chunk from now on, until paused.
    else if (!this.held) this.waitingSince = Date.now();
  }

  pause(): void {
    this.held = true;
    this.waitingSince = 0;
    if (this.controller && !this.controller.paused) this.controller.pause();
  }

  resume(): void {
    this.held = false;
    if (this.ended || this.failure !== undefined) return;
    this.waitingSince = Date.now();
    if (this.controller?.paused) this.controller.resume();
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.queue.length > 0) return Promise.resolve({ done: false, value: this.take() });
    if (this.failure !== undefined) return Promise.reject(this.mapped(this.failure));
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    this.waitingSince = Date.now();
    return new Promise((resolve, reject) => {
      this.waitResolve = resolve;
      this.waitReject = reject;
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.discard();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  onRequestStart(c: unknown): void {
    this.controller = c as StreamController;
    if (this.signal.aborted) this.controller.abort(this.signal.reason);
  }

  onResponseStart(_c: unknown, statusCode: number, headers: unknown): void {
    if (statusCode < 200) return;
    this.headed = true;
    this.status = statusCode;
    this.headers = headers as UpstreamHeaders;
    this.idle.add(this);
    this.resolveStart(this);
  }

  onResponseData(c: StreamController, chunk: Buffer): void {
    const sink = this.sink;
    if (sink !== undefined) {
      if (this.failure !== undefined) return;
      sink.data(chunk);
      // The sink may have paused (or discarded) the body meanwhile.
      if (!this.held && this.failure === undefined) this.waitingSince = Date.now();
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += chunk.byteLength;
    if ((this.queue.length >= HIGH_WATER_CHUNKS || this.queuedBytes >= HIGH_WATER_BYTES) && !c.paused) c.pause();
    this.wake();
  }

  onResponseEnd(): void {
    if (this.failure !== undefined) return;
    this.ended = true;
    this.finish();
    if (!this.headed) this.rejectStart(this.mapped(new Error('the upstream ended without a response')));
    else if (this.sink !== undefined) this.sink.end();
    else this.wake();
  }

  onResponseError(_c: unknown, err: unknown): void {
    this.finish();
    if (!this.headed) {
      this.rejectStart(this.mapped(err));
      return;
    }
    if (this.failure === undefined && !this.ended) {
      this.failure = err;
      if (this.sink !== undefined) {
        this.sink.error(this.mapped(err));
        return;
      }
    }
    this.wake();
  }
}

const NO_HEADERS: UpstreamHeaders = Object.freeze({});

/** The body as a plain async iterator (no generator in between), idle-watched, its errors mapped by `mapError`. */
function watchedBody(body: Readable & AsyncIterable<unknown>, idle: IdleWatch, mapError: (err: unknown) => unknown): AsyncIterable<Uint8Array> & AsyncIterator<Uint8Array> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  const w: Watched = { waitingSince: 0, expire: () => body.destroy(new H1Error('UND_ERR_BODY_TIMEOUT', 'upstream idle timeout')) };
  idle.add(w);
  body.once('close', () => idle.delete(w));
  const onStep = (step: IteratorResult<Uint8Array>) => {
    w.waitingSince = 0;
    return step;
  };
  const onError = (err: unknown) => {
    idle.delete(w);
    throw mapError(err);
  };
  const iterator = {
    next(): Promise<IteratorResult<Uint8Array>> {
      w.waitingSince = Date.now();
      return it.next().then(onStep, onError);
    },
    return(): Promise<IteratorResult<Uint8Array>> {
      idle.delete(w);
      w.waitingSince = 0;
      return it.return ? it.return().then(onStep, onError) : Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** Reads a whole upstream body as text, refusing to buffer past `limit` bytes. */
export async function readBody(res: UpstreamResponse, limit: number, providerId: string): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > limit) {
      res.discard();
      throw tooLarge(providerId, limit);
    }
    parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(parts).toString('utf8');
}
