import { describe, expect, it } from 'vitest';
import { mapGeminiError, parseGoogleError } from './errors.js';

const body = (code: number, status: string, message: string, details?: unknown[]) => JSON.stringify({ error: { code, message, status, ...(details ? { details } : {}) } });

describe('Gemini errors → SPEC §5 / §12', () => {
  it('passes INVALID_ARGUMENT through as 400 invalid_value with the provider message, not retryable', () => {
    const err = mapGeminiError(400, body(400, 'INVALID_ARGUMENT', 'Invalid value at contents[0]'), {});
    expect([err.status, err.code, err.retryable]).toEqual([400, 'invalid_value', false]);
    expect(err.message).toContain('Invalid value at contents[0]');
  });

  it.each([
    ['a bad API key (400 API_KEY_INVALID)', 400, body(400, 'INVALID_ARGUMENT', 'API key not valid.', [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }])],
    ['a missing key (403 PERMISSION_DENIED)', 403, body(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers")],
    ['401 UNAUTHENTICATED', 401, body(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.')],
  ])('treats %s as the operator’s credentials: 502 provider_error, retryable on another channel', (_name, status, b) => {
    const err = mapGeminiError(status, b, {});
    expect([err.status, err.code, err.retryable]).toEqual([502, 'provider_error', true]);
    expect(err.message).not.toContain('API key not valid');
  });

  it('treats 429 RESOURCE_EXHAUSTED as retryable and takes the wait from RetryInfo', () => {
    const err = mapGeminiError(429, body(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '22.5s' }]), {});
    expect([err.status, err.code, err.retryable, err.retryAfterS]).toEqual([502, 'provider_error', true, 23]);
  });

  it('prefers a Retry-After header over RetryInfo', () => {
    const err = mapGeminiError(429, body(429, 'RESOURCE_EXHAUSTED', 'Quota', [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '50s' }]), { 'retry-after': '4' });
    expect(err.retryAfterS).toBe(4);
  });

  it.each([
    [500, 'INTERNAL', 'An internal error has occurred.'],
    [503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  ])('treats %i %s as retryable 502 provider_error', (status, googleStatus, message) => {
    const err = mapGeminiError(status, body(status, googleStatus, message), {});
    expect([err.status, err.code, err.retryable]).toEqual([502, 'provider_error', true]);
    expect(err.message).toContain(message);
  });

  it('maps DEADLINE_EXCEEDED to 504 timeout', () => {
    const err = mapGeminiError(504, body(504, 'DEADLINE_EXCEEDED', 'Deadline expired'), {});
    expect([err.status, err.code, err.retryable]).toEqual([504, 'timeout', true]);
  });

  it('treats FAILED_PRECONDITION (unsupported location, billing) as a channel problem, retryable elsewhere', () => {
    const err = mapGeminiError(400, body(400, 'FAILED_PRECONDITION', 'User location is not supported for the API use.'), {});
    expect([err.status, err.code, err.retryable]).toEqual([502, 'provider_error', true]);
    expect(err.message).toContain('User location is not supported');
  });

  it('lets the Google status override a misleading HTTP status', () => {
    const err = mapGeminiError(500, body(429, 'RESOURCE_EXHAUSTED', 'Quota'), {});
    expect(err.message).toContain('rate limiting');
  });

  it('falls back to the HTTP status for a body that is not Google JSON, without echoing markup', () => {
    const err = mapGeminiError(502, '<html><body>Bad Gateway</body></html>', {});
    expect([err.status, err.code, err.retryable]).toEqual([502, 'provider_error', true]);
    expect(err.message).toContain('Bad Gateway');
    expect(err.message).not.toContain('<html>');
  });

  it('reads the array-wrapped error of a non-SSE streamGenerateContent', () => {
    expect(parseGoogleError(`[${body(400, 'INVALID_ARGUMENT', 'bad')}]`)).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', message: 'bad' });
    expect(parseGoogleError('nope')).toBeUndefined();
  });
});
