// Typed stream events → OpenAI `chat.completion.chunk` frames. Each chunk is written as a
// string around a prebuilt prefix, so only the new text is JSON-encoded per event.
import { costUsd } from '../../core/answer-cost.js';
import { usageObject } from '../../core/canonical.js';
import type { StreamEvent } from '../../core/canonical.js';
import type { GatewayError } from '../../core/errors.js';
import type { AnswerInfo, AnswerTotals, RequestFacts, StreamEncoder } from '../types.js';

export function chatErrorFrame(err: GatewayError): string {
  return `data: ${JSON.stringify({ error: { message: err.message, type: err.type, code: err.code, param: err.param } })}\n\n`;
}

export class ChatStreamEncoder implements StreamEncoder {
  private prefix: string;
  private readonly head: string;
  private idSet = false;

  constructor(
    private readonly info: AnswerInfo,
    private readonly facts: RequestFacts,
  ) {
    this.head = `,"object":"chat.completion.chunk","created":${info.created},"model":${JSON.stringify(info.model)},"choices":[`;
    this.prefix = `{"id":${JSON.stringify(`chatcmpl-${info.requestId}`)}${this.head}`;
  }

  private chunk(choice: number, delta: string, finish = 'null', logprobs?: unknown): string {
    const lp = logprobs === undefined ? '' : `,"logprobs":${JSON.stringify(logprobs)}`;
    return `data: ${this.prefix}{"index":${choice},"delta":${delta}${lp},"finish_reason":${finish}}]}\n\n`;
  }

  events(evs: readonly StreamEvent[]): string {
    let out = '';
    for (let i = 0; i < evs.length; i++) {
      const e = evs[i];
      switch (e.type) {
        case 'start':
          if (!this.idSet && e.id) {
            this.idSet = true;
            this.prefix = `{"id":${JSON.stringify(e.id.startsWith('chatcmpl-') ? e.id : `chatcmpl-${e.id}`)}${this.head}`;
          }
          out += this.chunk(e.choice, '{"role":"assistant","content":""}');
          break;
        case 'text':
          out += this.chunk(e.choice, `{"content":${JSON.stringify(e.text)}}`, 'null', e.logprobs);
          break;
        case 'reasoning':
          // The field OpenAI-compatible servers (vLLM, DeepSeek) use for reasoning text.
          out += this.chunk(e.choice, `{"reasoning_content":${JSON.stringify(e.text)}}`);
          break;
        case 'tool_start': {
          // A call that arrives whole (Gemini) goes out as one chunk, as OpenAI sends it.
          const next = evs[i + 1];
          let args = '';
          if (next?.type === 'tool_args' && next.choice === e.choice && next.index === e.index) {
            args = next.args;
            i++;
          }
          out += this.chunk(e.choice, `{"tool_calls":[{"index":${e.index},"id":${JSON.stringify(e.id)},"type":"function","function":{"name":${JSON.stringify(e.name)},"arguments":${JSON.stringify(args)}}}]}`);
          break;
        }
        case 'tool_args':
          out += this.chunk(e.choice, `{"tool_calls":[{"index":${e.index},"function":{"arguments":${JSON.stringify(e.args)}}}]}`);
          break;
        case 'refusal':
          out += this.chunk(e.choice, `{"refusal":${JSON.stringify(e.text)}}`);
          break;
        case 'finish':
          out += this.chunk(e.choice, '{}', `"${e.reason}"`);
          break;
        default:
          // Signatures and encrypted reasoning have no Chat Completions counterpart; usage is sent by end().
          break;
      }
    }
    return out;
  }

  end(totals: AnswerTotals): string {
    // Translated lanes always write the usage chunk the client asked for; the native lane relays the
    // upstream's own and adds Tollgate's count only when the upstream sent none.
    const usage = this.facts.relayUsageFrames && (!this.info.native || totals.estimated) ? `data: ${this.prefix}],"usage":${JSON.stringify({ ...usageObject(totals.usage), cost: costUsd(totals.costMicros) })}}\n\n` : '';
    return `${usage}data: [DONE]\n\n`;
  }

  error(err: GatewayError): string {
    return chatErrorFrame(err);
  }
}

export function chatStreamEncoder(info: AnswerInfo, facts: RequestFacts): StreamEncoder {
  return new ChatStreamEncoder(info, facts);
}
