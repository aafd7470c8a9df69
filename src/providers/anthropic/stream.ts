// Anthropic Messages SSE stream → typed stream events (text, thinking, tool calls, finish)
// for any surface's encoder. State is a handful of counters, with no timers and no buffering
// beyond the event being parsed.
import { GatewayError } from '../../core/errors.js';
import type { FinishReason } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import { type SseEvent, SseParser } from '../sse.js';
import type { AdapterContext, StreamPiece, StreamTranslator } from '../types.js';
import { mapAnthropicStreamError, PROVIDER_NAME } from './errors.js';
import { toFinishReason, toUsage } from './response.js';

interface StreamEventData {
  type?: unknown;
  index?: unknown;
  message?: { id?: unknown; usage?: Record<string, unknown> };
  content_block?: { type?: unknown; id?: unknown; name?: unknown; text?: unknown; thinking?: unknown; data?: unknown };
  delta?: { type?: unknown; text?: unknown; partial_json?: unknown; stop_reason?: unknown; thinking?: unknown; signature?: unknown };
  usage?: Record<string, unknown>;
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export class AnthropicStreamTranslator implements StreamTranslator {
  private readonly parser = new SseParser();
  private inputTokens = 0;
  private cacheRead = 0;
  private cacheCreation = 0;
  private outputTokens = 0;
  /** Anthropic numbers all content blocks; tool calls are numbered alone, from 0. */
  private readonly toolIndexByBlock = new Map<number, number>();
  private finishSent = false;
  /** message_stop seen or an error emitted: later bytes are ignored. */
  private over = false;

  push(data: Uint8Array): StreamPiece[] {
    if (this.over) return [];
    return this.handleAll(this.parser.push(data));
  }

  end(): StreamPiece[] {
    if (this.over) return [];
    const { events } = this.parser.end();
    const out = this.handleAll(events);
    if (!this.over) {
      this.over = true;
      out.push({
        error: new GatewayError('provider_error', `The provider (${PROVIDER_NAME}) stream ended early, before message_stop.`, { retryable: true }),
      });
    }
    return out;
  }

  private handleAll(events: SseEvent[]): StreamPiece[] {
    const out: StreamPiece[] = [];
    for (let i = 0; i < events.length && !this.over; i++) this.handle(events[i], out);
    return out;
  }

  private handle(ev: SseEvent, out: StreamPiece[]): void {
    let data: StreamEventData;
    try {
      data = JSON.parse(ev.data) as StreamEventData;
    } catch {
      this.over = true;
      out.push({ error: malformedUpstream(PROVIDER_NAME, `a stream event${ev.event ? ` (${ev.event})` : ''} is not JSON`) });
      return;
    }
    if (data === null || typeof data !== 'object') {
      this.over = true;
      out.push({ error: malformedUpstream(PROVIDER_NAME, 'a stream event is not an object') });
      return;
    }
    const type = typeof data.type === 'string' ? data.type : ev.event;
    switch (type) {
      case 'message_start':
        this.onMessageStart(data, out);
        return;
      case 'content_block_start':
        this.onBlockStart(data, out);
        return;
      case 'content_block_delta':
        this.onBlockDelta(data, out);
        return;
      case 'message_delta':
        this.onMessageDelta(data, out);
        return;
      case 'message_stop':
        this.onMessageStop(out);
        return;
      case 'error':
        this.over = true;
        out.push({ error: mapAnthropicStreamError(data) });
        return;
      default:
        // ping, content_block_stop, and event types added after this was written carry nothing to forward.
        return;
    }
  }

  private onMessageStart(data: StreamEventData, out: StreamPiece[]): void {
    const msg = data.message;
    this.readUsage(msg?.usage);
    out.push({ events: [{ type: 'start', choice: 0, id: typeof msg?.id === 'string' ? msg.id : undefined }], content: false });
  }

  private onBlockStart(data: StreamEventData, out: StreamPiece[]): void {
    const block = data.content_block;
    const index = count(data.index);
    if (block?.type === 'tool_use' && index !== undefined) {
      const toolIndex = this.toolIndexByBlock.size;
      this.toolIndexByBlock.set(index, toolIndex);
      const id = typeof block.id === 'string' ? block.id : `call_${toolIndex}`;
      const name = typeof block.name === 'string' ? block.name : '';
      out.push({ events: [{ type: 'tool_start', choice: 0, index: toolIndex, id, name }], content: true });
    } else if (block?.type === 'text' && typeof block.text === 'string' && block.text !== '') {
      out.push({ events: [{ type: 'text', choice: 0, text: block.text }], content: true, text: block.text });
    } else if (block?.type === 'thinking' && typeof block.thinking === 'string' && block.thinking !== '') {
      out.push({ events: [{ type: 'reasoning', choice: 0, text: block.thinking }], content: true, text: block.thinking });
    } else if (block?.type === 'redacted_thinking' && typeof block.data === 'string') {
      out.push({ events: [{ type: 'reasoning_redacted', choice: 0, data: block.data }], content: true });
    }
  }

  private onBlockDelta(data: StreamEventData, out: StreamPiece[]): void {
    const delta = data.delta;
    switch (delta?.type) {
      case 'text_delta':
        if (typeof delta.text !== 'string' || delta.text === '') return;
        out.push({ events: [{ type: 'text', choice: 0, text: delta.text }], content: true, text: delta.text });
        return;
      case 'input_json_delta': {
        const index = count(data.index);
        const toolIndex = index === undefined ? undefined : this.toolIndexByBlock.get(index);
        // The first input_json_delta of a block is often empty; it changes nothing for the client.
        if (toolIndex === undefined || typeof delta.partial_json !== 'string' || delta.partial_json === '') return;
        out.push({ events: [{ type: 'tool_args', choice: 0, index: toolIndex, args: delta.partial_json }], content: true, text: delta.partial_json });
        return;
      }
      case 'thinking_delta':
        if (typeof delta.thinking !== 'string' || delta.thinking === '') return;
        out.push({ events: [{ type: 'reasoning', choice: 0, text: delta.thinking }], content: true, text: delta.thinking });
        return;
      case 'signature_delta':
        if (typeof delta.signature !== 'string') return;
        out.push({ events: [{ type: 'reasoning_signature', choice: 0, signature: delta.signature }] });
        return;
      default:
        // citations_delta and later delta types have no canonical counterpart.
        return;
    }
  }

  private onMessageDelta(data: StreamEventData, out: StreamPiece[]): void {
    this.readUsage(data.usage);
    const reason = data.delta?.stop_reason;
    if (typeof reason === 'string') this.pushFinish(toFinishReason(reason), out);
  }

  private onMessageStop(out: StreamPiece[]): void {
    if (!this.finishSent) this.pushFinish('stop', out);
    this.over = true;
    const usage = toUsage(this.inputTokens, this.cacheRead, this.cacheCreation, this.outputTokens);
    out.push({ usage, usageOnly: true, done: true });
  }

  private pushFinish(reason: FinishReason, out: StreamPiece[]): void {
    this.finishSent = true;
    out.push({ events: [{ type: 'finish', choice: 0, reason }], finishReason: reason });
  }

  /** message_start carries the input side; message_delta's counters are running totals, so they replace, never add. */
  private readUsage(u: Record<string, unknown> | undefined): void {
    if (u === null || typeof u !== 'object') return;
    this.inputTokens = count(u.input_tokens) ?? this.inputTokens;
    this.cacheRead = count(u.cache_read_input_tokens) ?? this.cacheRead;
    this.cacheCreation = count(u.cache_creation_input_tokens) ?? this.cacheCreation;
    this.outputTokens = count(u.output_tokens) ?? this.outputTokens;
  }
}

export function translateAnthropicStream(_ctx: AdapterContext): StreamTranslator {
  return new AnthropicStreamTranslator();
}
