// One inference request on a surface, whichever HTTP path carries it (a Fastify route or the
// direct lane): the engine does the work, the surface's encoders shape the answer, and an org
// that keeps request logs gets the request and its answer recorded.
import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '../auth/authenticate.js';
import type { InboundMeta } from '../core/context.js';
import { toGatewayError } from '../core/errors.js';
import type { ClientSignal, RequestSignal } from '../core/request-signal.js';
import type { Gateway } from '../gateway.js';
import { captureBody, loggedPrincipal, teeFrames } from '../observability/request-log.js';
import type { Surface } from '../surfaces/types.js';
import { authHeaders } from './auth-headers.js';

/** What the HTTP path read of the request. */
export interface InboundRequest {
  id: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The inference key, when it was authenticated before the body was read. */
  principal: Principal | undefined;
}

/** How the HTTP path writes the answer. */
export interface AnswerWriter {
  /** A complete JSON answer (the text is already serialised). */
  json(status: number, headers: Record<string, string>, text: string): void;
  /** An event stream: resolves when it ended or the client left; `abort` ends it from our side. */
  stream(headers: Record<string, string>, frames: AsyncIterable<string>, abort: (reason: unknown) => void): Promise<void>;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Headers forwarded to mock providers only. */
const MOCK_HEADERS = ['x-mock-fault', 'x-mock-words'] as const;

export function inboundMeta(req: Omit<InboundRequest, 'body'>, signal: RequestSignal): InboundMeta {
  let mock: Record<string, string> | undefined;
  for (const name of MOCK_HEADERS) {
    const v = header(req.headers, name);
    if (v !== undefined) (mock ??= {})[name] = v;
  }
  return {
    requestId: req.id,
    auth: authHeaders(req),
    principal: req.principal,
    signal,
    idempotencyKey: header(req.headers, 'idempotency-key'),
    cacheControl: header(req.headers, 'cache-control'),
    mockHeaders: mock,
    headers: req.headers as Record<string, string | undefined>,
    receivedAt: Date.now(),
    // Set by spooledTogether; present from the start so every meta has one shape.
    spoolTogether: undefined,
  };
}

/**
 * Answers `req` on `surface`. Errors before the answer starts are thrown, for the caller to send
 * in the surface's envelope; errors during a stream are the stream's own events.
 */
export async function answerSurface(gw: Gateway, surface: Surface, req: InboundRequest, signal: ClientSignal, out: AnswerWriter): Promise<void> {
  const who = loggedPrincipal(req);
  const meta = inboundMeta(req, signal);
  const result = await spooledTogether(gw, meta, who ? () => withErrorLogged(gw, req, surface.id, () => gw.engine.handle(surface, req.body, meta)) : () => gw.engine.handle(surface, req.body, meta));
  if (result.kind === 'json') {
    const text = result.serialized ?? JSON.stringify(result.body);
    if (who) gw.requestLogs.record(who.org, who.key.id, req.id, surface.id, captureBody(req.body), { text, truncated: false });
    out.json(result.status, result.headers, text);
    return;
  }
  const sink = who ? { text: '', truncated: false } : undefined;
  await out.stream(result.headers, sink ? teeFrames(result.frames, sink) : result.frames, (reason) => signal.abort(reason));
  if (who && sink) gw.requestLogs.record(who.org, who.key.id, req.id, surface.id, captureBody(req.body), sink);
}

/**
 * Runs the engine's part of an answer (`work`) and resolves once the usage rows it settled are in
 * the spool; the caller writes the answer after. While other answers are in progress, those rows
 * share one spool write with the rest of this event-loop turn's. What the engine settles after
 * `work` returns (a stream's end) is spooled at once.
 */
export async function spooledTogether<T>(gw: Gateway, meta: InboundMeta, work: () => Promise<T>): Promise<T> {
  const together = { on: true };
  meta.spoolTogether = together;
  gw.usage.beginTogether();
  try {
    return await work();
  } finally {
    together.on = false;
    const spooled = gw.usage.endTogether();
    if (spooled) await spooled;
  }
}

/** Runs an inference call of a request whose org keeps request logs; a refusal is kept too. */
export async function withErrorLogged<T>(gw: Gateway, req: Pick<InboundRequest, 'id' | 'body'>, route: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const who = loggedPrincipal(req);
    if (who) {
      const e = toGatewayError(err);
      gw.requestLogs.record(who.org, who.key.id, req.id, route, captureBody(req.body), { text: JSON.stringify({ error: { status: e.status, code: e.code, message: e.message } }), truncated: false });
    }
    throw err;
  }
}
