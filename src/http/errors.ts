// Turns anything thrown on any route into the SPEC §12 envelope and status, including
// Fastify's own errors (body too large, bad JSON, bad content type).
import type { FastifyReply } from 'fastify';
import { GatewayError, toGatewayError } from '../core/errors.js';
import { isRefusedValue, isStoreUnavailable } from '../store/errors.js';
import type { Surface } from '../surfaces/types.js';

/** Seconds a client is told to wait when the store is unreachable: long enough for a failover or restart. */
const STORE_RETRY_AFTER_S = 5;

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
  if (isRefusedValue(err)) {
    return new GatewayError('invalid_value', 'A value in the request is not valid for storage (text with a NUL character, or a number or time out of range). Nothing was changed.', { cause: err });
  }
  if (isStoreUnavailable(err)) {
    return new GatewayError('store_unavailable', 'The gateway cannot reach its database right now, so this call could not be completed. Retry after the number of seconds in Retry-After.', {
      retryAfterS: STORE_RETRY_AFTER_S,
      retryable: true,
      cause: err,
    });
  }
  return toGatewayError(err);
}

export function errorHeaders(err: GatewayError): Record<string, string> {
  const h: Record<string, string> = { ...err.headers };
  if (err.retryAfterS !== undefined && (err.status === 429 || err.status === 503)) h['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterS)));
  return h;
}

/** An error's answer on an inference route: the surface's envelope and status (OpenAI's by default). */
export interface ErrorReply {
  error: GatewayError;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * What anything thrown on a route is answered with. `log` hears of errors that are not the
 * client's nor an upstream's (internal errors), once.
 */
export function errorReply(err: unknown, surface: Surface | undefined, log: (gerr: GatewayError) => void): ErrorReply {
  const error = boundReflection(normaliseError(err));
  if (error.status >= 500 && error.code === 'internal_error') log(error);
  return { error, status: surface?.errorStatus?.(error) ?? error.status, headers: errorHeaders(error), body: surface ? surface.errorBody(error) : error.toEnvelope() };
}

/** Sends the error with its status and headers; `body` is the route's surface envelope (OpenAI's by default). */
export function sendError(reply: FastifyReply, err: GatewayError, body: unknown = err.toEnvelope(), status = err.status): FastifyReply {
  return reply.code(status).headers(errorHeaders(err)).type('application/json').send(body);
}

/**
 * The raw HTTP answer for a request Node rejected before Fastify saw it: a client too slow with
 * its headers or body (408), headers too large (413), or bytes that are not HTTP (400).
 */
export function clientErrorResponse(nodeCode: string | undefined): string {
  const err =
    nodeCode === 'HPE_HEADER_OVERFLOW'
      ? new GatewayError('payload_too_large', 'The request headers are too large.')
      : nodeCode === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new GatewayError('request_timeout', 'The request was not received in time: the client sent its headers or body too slowly. Send the whole request without pausing.')
        : new GatewayError('invalid_json', 'The request could not be parsed as HTTP (malformed request line or headers).');
  const reason = err.status === 413 ? 'Payload Too Large' : err.status === 408 ? 'Request Timeout' : 'Bad Request';
  const body = JSON.stringify(err.toEnvelope());
  return `HTTP/1.1 ${err.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** Longest message and param an answer carries; longer ones held client input and are cut. */
const MAX_MESSAGE = 1000;
const MAX_RUN = 160;
const MAX_PARAM = 128;

/**
 * An error whose message or param would echo a large piece of client input (a 5 MB model name,
 * a huge unknown field) is answered with that input cut short: the answer stays small and
 * still names what was wrong.
 */
export function boundReflection(err: GatewayError): GatewayError {
  const param = err.param;
  if (err.message.length <= MAX_MESSAGE && (param === null || param.length <= MAX_PARAM)) return err;
  let message = err.message.replace(new RegExp(`[^\\s]{${MAX_RUN},}`, 'g'), (run) => `${run.slice(0, 64)}… (${run.length - 64} more characters)`);
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`;
  const bounded = new GatewayError(err.code, message, {
    param: param === null ? null : param.length > MAX_PARAM ? `${param.slice(0, MAX_PARAM)}…` : param,
    retryable: err.retryable,
    retryAfterS: err.retryAfterS,
    upstreamStatus: err.upstreamStatus,
    status: err.status,
    headers: err.headers,
    cause: err.cause,
  });
  return bounded;
}
