// The HTTP transport: Fastify with request ids, body limits, timeouts, overload shedding,
// one error handler for every route, and 404/405 in the SPEC envelope. Handlers stay thin.
// Inference POSTs it can answer identically are served by the direct lane (direct-lane.ts)
// before Fastify sees them; the two share RequestGate, the body parser and the error answer.
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { Gateway } from '../gateway.js';
import type { Surface } from '../surfaces/types.js';
import { authenticateEarly, bodyPending } from './early-auth.js';
import { clientErrorResponse, errorReply, normaliseError, sendError } from './errors.js';
import { type DocumentedRoute, type RouteDoc, buildOpenApiDocument } from './openapi.js';
import { parseJsonBody } from './parse.js';
import { markIfLogged } from '../observability/request-log.js';
import { registerConsoleRoutes } from './routes/console.js';
import { ManagementRoutes } from './routes/management.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerResponsesRoutes } from './routes/responses.js';
import { registerV1Routes } from './routes/v1.js';
import { StreamRegistry } from './sse.js';
import { RequestGate, echoedRequestId } from './request-gate.js';
import { DirectLane } from './direct-lane.js';

const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const NUL_IN_URL = /%00|\u0000/i;

export { authHeaders } from './auth-headers.js';

/**
 * Fastify loads its JSON-schema compilers (ajv with its formats, fast-json-stringify) when an
 * instance is made, though no route here declares a schema (the engine validates bodies): about
 * a hundred modules of start-up time and memory. These factories load them only if a route with
 * a schema is ever compiled.
 */
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
type CompilerFactory = (...args: unknown[]) => unknown;
let validatorFactory: CompilerFactory | undefined;
let serializerFactory: CompilerFactory | undefined;
const lazyCompilers = {
  buildValidator: (...args: unknown[]) => {
    validatorFactory ??= (fromFastify('@fastify/ajv-compiler') as () => CompilerFactory)();
    return validatorFactory(...args);
  },
  buildSerializer: (...args: unknown[]) => {
    serializerFactory ??= (fromFastify('@fastify/fast-json-stringify-compiler') as () => CompilerFactory)();
    return serializerFactory(...args);
  },
};

export interface HttpApp {
  app: FastifyInstance;
  streams: StreamRegistry;
  /** true once shutdown began: readiness fails and new requests get 503 */
  draining: { value: boolean };
  /**
   * Every route served, as registered, with its OpenAPI declaration (for tests that must cover
   * all of them). The management routes' declarations are filled in when their modules load:
   * on the first request to one of them or the first GET /openapi.json.
   */
  routes: DocumentedRoute[];
  /** Serves most inference requests before Fastify sees them. */
  lane: DirectLane;
}

export function buildHttpApp(gw: Gateway): HttpApp {
  const server = gw.config.server;
  const gate = new RequestGate(gw);
  const draining = gate.draining;
  let lane: DirectLane | undefined;
  const app = Fastify({
    logger: false,
    bodyLimit: server.max_body_bytes,
    requestTimeout: server.request_timeout_ms,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    routerOptions: { maxParamLength: 256 },
    // A path parameter over the router's length or a malformed URL names nothing that exists:
    // 404 in the envelope, without echoing the path back.
    frameworkErrors: (err, _req, reply) => {
      const code = (err as { code?: string }).code;
      const e =
        code === 'FST_ERR_MAX_PARAM_LENGTH' || code === 'FST_ERR_BAD_URL'
          ? new GatewayError('not_found', 'Nothing exists at this path: an id in it is malformed or longer than any Tollgate issues.')
          : normaliseError(err);
      void sendError(reply, e);
    },
    schemaController: { compilersFactory: lazyCompilers as never },
    // Node checks header and request timeouts only every connectionsCheckingInterval (30 s by
    // default): check often enough that a stalled client is cut off close to its deadline.
    serverFactory: (handler) => {
      // Inference requests the direct lane can serve skip Fastify; everything else is Fastify's.
      const serve = (req: IncomingMessage, res: ServerResponse) => {
        if (lane === undefined || !lane.take(req, res)) handler(req, res);
      };
      const http = createServer(
        {
          headersTimeout: server.header_timeout_ms,
          requestTimeout: server.request_timeout_ms,
          connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(server.header_timeout_ms / 4))),
          noDelay: true,
        },
        serve,
      );
      // Node would answer Expect: 100-continue as soon as the headers arrive; a request refused
      // from its headers (bad key, unknown route, body over the limit) is answered without it.
      http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
        continueOnFirstRead(req, res);
        serve(req, res);
      });
      return http;
    },
    genReqId: () => gate.nextId(),
    return503OnClosing: true,
    // Requests Node cannot even parse (bad header bytes, oversized headers) still get the envelope.
    clientErrorHandler: (err, socket) => {
      if (socket.writable) socket.end(clientErrorResponse((err as { code?: string }).code));
      else socket.destroy();
    },
    forceCloseConnections: false,
  });
  app.server.headersTimeout = server.header_timeout_ms;
  const streams = new StreamRegistry(server.heartbeat_ms);
  gw.metrics.openStreams.read = () => streams.size;
  // Bodies are parsed by the engine's validator; any content type is read as JSON text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    let parsed: unknown;
    try {
      parsed = parseJsonBody(body as string);
    } catch (err) {
      done(err as GatewayError, undefined);
      return;
    }
    done(null, parsed);
  });

  app.decorateRequest('principal', undefined);
  app.decorateRequest('streamed', false);
  app.decorateRequest('clientSignal', undefined);
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', echoedRequestId(req.headers['x-request-id'], req.id));
    reply.header('x-tollgate-request-id', req.id);
    // No id, name or filter can hold a NUL character, and Postgres refuses to store or compare one.
    if (NUL_IN_URL.test(req.url)) {
      done(new GatewayError('invalid_value', 'The URL contains a NUL character (%00), which no path or query value may hold.'));
      return;
    }
    const started = performance.now();
    let counted = false;
    // One listener per request: the metrics, and the in-flight count when this request took a slot.
    // A response closes once: `on`, without the wrapper `once` makes per listener.
    reply.raw.on('close', () => {
      gate.closed(counted, req.id, req.routeOptions.url ?? 'unmatched', req.body, reply.raw.statusCode, started, req.streamed);
      // The client left before the answer was complete: its request stops (upstream call included).
      if (req.clientSignal !== undefined && !reply.raw.writableFinished) req.clientSignal.abort();
    });
    if (req.url.startsWith('/v1/')) {
      gate.begin(req.id, req.method);
      const refused = gate.refusal();
      if (refused) {
        done(refused);
        return;
      }
      gate.enter();
      counted = true;
      const held = gate.held();
      if (held) {
        held.then(() => admitted(req, reply, done));
        return;
      }
    }
    admitted(req, reply, done);
  });
  /** The request goes on: its key, when it can be checked before the body is read. */
  const admitted = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    // No route matches: 404 or 405 from the headers, without reading (or asking for) the body.
    if (req.is404) {
      void unmatched(req, reply);
      return;
    }
    try {
      const principal = authenticateEarly(gw.view, server.admin_token, req);
      // Inference routes take it from here instead of authenticating the same header again.
      if (principal !== undefined && principal.key.kind === 'sk') req.principal = principal;
      markIfLogged(req, principal);
    } catch (err) {
      // The unread body is not worth reading: answer, then close instead of draining it.
      if (bodyPending(req)) reply.header('connection', 'close');
      done(err as Error);
      return;
    }
    done();
  };
  app.addHook('onClose', (_i, done) => {
    gate.close();
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    // Each inference surface answers errors in its own protocol's envelope.
    const surface = (req.routeOptions?.config as { surface?: Surface } | undefined)?.surface;
    const answer = errorReply(err, surface, () => gw.log.error({ err, requestId: reply.getHeader('x-request-id') ?? req.id, internalId: req.id, url: req.url }, 'unhandled error'));
    return sendError(reply, answer.error, answer.body, answer.status);
  });

  const known: Array<{ pattern: RegExp; methods: Set<string> }> = [];
  const routes: DocumentedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const doc = (route.config as { doc?: RouteDoc } | undefined)?.doc;
    for (const m of methods) if (m.toUpperCase() !== 'HEAD') routes.push({ method: m.toUpperCase(), url: route.url, doc });
    const pattern = new RegExp(`^${route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z_]+/g, '[^/]+').replace(/\\\*/g, '.*')}$`);
    known.push({ pattern, methods: new Set(methods.map((m) => m.toUpperCase())) });
  });
  const unmatched = (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0];
    const allowed = new Set<string>();
    for (const k of known) if (k.pattern.test(path)) for (const m of k.methods) allowed.add(m);
    allowed.delete('HEAD');
    if (allowed.size > 0) {
      reply.header('allow', [...allowed].join(', '));
      return sendError(reply, new GatewayError('method_not_allowed', `${req.method} is not allowed on ${path}; use ${[...allowed].join(' or ')}.`));
    }
    return sendError(reply, new GatewayError('not_found', `There is no route ${req.method} ${path}. The OpenAI-compatible API lives under /v1 (e.g. POST /v1/chat/completions).`));
  };
  app.setNotFoundHandler(unmatched);

  const ctx: RouteContext = { gw, streams, draining, surfaces: new Map() };
  registerV1Routes(app, ctx);
  registerResponsesRoutes(app, ctx, gw.responses.stored);
  // /api and /admin: registered now, their modules loaded by the first request to one of them.
  const management = new ManagementRoutes(ctx, routes);
  management.register(app, 'api');
  management.register(app, 'admin');
  management.register(app, 'audit');
  management.auditAdminReads(app);
  management.register(app, 'adminStats');
  registerOpsRoutes(app, ctx);
  registerConsoleRoutes(app, ctx);
  // The API description, generated from the routes' declarations once every route is registered.
  let openapi: string | undefined;
  app.get('/openapi.json', async (_req, reply) => {
    openapi ??= JSON.stringify(buildOpenApiDocument(await management.documented(), PACKAGE_VERSION));
    return reply.type('application/json; charset=utf-8').send(openapi);
  });
  lane = new DirectLane(gw, gate, streams, ctx.surfaces);
  return { app, streams, draining, routes, lane };
}

/**
 * Sends `100 Continue` to a client that asked for it when its body is first read, not before:
 * a request answered from its headers alone gets only its final answer (and Node then closes
 * the connection, since the client may or may not send the body it held back).
 */
function continueOnFirstRead(req: IncomingMessage, res: ServerResponse): void {
  const read = req._read;
  req._read = (size: number) => {
    req._read = read;
    if (!res.headersSent && !res.writableEnded) res.writeContinue();
    read.call(req, size);
  };
}

export interface RouteContext {
  gw: Gateway;
  streams: StreamRegistry;
  draining: { value: boolean };
  /** The inference surfaces' routes, by path, as registered: the direct lane serves them too. */
  surfaces: Map<string, Surface>;
}
