// The error registry: one declaration per code, each building the documented envelope
// through GatewayError. (docs/errors.md is checked against the registry in test/docs.)
import { describe, expect, it } from 'vitest';
import { ERROR_REGISTRY, type ErrorCode } from '../../src/core/error-registry.js';
import { GatewayError, toGatewayError } from '../../src/core/errors.js';

const entries = Object.entries(ERROR_REGISTRY) as Array<[ErrorCode, { status: number; type: string }]>;

describe('error registry', () => {
  it('gives every code an error status and a snake_case type', () => {
    const bad = entries.filter(([code, e]) => !/^[a-z][a-z_]*$/.test(code) || e.status < 400 || e.status > 599 || !/^[a-z_]+_error$/.test(e.type)).map(([c]) => c);
    expect(bad).toEqual([]);
  });

  it('builds the envelope {message, type, code, param} with the registry status for every code', () => {
    for (const [code, entry] of entries) {
      const err = new GatewayError(code, `message for ${code}`, { param: 'field' });
      expect(err.status).toBe(entry.status);
      expect(err.toEnvelope()).toEqual({ error: { message: `message for ${code}`, type: entry.type, code, param: 'field' } });
    }
  });

  it('turns anything unknown into 500 internal_error without its details', () => {
    const err = toGatewayError(new Error('secret detail sk-tg-abc'));
    expect(err.status).toBe(500);
    expect(err.code).toBe('internal_error');
    expect(err.message).not.toContain('secret');
  });
});
