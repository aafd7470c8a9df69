// The inference routes' hot path. A POST to a surface route (chat completions, completions,
// Messages, Responses) is served straight from node:http, past Fastify's request lifecycle (route
// lookup, hooks, reply objects and serialisation): about 8 % of a request's CPU when measured.
//
// The lane takes only a request it answers exactly as the Fastify route would: a body of known
// length within the limit, a content type, a valid inference key, and a gateway that admits the
// request now. Anything else (a refusal to explain, a chunked or empty body, Expect:
// 100-continue, any other route or method) goes to Fastify untouched, which answers it as before.
// Both paths share the request id, admission and metrics (RequestGate), the body parser, the
// surface answer (answerSurface) and the error envelope (errorReply).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { authenticateKeyOrExplain, type Principal } from '../auth/authenticate.js';
import { ClientSignal } from '../core/request-signal.js';
import type { Gateway } from '../gateway.js';
import { markIfLogged } from '../observability/request-log.js';
import type { Surface } from '../surfaces/types.js';
import type { KeyKind } from '../store/types.js';
import { authHeaders } from './auth-headers.js';
import { errorReply } from './errors.js';
import { parseJsonBody } from './parse.js';
import { echoedRequestId, type RequestGate } from './request-gate.js';
import type { StreamRegistry } from './sse.js';
import { type AnswerWriter, type InboundRequest, answerSurface } from './surface-answer.js';

const INFERENCE: readonly KeyKind[] = ['sk'];
/** A Content-Length the lane reads: plain digits (Node has already refused malformed ones). */
const LENGTH = /^\d{1,12}$/;
const JSON_TYPE = 'application/json; charset=utf-8';

/** A client that goes away mid-upload: its response's close listener ends the request. */
function ignore(): void {}

export class DirectLane {
  /** Requests this lane has taken (the rest went to Fastify). */
  served = 0;

  constructor(
    readonly gw: Gateway,
    readonly gate: RequestGate,
    readonly streams: StreamRegistry,
    /** The surface of each route the lane serves, by its exact path. */
    private readonly routes: ReadonlyMap<string, Surface>,
  ) {}

  /** Serves the request and returns true, or returns false having read and written nothing. */
  take(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST' || req.url === undefined) return false;
    const surface = this.routes.get(req.url);
    if (surface === undefined) return false;
    const h = req.headers;
    const length = h['content-length'];
    if (length === undefined || h['transfer-encoding'] !== undefined || h.expect !== undefined || h['content-type'] === undefined || !LENGTH.test(length)) return false;
    const bytes = Number(length);
    const server = this.gw.config.server;
    if (bytes === 0 || bytes > server.max_body_bytes) return false;
    if (this.gate.refusal() !== undefined) return false;
    let principal: Principal;
    try {
      principal = authenticateKeyOrExplain(this.gw.view, server.admin_token, authHeaders(req), INFERENCE);
    } catch {
      return false;
    }
    this.served++;
    new DirectExchange(this, req, res, surface, principal).start();
    return true;
  }
}

/** One request on the lane: what it read (InboundRequest) and how it answers (AnswerWriter). */
class DirectExchange implements InboundRequest, AnswerWriter {
  readonly id: string;
  readonly headers: IncomingHttpHeaders;
  body: unknown = undefined;
  /** The body's bytes as they came: most bodies come in one chunk, decoded once at the end. */
  private first: Buffer | undefined;
  private more: Buffer[] | undefined;
  private streamed = false;
  private readonly signal = new ClientSignal();
  private readonly started = performance.now();
  /** The x-request-id answered: the client's own when it is a plausible id. */
  private readonly echoedId: string;

  constructor(
    private readonly lane: DirectLane,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly surface: Surface,
    readonly principal: Principal,
  ) {
    this.id = lane.gate.nextId();
    this.headers = req.headers;
    this.echoedId = echoedRequestId(req.headers['x-request-id'], this.id);
  }

  start(): void {
    const { gate } = this.lane;
    const { req, res } = this;
    gate.begin(this.id, 'POST');
    gate.enter();
    markIfLogged(this, this.principal);
    res.on('close', () => this.closed());
    req.on('error', ignore);
    req.on('data', (chunk: Buffer) => {
      if (this.first === undefined) this.first = chunk;
      else (this.more ??= [this.first]).push(chunk);
    });
    req.on('end', () => void this.run());
  }

  private async run(): Promise<void> {
    const bytes = this.more !== undefined ? Buffer.concat(this.more) : this.first;
    this.first = this.more = undefined;
    const text = bytes === undefined ? '' : bytes.toString('utf8');
    try {
      this.body = parseJsonBody(text);
    } catch (err) {
      // As Fastify does after a body it could not parse: the connection is not reused.
      this.fail(err, true);
      return;
    }
    try {
      const held = this.lane.gate.held();
      if (held) await held;
      await answerSurface(this.lane.gw, this.surface, this, this.signal, this);
    } catch (err) {
      this.fail(err, false);
    }
  }

  json(status: number, headers: Record<string, string>, text: string): void {
    const out = this.idHeaders();
    for (const name in headers) out[name] = headers[name]!;
    out['content-type'] = JSON_TYPE;
    out['content-length'] = String(Buffer.byteLength(text));
    this.res.writeHead(status, out).end(text);
  }

  stream(headers: Record<string, string>, frames: AsyncIterable<string>, abort: (reason: unknown) => void): Promise<void> {
    this.streamed = true;
    const out: Record<string, string> = {};
    for (const name in headers) out[name] = headers[name]!;
    out['x-request-id'] = this.echoedId;
    out['x-tollgate-request-id'] = this.id;
    return this.lane.streams.pipe(this.res, 200, out, frames, abort);
  }

  private idHeaders(): Record<string, string> {
    return { 'x-request-id': this.echoedId, 'x-tollgate-request-id': this.id };
  }

  /** Answers an error in the surface's envelope, or ends the response if it has begun. */
  private fail(err: unknown, closeConnection: boolean): void {
    const { gw } = this.lane;
    const answer = errorReply(err, this.surface, () => gw.log.error({ err, requestId: this.echoedId, internalId: this.id, url: this.req.url }, 'unhandled error'));
    const res = this.res;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify(answer.body);
    const out = this.idHeaders();
    if (closeConnection) out.connection = 'close';
    for (const name in answer.headers) out[name] = answer.headers[name]!;
    out['content-type'] = JSON_TYPE;
    out['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(answer.status, out).end(text);
  }

  private closed(): void {
    const res = this.res;
    this.lane.gate.closed(true, this.id, this.req.url!, this.body, res.statusCode, this.started, this.streamed);
    // The client left before the answer was complete: its request stops (upstream call included).
    if (!res.writableFinished) this.signal.abort();
  }
}
