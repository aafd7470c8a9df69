// The native lane for Messages clients: the client's body goes to Anthropic with only `model`
// replaced, and the answer comes back as the upstream wrote it. Frames are relayed as bytes;
// only usage, the stop reason, output text (for counting a cut stream) and errors are read,
// and the model id is swapped by text, so fields this gateway has never heard of survive.
import { type TokenUsage, usageObject } from '../../core/canonical.js';
import { GatewayError } from '../../core/errors.js';
import type { FinishReason, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import type { AdapterContext, ForwardHeaders, NativeAnswer, NativeProtocol, StreamPiece, StreamTranslator, UpstreamRequest } from '../types.js';
import { mapAnthropicStreamError, PROVIDER_NAME } from './errors.js';
import { toFinishReason } from './response.js';

type Json = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** Anthropic's usage counters as last reported; message_delta's are running totals, so they replace. */
interface Counters {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
  thinking: number;
}

function readCounters(u: Json, c: Counters): void {
  if (u.input_tokens != null) c.input = num(u.input_tokens);
  if (u.cache_read_input_tokens != null) c.cacheRead = num(u.cache_read_input_tokens);
  if (u.cache_creation_input_tokens != null) c.cacheWrite = num(u.cache_creation_input_tokens);
  if (u.output_tokens != null) c.output = num(u.output_tokens);
  const details = u.output_tokens_details;
  if (details !== null && typeof details === 'object') c.thinking = num((details as Json).thinking_tokens);
}

/** Anthropic counts cache reads and writes apart from input_tokens; the canonical prompt includes them. */
function toTokenUsage(c: Counters): TokenUsage {
  return { prompt: c.input + c.cacheRead + c.cacheWrite, completion: c.output, cacheRead: c.cacheRead, cacheWrite: c.cacheWrite, reasoning: c.thinking };
}

const zeroCounters = (): Counters => ({ input: 0, cacheRead: 0, cacheWrite: 0, output: 0, thinking: 0 });

/** `"model":"<upstream id>"` → the public id, by text: the first occurrence is the message's own (it precedes content). */
function replaceModel(text: string, upstreamValue: unknown, publicId: string): string {
  if (typeof upstreamValue !== 'string') return text;
  const at = text.search(new RegExp(`"model"\\s*:\\s*${escapeRegExp(JSON.stringify(upstreamValue))}`));
  if (at === -1) return text;
  const valueAt = text.indexOf('"', text.indexOf(':', at + 7));
  const quoted = JSON.stringify(upstreamValue);
  return text.slice(0, valueAt) + JSON.stringify(publicId) + text.slice(valueAt + quoted.length);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function blockText(b: Json): string {
  if (typeof b.text === 'string') return b.text;
  if (typeof b.thinking === 'string') return b.thinking;
  if (b.type === 'tool_use' || b.type === 'server_tool_use') return JSON.stringify(b.input ?? {});
  return '';
}

function nativeResponse(body: string, ctx: AdapterContext): NativeAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformedUpstream(PROVIDER_NAME, 'the body is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || (parsed as Json).type !== 'message') throw malformedUpstream(PROVIDER_NAME, 'the body is not a Messages API message');
  const msg = parsed as Json;
  const counters = zeroCounters();
  const reported = msg.usage !== null && typeof msg.usage === 'object';
  if (reported) readCounters(msg.usage as Json, counters);
  let text = '';
  if (Array.isArray(msg.content)) for (const b of msg.content) if (b !== null && typeof b === 'object') text += blockText(b as Json);
  const answer: NativeAnswer = { body: replaceModel(body, msg.model, ctx.model.id), usage: reported ? usageObject(toTokenUsage(counters)) : undefined, text };
  if (typeof msg.stop_reason === 'string') answer.finishReason = toFinishReason(msg.stop_reason);
  return answer;
}

/** Frame types relayed without being read. */
const PASSIVE = new Set(['content_block_stop', 'ping']);

/**
 * Splits the upstream's bytes into SSE frames and relays each as it was. Consecutive frames
 * that need no reading are batched into one piece per network chunk.
 */
export class AnthropicNativeStream implements StreamTranslator {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private readonly counters = zeroCounters();
  private sawUsage = false;
  private over = false;

  constructor(private readonly ctx: AdapterContext) {}

  push(data: Uint8Array): StreamPiece[] {
    if (this.over) return [];
    this.buffer += this.decoder.decode(data, { stream: true });
    return this.drain();
  }

  end(): StreamPiece[] {
    if (this.over) return [];
    this.buffer += this.decoder.decode();
    // A frame without its blank line is cut short: it is not relayed, and the stream counts as broken.
    const out = this.drain();
    if (!this.over) {
      this.over = true;
      out.push({ error: new GatewayError('provider_error', `The provider (${PROVIDER_NAME}) stream ended early, before message_stop.`, { retryable: true }) });
    }
    return out;
  }

  private drain(): StreamPiece[] {
    const out: StreamPiece[] = [];
    let batch = '';
    let batchText = '';
    let batchContent = false;
    const flush = () => {
      if (batch === '') return;
      const piece: StreamPiece = { frame: batch, content: batchContent };
      if (batchText !== '') piece.text = batchText;
      out.push(piece);
      batch = '';
      batchText = '';
      batchContent = false;
    };
    let start = 0;
    const buf = this.buffer;
    while (!this.over) {
      const end = frameEnd(buf, start);
      if (end === -1) break;
      const raw = buf.slice(start, end);
      start = end;
      const type = eventType(raw);
      if (type === undefined || PASSIVE.has(type)) {
        batch += raw;
        continue;
      }
      const data = readData(raw);
      if (data === undefined) {
        flush();
        this.over = true;
        out.push({ error: malformedUpstream(PROVIDER_NAME, `a stream event (${type}) is not JSON`) });
        break;
      }
      switch (type) {
        case 'content_block_delta':
        case 'content_block_start': {
          batch += raw;
          batchContent = true;
          const d = (type === 'content_block_delta' ? data.delta : data.content_block) as Json | undefined;
          if (d && typeof d === 'object') {
            const t = typeof d.text === 'string' ? d.text : typeof d.thinking === 'string' ? d.thinking : typeof d.partial_json === 'string' ? d.partial_json : '';
            batchText += t;
          }
          break;
        }
        case 'message_start': {
          flush();
          const msg = (data.message ?? {}) as Json;
          if (msg.usage && typeof msg.usage === 'object') {
            readCounters(msg.usage as Json, this.counters);
            this.sawUsage = true;
          }
          out.push({ frame: replaceModel(raw, msg.model, this.ctx.model.id), content: false, ...this.usagePiece() });
          break;
        }
        case 'message_delta': {
          flush();
          if (data.usage && typeof data.usage === 'object') {
            readCounters(data.usage as Json, this.counters);
            this.sawUsage = true;
          }
          const piece: StreamPiece = { frame: raw, content: false, ...this.usagePiece() };
          const reason = (data.delta as Json | undefined)?.stop_reason;
          if (typeof reason === 'string') piece.finishReason = toFinishReason(reason) as FinishReason;
          out.push(piece);
          break;
        }
        case 'message_stop':
          flush();
          this.over = true;
          out.push({ frame: raw, content: false, done: true, ...this.usagePiece() });
          break;
        case 'error':
          flush();
          this.over = true;
          out.push({ error: mapAnthropicStreamError(data) });
          break;
        default:
          batch += raw;
      }
    }
    flush();
    this.buffer = start === 0 ? buf : buf.slice(start);
    return out;
  }

  private usagePiece(): { usage?: Usage } {
    return this.sawUsage ? { usage: usageObject(toTokenUsage(this.counters)) } : {};
  }
}

/** Index just past the blank line that ends the next frame (separator included), or -1. */
function frameEnd(buf: string, from: number): number {
  const lf = buf.indexOf('\n\n', from);
  const crlf = buf.indexOf('\r\n\r\n', from);
  if (lf === -1) return crlf === -1 ? -1 : crlf + 4;
  if (crlf === -1 || lf < crlf) return lf + 2;
  return crlf + 4;
}

function eventType(raw: string): string | undefined {
  if (raw.startsWith('event:')) {
    const nl = raw.indexOf('\n');
    return raw.slice(6, nl === -1 ? undefined : nl).trim();
  }
  const data = readData(raw);
  return data && typeof data.type === 'string' ? data.type : undefined;
}

function readData(raw: string): Json | undefined {
  let text = '';
  for (const line of raw.split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (l.startsWith('data:')) text += (text === '' ? '' : '\n') + (l.charCodeAt(5) === 32 ? l.slice(6) : l.slice(5));
  }
  if (text === '') return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** Merges comma-separated `anthropic-beta` lists, keeping each flag once. */
function mergeBeta(a: string | undefined, b: string | undefined): string | undefined {
  const flags = [...(a ?? '').split(','), ...(b ?? '').split(',')].map((s) => s.trim()).filter((s) => s !== '');
  return flags.length > 0 ? [...new Set(flags)].join(',') : undefined;
}

/**
 * The Messages protocol offered by an Anthropic provider. `headers` are the provider's own
 * (key, default version, operator headers); the client's version and beta flags are added,
 * operator-pinned values win for the version and beta flags are merged.
 */
export function anthropicNativeMessages(messagesUrl: string, headers: Readonly<Record<string, string>>, operatorHeaders: Readonly<Record<string, string>>): NativeProtocol {
  const pinnedVersion = Object.keys(operatorHeaders).some((h) => h.toLowerCase() === 'anthropic-version');
  return {
    request(body: Json, ctx: AdapterContext, forward: ForwardHeaders): UpstreamRequest {
      const h: Record<string, string> = { ...headers };
      if (!pinnedVersion && forward['anthropic-version']) h['anthropic-version'] = forward['anthropic-version'];
      const beta = mergeBeta(h['anthropic-beta'], forward['anthropic-beta']);
      if (beta !== undefined) h['anthropic-beta'] = beta;
      // The client's object is serialised once; its key order and every field stay as sent.
      const out = { ...body, model: ctx.upstreamModel };
      return { method: 'POST', url: messagesUrl, headers: h, body: JSON.stringify(out) };
    },
    response: nativeResponse,
    streamTranslator: (ctx) => new AnthropicNativeStream(ctx),
  };
}
