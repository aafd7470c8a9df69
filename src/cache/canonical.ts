// Cache keys: a SHA-256 over the org, the model and a canonical JSON of everything in the
// request that can change the answer. Canonical = object keys sorted at every depth, array
// order kept, written in one pass straight from the parsed request.
import { hash } from 'node:crypto';
import type { ChatMessage, ChatRequest, ContentPart } from '../core/types.js';

/**
 * Fields that never change what the model says. Everything else is keyed, including
 * fields this list has never heard of: an unknown field costs at worst a missed hit,
 * whereas leaving an output-affecting one out would serve one request another's answer.
 * `model` is excluded because the caller passes the model explicitly.
 */
const OUTPUT_NEUTRAL_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'models',
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'service_tier',
  'prompt_cache_key',
  'safety_identifier',
]);

/** Deeper than any real request; stops a hostile body from exhausting the stack. */
const MAX_DEPTH = 200;

const EXACT_DOMAIN = 'tollgate-exact-v1';
const SEMANTIC_DOMAIN = 'tollgate-semantic-v1';

/** The exact-layer key for `req` as sent by `orgId` to `model`: 64 hex characters. */
export function exactCacheKey(orgId: string, model: string, req: ChatRequest): string {
  return sha256Hex(keyHeader(EXACT_DOMAIN, orgId, model) + canonicalRequest(req, req.messages));
}

export interface SemanticScope {
  /** hash of org, model, every output-affecting parameter and the whole conversation except the last user text */
  scopeKey: string;
  /** the last user message's text parts, joined by newlines; '' when there is nothing to embed */
  promptText: string;
}

/**
 * Splits a request into what must match exactly (the scope) and what may merely be
 * similar (the last user message's text). Non-text parts of that message (images, audio,
 * its `name`) stay in the scope, so two prompts with the same words but different images
 * never share an answer.
 */
export function semanticScope(orgId: string, model: string, req: ChatRequest): SemanticScope {
  const messages = req.messages;
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') {
      last = i;
      break;
    }
  }
  const header = keyHeader(SEMANTIC_DOMAIN, orgId, model);
  if (last < 0) return { scopeKey: sha256Hex(header + canonicalRequest(req, messages)), promptText: '' };
  const { shape, text } = splitUserText(messages[last]);
  const scoped = messages.slice();
  scoped[last] = shape;
  return { scopeKey: sha256Hex(header + canonicalRequest(req, scoped)), promptText: text };
}

/** Canonical JSON of `value`: sorted keys, undefined members dropped, as JSON.stringify would. */
export function canonicalJson(value: unknown): string {
  return writeValue('', value, 0);
}

function keyHeader(domain: string, orgId: string, model: string): string {
  // JSON-quoting makes the boundaries unambiguous whatever the ids contain.
  return domain + '\n' + quote(orgId) + '\n' + quote(model) + '\n';
}

function sha256Hex(s: string): string {
  return hash('sha256', s, 'hex');
}

// Characters JSON.stringify would escape, plus lone surrogates (which it escapes and UTF-8
// would otherwise collapse into U+FFFD, making distinct strings hash alike).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON-quotes `s`; skips JSON.stringify for the common case of nothing to escape. */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/**
 * In-place insertion sort in code-unit order (the order Array#sort uses). Objects in a
 * request have a handful of keys, where this beats the comparator machinery of sort().
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 24) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = k;
  }
}

function canonicalRequest(req: ChatRequest, messages: readonly ChatMessage[]): string {
  const keys = Object.keys(req);
  sortKeys(keys);
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (OUTPUT_NEUTRAL_FIELDS.has(k)) continue;
    const v = k === 'messages' ? messages : req[k];
    // At the top level null means "provider default", exactly like leaving the field out.
    if (v === undefined || v === null || typeof v === 'function') continue;
    out += (first ? '' : ',') + quote(k) + ':';
    out = writeValue(out, v, 1);
    first = false;
  }
  return out + '}';
}

function writeValue(out: string, v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return out + quote(v);
    case 'number':
      return out + (Number.isFinite(v) ? String(v) : 'null');
    case 'boolean':
      return out + (v ? 'true' : 'false');
    case 'bigint':
      return out + String(v);
    case 'object':
      break;
    default:
      return out + 'null';
  }
  if (v === null) return out + 'null';
  if (depth > MAX_DEPTH) throw new RangeError(`request nests deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(v)) {
    out += '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      out = writeValue(out, v[i], depth + 1);
    }
    return out + ']';
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  sortKeys(keys);
  out += '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const member = obj[k];
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    out += (first ? '' : ',') + quote(k) + ':';
    out = writeValue(out, member, depth + 1);
    first = false;
  }
  return out + '}';
}

const TEXT_SLOT: ContentPart = Object.freeze({ type: 'text' });

/**
 * The message with its text replaced by a slot, plus that text. A string content and a
 * single text part both become one `{type:"text"}` slot: they reach the model identically.
 * A text part without `text` cannot occur in a valid request, so the slot never collides
 * with real content.
 */
function splitUserText(msg: ChatMessage): { shape: ChatMessage; text: string } {
  const content = msg.content;
  if (typeof content === 'string') return { shape: { ...msg, content: [TEXT_SLOT] }, text: content };
  if (!Array.isArray(content)) return { shape: msg, text: '' };
  let text = '';
  let texts = 0;
  const parts: ContentPart[] = new Array(content.length);
  for (let i = 0; i < content.length; i++) {
    const part = content[i];
    if (part.type === 'text' && typeof part.text === 'string') {
      text = texts === 0 ? part.text : text + '\n' + part.text;
      texts++;
      parts[i] = TEXT_SLOT;
    } else {
      parts[i] = part;
    }
  }
  return { shape: { ...msg, content: parts }, text };
}
