// streamGenerateContent?alt=sse bytes → typed stream events. Each SSE event
// is a whole GenerateContentResponse; usage is cumulative, so only the latest one is kept
// and handed out once the upstream ends cleanly.
import { GatewayError } from '../../core/errors.js';
import type { FinishReason, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import { SseParser } from '../sse.js';
import type { AdapterContext, StreamPiece, StreamTranslator } from '../types.js';
import { mapGeminiError, parseGoogleError } from './errors.js';
import {
  type GeminiCandidate,
  type GeminiResponse,
  mapFinishReason,
  PROVIDER_NAME,
  responseKey,
  toolCallFromPart,
  translateLogprobs,
  usageFromMetadata,
} from './response.js';

interface ChoiceState {
  toolCalls: number;
  finished: boolean;
}

const TAIL_LIMIT = 16 * 1024;

class GeminiStreamTranslator implements StreamTranslator {
  private readonly parser = new SseParser();
  private keyed = false;
  private key = '';
  private usage: Usage | undefined;
  private readonly choices: ChoiceState[] = [];
  /** Tool calls in the whole response, so ids match what the non-stream translation would give. */
  private callsInResponse = 0;
  private failed = false;
  /** The latest raw bytes, kept only to read an error Google writes outside SSE framing. */
  private readonly tail: Uint8Array[] = [];
  private tailBytes = 0;

  push(data: Uint8Array): StreamPiece[] {
    if (this.failed) return [];
    this.keepTail(data);
    const out: StreamPiece[] = [];
    for (const event of this.parser.push(data)) this.onEvent(event.data, out);
    return out;
  }

  end(): StreamPiece[] {
    if (this.failed) return [];
    const out: StreamPiece[] = [];
    const { events, truncated } = this.parser.end();
    for (const event of events) this.onEvent(event.data, out);
    if (this.failed) return out;
    const started = this.choices.filter(Boolean);
    const finished = started.length > 0 && started.every((c) => c.finished);
    if (truncated || !finished) {
      this.fail(out, this.unframedError() ?? earlyEnd(truncated ? 'its last event was cut off' : 'before a finish reason'));
      return out;
    }
    if (this.usage) {
      out.push({ usage: this.usage, usageOnly: true, done: true });
    } else {
      out.push({ done: true });
    }
    return out;
  }

  private keepTail(data: Uint8Array): void {
    this.tail.push(data);
    this.tailBytes += data.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= TAIL_LIMIT) this.tailBytes -= this.tail.shift()!.length;
  }

  /**
   * Google may abort a 200 stream by writing a plain (often pretty-printed) JSON error body
   * instead of an SSE event; the SSE parser skips those lines, so they are looked for here.
   */
  private unframedError(): GatewayError | undefined {
    const lines = Buffer.concat(this.tail).toString('utf8').split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const start = lines[i].trimStart();
      if (start[0] !== '{' && start[0] !== '[') continue;
      const err = parseGoogleError(lines.slice(i).join('\n'));
      if (err) return mapGeminiError(typeof err.code === 'number' ? err.code : 500, lines.slice(i).join('\n'), {});
    }
    return undefined;
  }

  private fail(out: StreamPiece[], error: GatewayError): void {
    this.failed = true;
    out.push({ error });
  }

  private onEvent(data: string, out: StreamPiece[]): void {
    if (this.failed) return;
    let resp: GeminiResponse;
    try {
      const parsed: unknown = JSON.parse(data);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TypeError('not an object');
      resp = parsed as GeminiResponse;
    } catch {
      this.fail(out, malformedUpstream(PROVIDER_NAME, 'a stream event is not a JSON GenerateContentResponse'));
      return;
    }
    if (resp.error && typeof resp.error === 'object') {
      const code = typeof resp.error.code === 'number' ? resp.error.code : 500;
      this.fail(out, mapGeminiError(code, data, {}));
      return;
    }
    if (!this.keyed) {
      this.keyed = true;
      this.key = responseKey(resp.responseId);
    }
    const usage = usageFromMetadata(resp.usageMetadata);
    if (usage) this.usage = usage;
    const candidates = resp.candidates;
    if (candidates !== undefined && !Array.isArray(candidates)) {
      this.fail(out, malformedUpstream(PROVIDER_NAME, '"candidates" is not a list'));
      return;
    }
    if ((!candidates || candidates.length === 0) && resp.promptFeedback?.blockReason) {
      this.open(0, out);
      this.finish(0, 'content_filter', out);
      return;
    }
    for (let i = 0; i < (candidates?.length ?? 0); i++) this.onCandidate(candidates![i], i, out);
  }

  private open(index: number, out: StreamPiece[]): ChoiceState {
    let state = this.choices[index];
    if (!state) {
      state = { toolCalls: 0, finished: false };
      this.choices[index] = state;
      out.push({ events: [{ type: 'start', choice: index, id: `chatcmpl-${this.key}` }], content: false });
    }
    return state;
  }

  private finish(index: number, reason: FinishReason, out: StreamPiece[]): void {
    const state = this.choices[index];
    if (state.finished) return;
    state.finished = true;
    out.push({ events: [{ type: 'finish', choice: index, reason }], finishReason: reason });
  }

  private onCandidate(candidate: GeminiCandidate, position: number, out: StreamPiece[]): void {
    if (candidate === null || typeof candidate !== 'object') {
      this.fail(out, malformedUpstream(PROVIDER_NAME, 'a candidate is not an object'));
      return;
    }
    const index = typeof candidate.index === 'number' ? candidate.index : position;
    const state = this.open(index, out);
    const parts = candidate.content?.parts ?? [];
    const logprobs = candidate.logprobsResult ? (translateLogprobs(candidate.logprobsResult) ?? null) : null;
    for (const part of Array.isArray(parts) ? parts : []) {
      if (part.thought) {
        if (typeof part.text === 'string' && part.text !== '') out.push({ events: [{ type: 'reasoning', choice: index, text: part.text }], content: true, text: part.text });
        continue;
      }
      if (typeof part.text === 'string' && part.text !== '') {
        out.push({ events: [{ type: 'text', choice: index, text: part.text, logprobs }], content: true, text: part.text });
      } else if (part.functionCall && typeof part.functionCall.name === 'string') {
        const call = toolCallFromPart(part, this.key, this.callsInResponse++);
        const toolIndex = state.toolCalls++;
        out.push({
          events: [
            { type: 'tool_start', choice: index, index: toolIndex, id: call.id, name: call.function.name },
            { type: 'tool_args', choice: index, index: toolIndex, args: call.function.arguments },
          ],
          content: true,
          text: call.function.arguments,
        });
      }
    }
    if (candidate.finishReason) this.finish(index, mapFinishReason(candidate.finishReason, state.toolCalls > 0), out);
  }
}

function earlyEnd(detail: string): GatewayError {
  return new GatewayError('provider_error', `The provider (gemini) stream ended early, ${detail}.`, { retryable: true });
}

export function createGeminiStreamTranslator(_ctx: AdapterContext): StreamTranslator {
  return new GeminiStreamTranslator();
}
