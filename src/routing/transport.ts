// Sending one upstream request: the Transport contract and its undici implementation
// (a keep-alive pool per provider, connect / first-byte / idle timeouts, client abort).
import { Readable } from 'node:stream';
import type { buildConnector as BuildConnector } from 'undici';
import { Agent, buildConnector, request, errors as undiciErrors } from './undici.js';
import type { ProviderConfig } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import type { UpstreamHeaders, UpstreamRequest } from '../providers/types.js';

export interface UpstreamResponse {
  status: number;
  headers: UpstreamHeaders;
  body: AsyncIterable<Uint8Array>;
  /** Stop reading and release the connection. */
  discard(): void;
}

/** A whole upstream answer read as text (non-stream requests). */
export interface UpstreamText {
  status: number;
  headers: UpstreamHeaders;
  text: string;
}

export interface Transport {
  send(req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse>;
  /**
   * The whole answer as text, refusing bodies past `limit` bytes: for a transport that can read
   * it without a body stream. Without it, sendForText() reads send()'s body.
   */
  sendForText?(req: UpstreamRequest, signal: AbortSignal, limit: number): Promise<UpstreamText>;
  close(): Promise<void>;
}

/** The most bytes of an upstream answer read whole (a non-stream answer, an error body). */
export const MAX_UPSTREAM_BODY = 64 * 1024 * 1024;

const tooLarge = (providerId: string, limit: number) => new GatewayError('provider_error', `The provider (${providerId}) sent a response larger than ${limit} bytes.`);

/** Sends a request whose answer is read whole (a non-stream answer), as text. */
export async function sendForText(transport: Transport, req: UpstreamRequest, signal: AbortSignal, limit: number, providerId: string): Promise<UpstreamText> {
  if (transport.sendForText && !req.bodyStream) return transport.sendForText(req, signal, limit);
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
export function transportError(err: unknown, providerId: string, signal: AbortSignal, wholeRequestMs?: number): unknown {
  if (signal.aborted) return err;
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (err instanceof undiciErrors.ConnectTimeoutError || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('timeout', `Connecting to the provider (${providerId}) timed out.`, { retryable: true, blame: 'channel', cause: err });
  }
  if (err instanceof undiciErrors.HeadersTimeoutError || code === 'UND_ERR_HEADERS_TIMEOUT') {
    if (wholeRequestMs !== undefined) {
      return new GatewayError(
        'timeout',
        `The provider (${providerId}) did not finish the answer within ${Math.round(wholeRequestMs / 1000)} s. Ask for fewer output tokens, or stream the answer.`,
        { cause: err },
      );
    }
    return new GatewayError('timeout', `The provider (${providerId}) did not start answering in time.`, { retryable: true, blame: 'channel', cause: err });
  }
  if (err instanceof undiciErrors.BodyTimeoutError || code === 'UND_ERR_BODY_TIMEOUT') {
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
  const base = buildConnector({ timeout: provider.timeouts.connect_ms, noDelay: true, allowH2: true, ...(plain ? { useH2c: true } : {}) } as BuildConnector.BuildOptions);
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

/** What every undici call of an upstream request carries (its body and timeouts aside). */
function dispatchOptions(req: UpstreamRequest, provider: ProviderConfig, origins: OriginMemo) {
  return {
    origin: origins.of(req.url),
    path: req.url.slice(req.url.indexOf('/', req.url.indexOf('//') + 2)),
    method: req.method as 'POST',
    headers: req.headers,
    // Over HTTP/2 undici multiplexes only requests marked idempotent: a POST would otherwise
    // wait, unseen, until every other request on its connection had ended. Besides, undici
    // re-sends such a request only when the server refused it unstarted (GOAWAY).
    ...(provider.http2 ? { idempotent: true } : {}),
    // A non-stream answer's headers come when the generation ends: wait for the whole request.
    ...(req.timeoutMs !== undefined ? { headersTimeout: req.timeoutMs } : {}),
  };
}

export function createUndiciTransport(provider: ProviderConfig): Transport {
  const t = provider.timeouts;
  const origins = new OriginMemo();
  const agent = new Agent({
    // Never fewer connections (HTTP/2 streams) than the gate admits requests: no silent queue here.
    connections: provider.connections,
    keepAliveTimeout: 30_000,
    headersTimeout: t.first_byte_ms,
    // The idle timeout is the IdleWatch's: undici's would re-arm a timer on every chunk received.
    bodyTimeout: 0,
    ...(provider.http2
      ? { allowH2: true, connect: h2Connector(provider), pipelining: H2_STREAMS_PER_CONNECTION, maxConcurrentStreams: H2_STREAMS_PER_CONNECTION }
      : { connect: { timeout: t.connect_ms, noDelay: true } }),
  });
  const idle = new IdleWatch(t.idle_ms);
  return {
    async send(req, signal) {
      if (!req.bodyStream) return dispatchStreaming(agent, provider, idle, origins, req, signal);
      try {
        const res = await request(agent, {
          ...dispatchOptions(req, provider, origins),
          body: req.bodyStream ? Readable.from(req.bodyStream()) : req.body,
          signal,
        });
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
    // No body stream, async iterator or idle-watch entry: undici hands the chunks to a handler
    // that keeps them, with its own body timeout (a whole answer comes in a few chunks).
    sendForText(req, signal, limit) {
      return new Promise<UpstreamText>((resolve, reject) => {
        const parts: Buffer[] = [];
        let size = 0;
        let status = 0;
        let headers: UpstreamHeaders = {};
        let controller: { abort(reason: unknown): void } | undefined;
        let done = false;
        const onAbort = () => controller?.abort(signal.reason);
        const finish = () => {
          done = true;
          signal.removeEventListener('abort', onAbort);
        };
        const fail = (err: unknown) => {
          if (done) return;
          finish();
          reject(transportError(err, provider.id, signal, req.timeoutMs));
        };
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          agent.dispatch(
            {
              ...dispatchOptions(req, provider, origins),
              body: req.body,
              bodyTimeout: t.idle_ms,
            },
            {
              onRequestStart(c) {
                controller = c;
                if (signal.aborted) c.abort(signal.reason);
              },
              onResponseStart(_c, statusCode, h) {
                if (statusCode < 200) return;
                status = statusCode;
                headers = h as UpstreamHeaders;
              },
              onResponseData(c, chunk) {
                size += chunk.length;
                if (size > limit) {
                  c.abort(tooLarge(provider.id, limit));
                  return;
                }
                parts.push(chunk);
              },
              onResponseEnd() {
                if (done) return;
                finish();
                resolve({ status, headers, text: (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8') });
              },
              onResponseError(_c, err) {
                fail(err);
              },
            },
          );
        } catch (err) {
          fail(err);
        }
      });
    },
    close: () => {
      idle.stop();
      return agent.close();
    },
  };
}

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

/** Chunks held before undici is asked to stop reading the upstream socket (back-pressure). */
const HIGH_WATER_CHUNKS = 64;

/**
 * Sends a request whose body is read as it comes (streams): undici hands each chunk to a
 * handler that queues it for the reader, with no Readable stream, no stream async iterator and
 * no wrapper in between (each of those cost allocations and promise turns per chunk). The
 * queue pauses the upstream socket past HIGH_WATER_CHUNKS; the IdleWatch keeps the idle timeout.
 */
function dispatchStreaming(agent: Agent, provider: ProviderConfig, idle: IdleWatch, origins: OriginMemo, req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    type Controller = { abort(reason: unknown): void; pause(): void; resume(): void; readonly paused: boolean };
    let controller: Controller | undefined;
    let headed = false;
    let ended = false;
    let failure: unknown;
    let queue: Buffer[] = [];
    let waiting: { resolve(step: IteratorResult<Uint8Array>): void; reject(err: unknown): void } | undefined;
    const w: Watched = { waitingSince: 0, expire: () => controller?.abort(new undiciErrors.BodyTimeoutError('upstream idle timeout')) };
    const onAbort = () => controller?.abort(signal.reason);
    const finish = () => {
      signal.removeEventListener('abort', onAbort);
      idle.delete(w);
    };
    const mapped = (err: unknown) => transportError(err, provider.id, signal, req.timeoutMs);
    /** Everything queued, as one chunk (as a Readable's read() gives it): fewer, larger steps for the reader. */
    const take = (): Buffer => {
      const chunk = queue.length === 1 ? queue[0]! : Buffer.concat(queue);
      queue = [];
      if (controller?.paused) controller.resume();
      return chunk;
    };
    /** Hands the reader waiting for a step what has arrived, if anything has. */
    const wake = () => {
      const reader = waiting;
      if (!reader) return;
      if (queue.length > 0) {
        waiting = undefined;
        w.waitingSince = 0;
        reader.resolve({ done: false, value: take() });
      } else if (failure !== undefined) {
        waiting = undefined;
        w.waitingSince = 0;
        reader.reject(mapped(failure));
      } else if (ended) {
        waiting = undefined;
        w.waitingSince = 0;
        reader.resolve({ done: true, value: undefined });
      }
    };
    const discard = () => {
      if (ended || failure !== undefined) return;
      failure = new Error('the upstream body was discarded');
      finish();
      controller?.abort(failure);
    };
    const body: AsyncIterable<Uint8Array> & AsyncIterator<Uint8Array> = {
      next(): Promise<IteratorResult<Uint8Array>> {
        if (queue.length > 0) return Promise.resolve({ done: false, value: take() });
        if (failure !== undefined) return Promise.reject(mapped(failure));
        if (ended) return Promise.resolve({ done: true, value: undefined });
        w.waitingSince = Date.now();
        return new Promise((res, rej) => {
          waiting = { resolve: res, reject: rej };
        });
      },
      return(): Promise<IteratorResult<Uint8Array>> {
        discard();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return body;
      },
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      agent.dispatch(
        {
          ...dispatchOptions(req, provider, origins),
          body: req.body,
        },
        {
          onRequestStart(c) {
            controller = c as unknown as Controller;
            if (signal.aborted) c.abort(signal.reason);
          },
          onResponseStart(_c, statusCode, headers) {
            if (statusCode < 200) return;
            headed = true;
            idle.add(w);
            resolve({ status: statusCode, headers: headers as UpstreamHeaders, body, discard });
          },
          onResponseData(c, chunk) {
            queue.push(chunk);
            if (queue.length >= HIGH_WATER_CHUNKS && !c.paused) c.pause();
            wake();
          },
          onResponseEnd() {
            if (failure !== undefined) return;
            ended = true;
            finish();
            if (!headed) reject(mapped(new Error('the upstream ended without a response')));
            else wake();
          },
          onResponseError(_c, err) {
            finish();
            if (!headed) {
              reject(mapped(err));
              return;
            }
            if (failure === undefined && !ended) failure = err;
            wake();
          },
        },
      );
    } catch (err) {
      finish();
      reject(mapped(err));
    }
  });
}

/** The body as a plain async iterator (no generator in between), idle-watched, its errors mapped by `mapError`. */
function watchedBody(body: Readable & AsyncIterable<unknown>, idle: IdleWatch, mapError: (err: unknown) => unknown): AsyncIterable<Uint8Array> & AsyncIterator<Uint8Array> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  const w: Watched = { waitingSince: 0, expire: () => body.destroy(new undiciErrors.BodyTimeoutError('upstream idle timeout')) };
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
