// Turns anything thrown on any route into the SPEC §12 envelope and status, including
// Fastify's own errors (body too large, bad JSON, bad content type).
import type { FastifyReply } from 'fastify';
import { GatewayError, toGatewayError } from '../core/errors.js';

const FASTIFY_CODES: Record<string, () => GatewayError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new GatewayError('payload_too_large', 'The request body is larger than this gateway accepts (server.max_body_bytes). Send a smaller request.'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new GatewayError('invalid_json', 'The request body is empty; send a JSON object.'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new GatewayError('invalid_json', 'The request body is not valid JSON.'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new GatewayError('invalid_json', 'The Content-Length header does not match the body.'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new GatewayError('invalid_json', 'Send the body as JSON with "Content-Type: application/json".'),
  FST_ERR_CTP_INVALID_TYPE: () => new GatewayError('invalid_json', 'Send the body as JSON with "Content-Type: application/json".'),
  FST_ERR_BAD_URL: () => new GatewayError('not_found', 'The URL is malformed.'),
};

export function normaliseError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if ((err as Error | null)?.name === 'InvalidCursorError') return new GatewayError('invalid_value', 'The cursor is not valid; use the next_cursor value from a previous page.', { param: 'cursor' });
  const code = (err as { code?: string } | null)?.code;
  if (code && FASTIFY_CODES[code]) return FASTIFY_CODES[code]();
  if ((err as { statusCode?: number } | null)?.statusCode === 413) return FASTIFY_CODES.FST_ERR_CTP_BODY_TOO_LARGE();
  if ((err as { statusCode?: number } | null)?.statusCode === 400 && err instanceof SyntaxError) return FASTIFY_CODES.FST_ERR_CTP_INVALID_JSON_BODY();
  return toGatewayError(err);
}

export function errorHeaders(err: GatewayError): Record<string, string> {
  const h: Record<string, string> = { ...err.headers };
  if (err.retryAfterS !== undefined && (err.status === 429 || err.status === 503)) h['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterS)));
  return h;
}

export function sendError(reply: FastifyReply, err: GatewayError): FastifyReply {
  return reply.code(err.status).headers(errorHeaders(err)).type('application/json').send(err.toEnvelope());
}
