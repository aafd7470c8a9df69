// /v1/*: the OpenAI-compatible surface. Parse, call the engine, serialise.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ClientSignal } from '../../core/request-signal.js';
import { GatewayError } from '../../core/errors.js';
import { captureBody, loggedPrincipal } from '../../observability/request-log.js';
import { answerSurface, inboundMeta, spooledTogether, withErrorLogged } from '../surface-answer.js';
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
 * One inference route for a surface (answerSurface does the work); errors before the answer
 * starts use the surface's envelope (route config). The direct lane serves most of these
 * requests before Fastify sees them; this route serves the rest.
 */
export function registerSurfaceRoute(app: FastifyInstance, { gw, streams, surfaces }: RouteContext, path: string, surface: Surface, doc?: RouteDoc): void {
  surfaces.set(path, surface);
  app.post(path, { config: { surface, doc } }, async (req, reply) => {
    await answerSurface(gw, surface, req, clientSignal(req), {
      json(status, headers, text) {
        void reply.code(status).headers(headers).type('application/json; charset=utf-8').send(text);
      },
      stream(headers, frames, abort) {
        reply.hijack();
        req.streamed = true;
        return streams.pipe(reply.raw, 200, { ...headers, 'x-request-id': String(reply.getHeader('x-request-id')), 'x-tollgate-request-id': req.id }, frames, abort);
      },
    });
    return reply;
  });
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
    const meta = inboundMeta(req, clientSignal(req));
    const run = () => gw.engine.embeddings(req.body, meta);
    const result = await spooledTogether(gw, meta, loggedPrincipal(req) ? () => withErrorLogged(gw, req, 'embeddings', run) : run);
    logJson(gw, req, 'embeddings', result.body);
    return reply.code(result.status).headers(result.headers).send(result.body);
  });

  app.post('/v1/images/generations', { config: { doc: { summary: 'OpenAI image generation', auth: 'inference', body: imagesRequest, responses: { 200: imagesAnswer } } } }, async (req, reply) => {
    const meta = inboundMeta(req, clientSignal(req));
    const run = () => gw.engine.images(req.body, meta);
    const result = await spooledTogether(gw, meta, loggedPrincipal(req) ? () => withErrorLogged(gw, req, 'images', run) : run);
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
          const meta = inboundMeta(req, clientSignal(req));
          const result = await spooledTogether(gw, meta, () => gw.engine.audio(op, upload, meta));
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
