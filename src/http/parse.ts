// Validation of management request bodies and queries with zod, reported in the SPEC
// envelope: unknown fields are unknown_parameter, bad values invalid_value naming the field.
import { type ZodType, z } from 'zod';
import { GatewayError } from '../core/errors.js';

export function parseBody<T>(schema: ZodType<T>, body: unknown): T {
  const input = body === undefined ? {} : body;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    throw new GatewayError('unknown_parameter', `Unknown parameter "${key}".`, { param: key });
  }
  const param = issue.path.map(String).join('.') || null;
  throw new GatewayError('invalid_value', `Invalid ${param ? `"${param}"` : 'body'}: ${issue.message}.`, { param });
}

export const usdField = z.number().finite().nonnegative().max(1e9);
export const modelList = z.array(z.string().min(1)).max(1000);
export const fallbackRules = z.record(z.string().min(1), z.array(z.string().min(1)).max(20));
export const limitField = z.number().int().positive().max(1e9);

/** Query strings: numbers and ISO dates as strings. */
export function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const asNum = Number(value);
  const t = Number.isFinite(asNum) && /^\d+$/.test(value) ? asNum : Date.parse(value);
  if (!Number.isFinite(t)) throw new GatewayError('invalid_value', `"${name}" must be an ISO 8601 time (e.g. 2026-01-31T00:00:00Z) or epoch milliseconds.`, { param: name });
  return t;
}

export function parseLimit(value: string | undefined, fallback = 100): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new GatewayError('invalid_value', '"limit" must be an integer from 1 to 1000.', { param: 'limit' });
  return n;
}
