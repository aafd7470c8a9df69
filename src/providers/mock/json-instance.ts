// A deterministic value that satisfies a JSON Schema: what the mock model returns for
// `response_format: json_schema` and as a tool call's arguments. It covers the schemas that
// clients generate (OpenAI strict mode, zod, pydantic): types and unions, enum/const, $ref,
// allOf/anyOf/oneOf, required and optional properties, tuples, string formats, lengths,
// numeric bounds and multipleOf. A `pattern` is met when one of a few plain candidates
// matches it; otherwise the value may not match it.

type Schema = Record<string, unknown>;

const MAX_DEPTH = 12;
// Bounds for hostile schemas (minItems: 1e9 …): past them a value may stop being valid.
const MAX_NODES = 20_000;
const MAX_ITEMS = 1000;
const MAX_STRING = 10_000;
const MAX_CHARS = 200_000;

const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

const FORMATS: Record<string, string> = {
  'date-time': '2025-01-01T00:00:00Z',
  date: '2025-01-01',
  time: '00:00:00Z',
  duration: 'P1D',
  email: 'mock@example.com',
  'idn-email': 'mock@example.com',
  hostname: 'example.com',
  'idn-hostname': 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
  uri: 'https://example.com/mock',
  'uri-reference': 'https://example.com/mock',
  iri: 'https://example.com/mock',
  url: 'https://example.com/mock',
  uuid: '00000000-0000-4000-8000-000000000000',
  'json-pointer': '/mock',
  regex: 'mock',
  byte: 'bW9jaw==',
  base64: 'bW9jaw==',
};
const PATTERN_CANDIDATES = ['mock', 'MOCK', 'Mock', 'a', 'A', '0', '1', 'abc', 'ABC', 'mock1', 'mock-1', 'mock_1', 'a1', 'A1', 'mock@example.com', 'https://example.com/mock', '2025-01-01', '00:00', '+10000000000', ''];

interface Gen {
  root: unknown;
  /** values made so far, against MAX_NODES */
  nodes: number;
  /** string characters made so far, against MAX_CHARS */
  chars: number;
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return {};
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObj(node) && !Array.isArray(node)) return {};
    node = (node as Record<string, unknown>)[part];
  }
  return node ?? {};
}

/** allOf, and $ref beside other keywords, folded into one schema (properties and required merged). */
function flatten(g: Gen, schema: unknown, depth: number): Schema | boolean {
  if (typeof schema === 'boolean') return schema;
  if (!isObj(schema)) return {};
  let s: Schema = schema;
  if (typeof s.$ref === 'string' && depth < MAX_DEPTH) {
    const { $ref, ...rest } = s;
    const target = flatten(g, resolveRef(g.root, $ref as string), depth + 1);
    s = typeof target === 'boolean' ? rest : merge(target, rest);
  }
  if (Array.isArray(s.allOf) && depth < MAX_DEPTH) {
    const { allOf, ...rest } = s;
    let acc: Schema = rest;
    for (const part of allOf as unknown[]) {
      const f = flatten(g, part, depth + 1);
      if (typeof f !== 'boolean') acc = merge(acc, f);
    }
    s = acc;
  }
  return s;
}

function merge(a: Schema, b: Schema): Schema {
  const out: Schema = { ...a, ...b };
  if (isObj(a.properties) || isObj(b.properties)) out.properties = { ...(a.properties as Schema), ...(b.properties as Schema) };
  if (Array.isArray(a.required) || Array.isArray(b.required)) out.required = [...new Set([...((a.required as string[]) ?? []), ...((b.required as string[]) ?? [])])];
  for (const k of ['minimum', 'exclusiveMinimum', 'minLength', 'minItems'] as const) {
    if (typeof a[k] === 'number' && typeof b[k] === 'number') out[k] = Math.max(a[k] as number, b[k] as number);
  }
  for (const k of ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems'] as const) {
    if (typeof a[k] === 'number' && typeof b[k] === 'number') out[k] = Math.min(a[k] as number, b[k] as number);
  }
  return out;
}

function typeOf(s: Schema): string | undefined {
  const t = s.type;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return (t.find((x) => x !== 'null') as string | undefined) ?? (t[0] as string | undefined);
  if (isObj(s.properties) || Array.isArray(s.required) || s.additionalProperties !== undefined) return 'object';
  if (s.items !== undefined || Array.isArray(s.prefixItems)) return 'array';
  if (s.minimum !== undefined || s.maximum !== undefined || s.multipleOf !== undefined) return 'number';
  if (s.minLength !== undefined || s.maxLength !== undefined || s.pattern !== undefined || s.format !== undefined) return 'string';
  return undefined;
}

function nullable(s: Schema): boolean {
  return s.type === 'null' || (Array.isArray(s.type) && s.type.includes('null'));
}

function value(g: Gen, schema: unknown, depth: number, seed: number): unknown {
  if (++g.nodes > MAX_NODES) return null;
  const s = flatten(g, schema, depth);
  if (s === true) return 'mock';
  if (s === false) return null;
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const branches = (Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined) as unknown[] | undefined;
  if (branches && branches.length > 0) {
    const { anyOf: _a, oneOf: _o, ...rest } = s;
    // Deep down, prefer a branch that ends the recursion (null, a scalar) over another object.
    let pick = branches[0];
    if (depth >= MAX_DEPTH - 2) {
      pick = branches.find((b) => {
        const f = flatten(g, b, depth + 1);
        return typeof f !== 'boolean' && typeOf(f) !== 'object' && typeOf(f) !== 'array';
      }) ?? pick;
    }
    const f = flatten(g, pick, depth + 1);
    return value(g, typeof f === 'boolean' ? f : merge(rest, f), depth + 1, seed);
  }
  if (depth >= MAX_DEPTH && nullable(s)) return null;
  switch (typeOf(s)) {
    case 'object':
      return objectValue(g, s, depth, seed);
    case 'array':
      return arrayValue(g, s, depth, seed);
    case 'integer':
      return numberValue(s, seed, true);
    case 'number':
      return numberValue(s, seed, false);
    case 'boolean':
      return seed % 2 === 0;
    case 'null':
      return null;
    default:
      return stringValue(g, s, seed);
  }
}

function objectValue(g: Gen, s: Schema, depth: number, seed: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = isObj(s.properties) ? s.properties : {};
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  let i = 0;
  for (const [name, p] of Object.entries(props)) {
    // Optional properties are filled too (a fuller answer), except deep in a recursive schema.
    if (required.has(name) || depth < MAX_DEPTH - 4) out[name] = value(g, p, depth + 1, seed + i);
    i++;
  }
  for (const name of required) {
    if (!(name in out)) out[name] = value(g, isObj(s.additionalProperties) ? s.additionalProperties : {}, depth + 1, seed + i++);
  }
  const min = typeof s.minProperties === 'number' ? s.minProperties : 0;
  for (let k = 0; Object.keys(out).length < min && k < MAX_ITEMS; k++) {
    if (s.additionalProperties === false) break;
    out[`mock_${k}`] = value(g, isObj(s.additionalProperties) ? s.additionalProperties : {}, depth + 1, seed + k);
  }
  return out;
}

function arrayValue(g: Gen, s: Schema, depth: number, seed: number): unknown[] {
  const prefix = (Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : []) as unknown[];
  const rest = Array.isArray(s.items) ? s.additionalItems : s.items;
  const min = typeof s.minItems === 'number' ? Math.min(s.minItems, MAX_ITEMS) : 0;
  const max = typeof s.maxItems === 'number' ? s.maxItems : Number.POSITIVE_INFINITY;
  const canExtend = rest !== false && !(Array.isArray(s.prefixItems) && s.items === false);
  // One item beyond the tuple when allowed: an empty list says little about the schema.
  let count = Math.max(min, prefix.length + (canExtend && depth < MAX_DEPTH - 4 ? 1 : 0));
  if (count > max) count = Math.max(min, max);
  const out: unknown[] = [];
  for (let i = 0; i < count; i++) out.push(value(g, i < prefix.length ? prefix[i] : (rest ?? {}), depth + 1, seed + i));
  return out;
}

function numberValue(s: Schema, seed: number, integer: boolean): number {
  let lo = Number.NEGATIVE_INFINITY;
  let hi = Number.POSITIVE_INFINITY;
  let loOpen = false;
  let hiOpen = false;
  if (typeof s.minimum === 'number') lo = s.minimum;
  if (typeof s.maximum === 'number') hi = s.maximum;
  if (typeof s.exclusiveMinimum === 'number' && s.exclusiveMinimum >= lo) [lo, loOpen] = [s.exclusiveMinimum, true];
  if (typeof s.exclusiveMaximum === 'number' && s.exclusiveMaximum <= hi) [hi, hiOpen] = [s.exclusiveMaximum, true];
  if (s.exclusiveMinimum === true) loOpen = true;
  if (s.exclusiveMaximum === true) hiOpen = true;
  const step = typeof s.multipleOf === 'number' && s.multipleOf > 0 ? s.multipleOf : integer ? 1 : 0;
  const ok = (x: number) => (loOpen ? x > lo : x >= lo) && (hiOpen ? x < hi : x <= hi);
  const onStep = (x: number, up: boolean) => (step > 0 ? (up ? Math.ceil(x / step) : Math.floor(x / step)) * step : x);
  const preferred = 1 + (seed % 10);
  const candidates = [preferred, onStep(lo, true), onStep(lo, true) + step, onStep(hi, false), onStep(hi, false) - step, onStep(Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : 0, true)];
  for (const c of candidates) {
    if (Number.isFinite(c) && ok(c) && (step === 0 || Number.isInteger(Number((c / step).toFixed(9))))) return Number(c.toPrecision(15));
  }
  return Number.isFinite(lo) ? lo : Number.isFinite(hi) ? hi : preferred;
}

function fitLength(g: Gen, text: string, s: Schema): string {
  const min = typeof s.minLength === 'number' ? Math.min(s.minLength, MAX_STRING, Math.max(0, MAX_CHARS - g.chars)) : 0;
  const max = typeof s.maxLength === 'number' ? s.maxLength : Number.POSITIVE_INFINITY;
  let out = text.length < min ? text + ' mock'.repeat(Math.ceil((min - text.length) / 5)) : text;
  const chars = [...out];
  out = chars.slice(0, Math.max(min, Math.min(max, chars.length))).join('');
  g.chars += out.length;
  return out;
}

function stringValue(g: Gen, s: Schema, seed: number): string {
  const base = typeof s.format === 'string' && FORMATS[s.format] ? FORMATS[s.format] : seed === 0 ? 'mock' : `mock ${seed}`;
  if (typeof s.pattern !== 'string') return fitLength(g, base, s);
  let re: RegExp;
  try {
    re = new RegExp(s.pattern, 'u');
  } catch {
    return fitLength(g, base, s);
  }
  for (const c of [base, ...PATTERN_CANDIDATES]) {
    const fitted = fitLength(g, c, s);
    if (re.test(fitted)) return fitted;
  }
  return fitLength(g, base, s);
}

/** A value valid against `schema` (a JSON Schema object or boolean); `seed` varies the choice deterministically. */
export function jsonInstance(schema: unknown, seed = 0): unknown {
  return value({ root: schema, nodes: 0, chars: 0 }, schema, 0, seed);
}
