// Typed stream events (translated lane) → Anthropic's SSE sequence: message_start, ping, then
// per content block content_block_start / _delta / _stop (text, thinking with its signature,
// redacted thinking, tool_use with input_json deltas), message_delta with the stop reason and
// usage, message_stop. Only the new text is JSON-encoded per event. In the native lane the
// upstream's own frames are relayed and this encoder adds nothing but error frames.
import type { StreamEvent } from '../../core/canonical.js';
import type { GatewayError } from '../../core/errors.js';
import type { FinishReason } from '../../core/types.js';
import type { AnswerInfo, AnswerTotals, RequestFacts, StreamEncoder } from '../types.js';
import { messageId, messagesUsage, stopReasonOf } from './encode-response.js';
import { messagesErrorFrame } from './errors.js';

type BlockKind = 'text' | 'thinking' | 'tool';

function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

export class MessagesStreamEncoder implements StreamEncoder {
  private started = false;
  private nextIndex = 0;
  private openKind: BlockKind | undefined;
  private openIndex = -1;
  /** tool number (canonical) → content block index */
  private readonly toolBlocks = new Map<number, number>();
  private finish: FinishReason | undefined;
  private ended = false;

  constructor(private readonly info: AnswerInfo) {}

  events(evs: readonly StreamEvent[]): string {
    if (this.info.native || this.ended) return '';
    let out = '';
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i];
      if (!this.started) out += this.start();
      switch (ev.type) {
        case 'start':
        case 'usage':
          break;
        case 'text':
        case 'refusal':
          if (ev.choice !== 0 || ev.text === '') break;
          out += this.ensureOpen('text', '{"type":"text","text":""}');
          out += frame('content_block_delta', `{"type":"content_block_delta","index":${this.openIndex},"delta":{"type":"text_delta","text":${JSON.stringify(ev.text)}}}`);
          break;
        case 'reasoning':
          if (ev.choice !== 0 || ev.text === '') break;
          out += this.ensureOpen('thinking', '{"type":"thinking","thinking":"","signature":""}');
          out += frame('content_block_delta', `{"type":"content_block_delta","index":${this.openIndex},"delta":{"type":"thinking_delta","thinking":${JSON.stringify(ev.text)}}}`);
          break;
        case 'reasoning_signature':
          if (ev.choice !== 0) break;
          out += this.ensureOpen('thinking', '{"type":"thinking","thinking":"","signature":""}');
          out += frame('content_block_delta', `{"type":"content_block_delta","index":${this.openIndex},"delta":{"type":"signature_delta","signature":${JSON.stringify(ev.signature)}}}`);
          out += this.close();
          break;
        case 'reasoning_redacted':
          if (ev.choice !== 0) break;
          out += this.close();
          out += this.openBlock(undefined, `{"type":"redacted_thinking","data":${JSON.stringify(ev.data)}}`);
          out += this.close();
          break;
        case 'tool_start':
          if (ev.choice !== 0) break;
          out += this.close();
          out += this.openBlock('tool', `{"type":"tool_use","id":${JSON.stringify(ev.id)},"name":${JSON.stringify(ev.name)},"input":{}}`);
          this.toolBlocks.set(ev.index, this.openIndex);
          break;
        case 'tool_args': {
          const block = ev.choice === 0 ? this.toolBlocks.get(ev.index) : undefined;
          // Arguments for a call whose block is already closed still carry that block's index: clients accumulate by index.
          if (block === undefined || ev.args === '') break;
          out += frame('content_block_delta', `{"type":"content_block_delta","index":${block},"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(ev.args)}}}`);
          break;
        }
        case 'finish':
          if (ev.choice === 0) this.finish = ev.reason;
          break;
      }
    }
    return out;
  }

  end(totals: AnswerTotals): string {
    if (this.info.native || this.ended) return '';
    this.ended = true;
    let out = this.started ? '' : this.start();
    out += this.close();
    const delta = `{"stop_reason":${JSON.stringify(stopReasonOf(this.finish))},"stop_sequence":null}`;
    out += frame('message_delta', `{"type":"message_delta","delta":${delta},"usage":${JSON.stringify(messagesUsage(totals.usage, totals.costMicros))}}`);
    out += frame('message_stop', '{"type":"message_stop"}');
    return out;
  }

  error(err: GatewayError): string {
    this.ended = true;
    return messagesErrorFrame(err);
  }

  private start(): string {
    this.started = true;
    const message = {
      id: messageId(this.info),
      type: 'message',
      role: 'assistant',
      model: this.info.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    return frame('message_start', `{"type":"message_start","message":${JSON.stringify(message)}}`) + frame('ping', '{"type":"ping"}');
  }

  private ensureOpen(kind: BlockKind, block: string): string {
    if (this.openKind === kind) return '';
    return this.close() + this.openBlock(kind, block);
  }

  private openBlock(kind: BlockKind | undefined, block: string): string {
    this.openIndex = this.nextIndex++;
    this.openKind = kind;
    return frame('content_block_start', `{"type":"content_block_start","index":${this.openIndex},"content_block":${block}}`);
  }

  private close(): string {
    if (this.openIndex < 0) return '';
    const index = this.openIndex;
    this.openIndex = -1;
    this.openKind = undefined;
    return frame('content_block_stop', `{"type":"content_block_stop","index":${index}}`);
  }
}

export function messagesStreamEncoder(info: AnswerInfo, _facts: RequestFacts): StreamEncoder {
  return new MessagesStreamEncoder(info);
}
