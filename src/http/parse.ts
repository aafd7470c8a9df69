// Validation of management request bodies and queries with zod, reported in the SPEC
// envelope: unknown fields are unknown_parameter, bad values invalid_value naming the field.
import { type ZodType, z } from 'zod';
import { GatewayError } from '../core/errors.js';

/** Deepest JSON nesting a request body may have: real requests stay far below it, and recursive code downstream stays safe. */
export const MAX_JSON_DEPTH = 256;

/**
 * Throws invalid_json when the JSON text nests objects and arrays deeper than MAX_JSON_DEPTH.
 * One pass over the characters, skipped for texts too short to nest that deep.
 */
export function checkJsonDepth(text: string): void {
  if (text.length <= MAX_JSON_DEPTH * 2) return;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > MAX_JSON_DEPTH) throw new GatewayError('invalid_json', `The request body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep.`);
    } else if (c === 125 || c === 93) depth--;
  }
}

/**
 * A request body as the inference routes read it, whatever its content type: undefined when
 * empty, else JSON no deeper than MAX_JSON_DEPTH; throws invalid_json otherwise.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) return undefined;
  checkJsonDepth(text);
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError('invalid_json', 'The request body is not valid JSON. Check for trailing commas, unquoted keys or a truncated body.');
  }
}

/** The path of the first string (value or key) holding a NUL character, which no database column can store. */
function nulPath(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || 'body' : undefined;
  if (typeof value !== 'object' || value === null || depth > MAX_JSON_DEPTH) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const here = path ? `${path}.${k}` : k;
    if (k.includes('\u0000')) return here;
    const found = nulPath(v, here, depth + 1);
    if (found) return found;
  }
  return undefined;
}

export function parseBody<T>(schema: ZodType<T>, body: unknown): T {
  const input = body === undefined ? {} : body;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
  const nul = nulPath(input, '');
  if (nul) throw new GatewayError('invalid_value', `"${boundText(nul, 64)}" contains a NUL character (\\u0000), which is not allowed in text.`, { param: boundText(nul, 64) });
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    // A nested object's stray field is named by its path (cache.exakt), as invalid values are.
    const key = [...issue.path.map(String), issue.keys[0]].join('.');
    throw new GatewayError('unknown_parameter', `Unknown parameter "${key}".`, { param: key });
  }
  const param = issue.path.map(String).join('.') || null;
  throw new GatewayError('invalid_value', `Invalid ${param ? `"${param}"` : 'body'}: ${issue.message}.`, { param });
}

/**
 * A query string read through its declared schema (fields the schema does not name are ignored,
 * as query strings collect tracking and cache-busting parameters); a bad value is invalid_value.
 */
export function parseQuery<T extends z.ZodObject>(schema: T, query: unknown): z.infer<T> {
  const r = schema.safeParse(query ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.map(String).join('.') || null;
  throw new GatewayError('invalid_value', `Invalid query parameter ${param ? `"${param}"` : ''}: ${issue.message}. Give each parameter once.`, { param });
}

/** A query parameter holding one value (a repeated parameter arrives as an array and is refused). */
export const queryText = (description: string) => z.string().optional().meta({ description });

/**
 * A USD amount is counted in whole micro-dollars, so a seventh decimal cannot be kept: refusing
 * it beats rounding an operator's grant or a budget to a different amount (1e-7 would be a
 * grant of zero). toFixed(6) gives back the same double exactly when there is no more precision.
 */
const wholeMicros = (n: number) => Number(n.toFixed(6)) === n;
const MICROS_MESSAGE = 'at most 6 decimals (amounts are counted in whole micro-dollars)';
export const usdField = z.number().finite().nonnegative().max(1e9).refine(wholeMicros, MICROS_MESSAGE);
/** A USD amount above zero, such as a credit grant. */
export const positiveUsdField = z.number().finite().positive().max(1e9).refine(wholeMicros, MICROS_MESSAGE);
export const modelList = z.array(z.string().min(1)).max(1000);
export const fallbackRules = z.record(z.string().min(1), z.array(z.string().min(1)).max(20));
export const limitField = z.number().int().positive().max(1e9);

/** The latest time accepted in a query (year 9999): later values overflow dates and database integers. */
const MAX_TIME_MS = 253_402_300_799_999;

/**
 * Date.parse rolls an impossible day over (2026-02-30 is March 2nd, 2026-04-31 is May 1st), so
 * a mistyped bound would silently move the range; the day must exist in its month.
 */
function realDate(value: string): boolean {
  const [y, m, d] = value.slice(0, 10).split('-').map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** Query strings: numbers and ISO dates as strings, from 1970 to the year 9999. */
export function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const t = /^\d{1,16}$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}/.test(value) && realDate(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(t) || t < 0 || t > MAX_TIME_MS) {
    throw new GatewayError('invalid_value', `"${name}" must be an ISO 8601 time (e.g. 2026-01-31T00:00:00Z) or epoch milliseconds, between 1970 and 9999.`, { param: name });
  }
  return t;
}

/** Client text put into a message: long input is cut, so an answer never echoes megabytes back. */
export function boundText(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

export function parseLimit(value: string | undefined, fallback = 100): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new GatewayError('invalid_value', '"limit" must be an integer from 1 to 1000.', { param: 'limit' });
  return n;
}
