// /v1/*: the OpenAI-compatible surface. Parse, call the engine, serialise.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { InboundMeta } from '../../core/context.js';
import { ClientSignal, type RequestSignal } from '../../core/request-signal.js';
import { GatewayError, toGatewayError } from '../../core/errors.js';
import { captureBody, loggedPrincipal, teeFrames } from '../../observability/request-log.js';
import { boundaryOf } from '../../core/multipart.js';
import { chatSurface } from '../../surfaces/chat/index.js';
import { completionsSurface } from '../../surfaces/completions/index.js';
import { countMessagesTokens, countTokensAnswer, messagesCountTokensSurface, messagesSurface } from '../../surfaces/messages/index.js';
import type { Surface } from '../../surfaces/types.js';
import { type RouteContext, authHeaders } from '../app.js';
import type { RouteDoc } from '../openapi.js';
import {
  chatCompletion,
  chatRequest,
  completionsRequest,
  countTokensAnswerSchema,
  countTokensRequest,
  embeddingsAnswer,
  embeddingsRequest,
  imagesAnswer,
  imagesRequest,
  messageObject,
  messagesRequest,
  modelObject,
  modelPage,
  responseObject,
  responsesRequest,
  textCompletion,
} from '../schemas.js';
import { receiveAudioUpload } from '../audio-upload.js';

/** The `json` answer of the audio routes (the other formats are text). */
const transcriptionAnswer = z.looseObject({ text: z.string() });

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Headers forwarded to mock providers only. */
const MOCK_HEADERS = ['x-mock-fault', 'x-mock-words'] as const;

function inboundMeta(req: FastifyRequest, signal: RequestSignal): InboundMeta {
  let mock: Record<string, string> | undefined;
  for (const name of MOCK_HEADERS) {
    const v = header(req, name);
    if (v !== undefined) (mock ??= {})[name] = v;
  }
  return {
    requestId: req.id,
    auth: authHeaders(req),
    principal: req.principal,
    signal,
    idempotencyKey: header(req, 'idempotency-key'),
    cacheControl: header(req, 'cache-control'),
    mockHeaders: mock,
    headers: req.headers as Record<string, string | undefined>,
    receivedAt: Date.now(),
  };
}

/**
 * Aborted when the client goes away before the response is complete (or by the gateway, with a
 * reason, on shutdown): the request's close listener (app.ts) aborts it.
 */
function clientSignal(req: FastifyRequest): ClientSignal {
  const signal = new ClientSignal();
  req.clientSignal = signal;
  return signal;
}

/** Anthropic's list fields beside OpenAI's, so both kinds of SDK can page through the models (one page holds them all). */
function withPageFields(list: { object: 'list'; data: Record<string, unknown>[] }): Record<string, unknown> {
  return { ...list, has_more: false, first_id: list.data[0]?.id ?? null, last_id: list.data.at(-1)?.id ?? null };
}

/**
 * One inference route for a surface: the engine does the work, the surface's encoders shape
 * the answer, and errors (before the stream) use the surface's envelope (route config).
 */
export function registerSurfaceRoute(app: FastifyInstance, { gw, streams }: RouteContext, path: string, surface: Surface, doc?: RouteDoc): void {
  app.post(path, { config: { surface, doc } }, async (req, reply) => {
    const signal = clientSignal(req);
    const who = loggedPrincipal(req);
    const result = who ? await withErrorLogged(gw, req, surface.id, () => gw.engine.handle(surface, req.body, inboundMeta(req, signal))) : await gw.engine.handle(surface, req.body, inboundMeta(req, signal));
    if (result.kind === 'json') {
      reply.code(result.status).headers(result.headers);
      if (who) gw.requestLogs.record(who.org, who.key.id, req.id, surface.id, captureBody(req.body), { text: result.serialized ?? JSON.stringify(result.body), truncated: false });
      return result.serialized !== undefined ? reply.type('application/json; charset=utf-8').send(result.serialized) : reply.send(result.body);
    }
    reply.hijack();
    req.streamed = true;
    const sink = who ? { text: '', truncated: false } : undefined;
    const frames = sink ? teeFrames(result.frames, sink) : result.frames;
    await streams.pipe(reply.raw, 200, { ...result.headers, 'x-request-id': String(reply.getHeader('x-request-id')), 'x-tollgate-request-id': req.id }, frames, (reason) => signal.abort(reason));
    if (who && sink) gw.requestLogs.record(who.org, who.key.id, req.id, surface.id, captureBody(req.body), sink);
    return reply;
  });
}

/** Runs an inference call of a request whose org keeps request logs; a refusal is kept too. */
async function withErrorLogged<T>(gw: RouteContext['gw'], req: FastifyRequest, route: string, run: () => Promise<T>): Promise<T> {
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

/** A JSON answer of a request whose org keeps request logs. */
function logJson(gw: RouteContext['gw'], req: FastifyRequest, route: string, body: unknown): void {
  const who = loggedPrincipal(req);
  if (who) gw.requestLogs.record(who.org, who.key.id, req.id, route, captureBody(req.body), { text: JSON.stringify(body), truncated: false });
}

export function registerV1Routes(app: FastifyInstance, ctx: RouteContext): void {
  const { gw } = ctx;
  const sse = 'Server-sent events in the protocol\'s own stream format, when the body has "stream": true.';
  registerSurfaceRoute(app, ctx, '/v1/chat/completions', chatSurface, {
    summary: 'OpenAI Chat Completions',
    auth: 'inference',
    body: chatRequest,
    responses: { 200: chatCompletion },
    stream: sse,
  });
  registerSurfaceRoute(app, ctx, '/v1/completions', completionsSurface, {
    summary: 'OpenAI legacy text completions',
    auth: 'inference',
    body: completionsRequest,
    responses: { 200: textCompletion },
    stream: sse,
  });
  registerSurfaceRoute(app, ctx, '/v1/responses', gw.responses, { summary: 'OpenAI Responses', auth: 'inference', body: responsesRequest, responses: { 200: responseObject }, stream: sse });
  registerSurfaceRoute(app, ctx, '/v1/messages', messagesSurface, {
    summary: 'Anthropic Messages',
    auth: 'inference',
    body: messagesRequest,
    responses: { 200: messageObject },
    stream: sse,
    errors: 'anthropic',
  });
  // The engine authenticates, validates and resolves the model; the count is of the Messages body itself.
  const countDoc: RouteDoc = { summary: 'Count the input tokens of a Messages request', auth: 'inference', body: countTokensRequest, responses: { 200: countTokensAnswerSchema }, errors: 'anthropic' };
  app.post('/v1/messages/count_tokens', { config: { surface: messagesSurface, doc: countDoc } }, async (req) => {
    await gw.engine.countTokens(messagesCountTokensSurface, req.body, inboundMeta(req, new ClientSignal()));
    return countTokensAnswer(countMessagesTokens(req.body as Record<string, unknown>));
  });

  app.post('/v1/embeddings', { config: { doc: { summary: 'OpenAI Embeddings', auth: 'inference', body: embeddingsRequest, responses: { 200: embeddingsAnswer } } } }, async (req, reply) => {
    const run = () => gw.engine.embeddings(req.body, inboundMeta(req, clientSignal(req)));
    const result = loggedPrincipal(req) ? await withErrorLogged(gw, req, 'embeddings', run) : await run();
    logJson(gw, req, 'embeddings', result.body);
    return reply.code(result.status).headers(result.headers).send(result.body);
  });

  app.post('/v1/images/generations', { config: { doc: { summary: 'OpenAI image generation', auth: 'inference', body: imagesRequest, responses: { 200: imagesAnswer } } } }, async (req, reply) => {
    const run = () => gw.engine.images(req.body, inboundMeta(req, clientSignal(req)));
    const result = loggedPrincipal(req) ? await withErrorLogged(gw, req, 'images', run) : await run();
    logJson(gw, req, 'images', result.body);
    return reply.code(result.status).headers(result.headers).send(result.body);
  });

  // Audio uploads: the multipart body is not parsed by Fastify but read as it streams (see audio-upload.ts).
  void app.register(async (audio) => {
    audio.addContentTypeParser('multipart/form-data', (_req, payload, done) => done(null, payload));
    for (const op of ['transcriptions', 'translations'] as const) {
      const doc: RouteDoc = {
        summary: op === 'transcriptions' ? 'OpenAI audio transcription (multipart upload)' : 'OpenAI audio translation to English (multipart upload)',
        description: 'multipart/form-data with a "file" part and a "model" field; the answer is in the requested response_format (json, text, srt, vtt, verbose_json).',
        auth: 'inference',
        responses: { 200: transcriptionAnswer },
      };
      audio.post(`/v1/audio/${op}`, { config: { doc } }, async (req, reply) => {
        const boundary = boundaryOf(header(req, 'content-type'));
        if (boundary === undefined || !(req.body instanceof Readable)) {
          throw new GatewayError('invalid_value', `Send /v1/audio/${op} as multipart/form-data with a "file" part and a "model" field.`, { param: 'file' });
        }
        const upload = await receiveAudioUpload(req.body, boundary, gw.config.server.max_audio_bytes);
        try {
          const result = await gw.engine.audio(op, upload, inboundMeta(req, clientSignal(req)));
          return reply.code(result.status).headers(result.headers).type(result.contentType).send(result.body);
        } finally {
          await upload.dispose();
        }
      });
    }
  });

  app.get('/v1/models', { config: { doc: { summary: 'The models the key may use', auth: 'inference', responses: { 200: modelPage } } } }, async (req) => withPageFields(gw.engine.listModels({ auth: authHeaders(req) })));
  app.get<{ Params: { id: string } }>('/v1/models/:id', { config: { doc: { summary: 'One model, by id or alias', auth: 'inference', responses: { 200: modelObject } } } }, async (req) => gw.engine.getModel({ auth: authHeaders(req) }, req.params.id));
}
