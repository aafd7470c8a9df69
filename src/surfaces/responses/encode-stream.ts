// Typed stream events (translated lane) → Responses server-sent events, numbered by
// `sequence_number`. Output items open and close in order: reasoning, message, tool calls.
import type { StreamEvent } from '../../core/canonical.js';
import type { GatewayError } from '../../core/errors.js';
import type { FinishReason } from '../../core/types.js';
import type { StreamPiece } from '../../providers/types.js';
import type { AnswerInfo, AnswerTotals, StreamEncoder } from '../types.js';
import { customInput, reasoningItem } from './encode-response.js';
import { newItemId, sealReasoning } from './items.js';
import { clientOutput, finalResponse, responseSkeleton } from './response-object.js';
import type { CustomToolCallItem, FunctionCallItem, Json, MessageItem, OutputItem, ReasoningItem, ResponseObject, ResponseRequestInfo } from './types.js';

type Open =
  | { kind: 'reasoning'; item: ReasoningItem; at: number; text: string; part: boolean; signature?: string; redacted?: string[] }
  | { kind: 'message'; item: MessageItem; at: number; text?: { index: number; text: string }; refusal?: { index: number; text: string } }
  | { kind: 'tool'; item: FunctionCallItem | CustomToolCallItem; at: number; args: string; toolIndex: number };

/** Receives the final response object (encrypted reasoning included) once the stream ended normally. */
export type StreamDone = (response: ResponseObject) => void;

export class ResponsesStreamEncoder implements StreamEncoder {
  #seq = 0;
  #started = false;
  #current: Open | undefined;
  #lastReasoning: Extract<Open, { kind: 'reasoning' }> | undefined;
  readonly #tools = new Map<number, Extract<Open, { kind: 'tool' }>>();
  readonly #output: OutputItem[] = [];
  #finish: FinishReason | undefined;

  constructor(
    private readonly answer: AnswerInfo,
    private readonly info: ResponseRequestInfo,
    private readonly onDone: StreamDone,
  ) {}

  #frame(type: string, body: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.#seq++, ...body })}\n\n`;
  }

  #start(): string {
    if (this.#started) return '';
    this.#started = true;
    const skeleton = responseSkeleton(this.info, this.answer.model, this.answer.created);
    return this.#frame('response.created', { response: skeleton }) + this.#frame('response.in_progress', { response: skeleton });
  }

  #open(item: OutputItem): number {
    const at = this.#output.length;
    this.#output.push(item);
    return at;
  }

  #added(o: Open): string {
    const shown = o.item.type === 'reasoning' ? { ...o.item, summary: [] } : o.item;
    return this.#frame('response.output_item.added', { output_index: o.at, item: shown });
  }

  #close(): string {
    const o = this.#current;
    if (!o) return '';
    this.#current = undefined;
    let s = '';
    const ids = { item_id: o.item.id, output_index: o.at };
    if (o.kind === 'reasoning') {
      if (o.part) {
        const part = { type: 'summary_text', text: o.text };
        s += this.#frame('response.reasoning_summary_text.done', { ...ids, summary_index: 0, text: o.text });
        s += this.#frame('response.reasoning_summary_part.done', { ...ids, summary_index: 0, part });
        o.item.summary = [{ type: 'summary_text', text: o.text }];
      }
      this.#seal(o);
    } else if (o.kind === 'message') {
      if (o.text) {
        const part = { type: 'output_text' as const, text: o.text.text, annotations: [], logprobs: [] };
        s += this.#frame('response.output_text.done', { ...ids, content_index: o.text.index, text: o.text.text, logprobs: [] });
        s += this.#frame('response.content_part.done', { ...ids, content_index: o.text.index, part });
        o.item.content.push(part);
      }
      if (o.refusal) {
        const part = { type: 'refusal' as const, refusal: o.refusal.text };
        s += this.#frame('response.refusal.done', { ...ids, content_index: o.refusal.index, refusal: o.refusal.text });
        s += this.#frame('response.content_part.done', { ...ids, content_index: o.refusal.index, part });
        o.item.content.push(part);
      }
      o.item.status = this.#finish === 'length' ? 'incomplete' : 'completed';
    } else if (o.item.type === 'function_call') {
      o.item.arguments = o.args;
      s += this.#frame('response.function_call_arguments.done', { ...ids, name: o.item.name, arguments: o.args });
      o.item.status = 'completed';
    } else {
      // The input of a custom tool is known only once the whole JSON wrapper has arrived.
      const input = customInput(o.args);
      o.item.input = input;
      if (input.length > 0) s += this.#frame('response.custom_tool_call_input.delta', { ...ids, delta: input });
      s += this.#frame('response.custom_tool_call_input.done', { ...ids, input });
      o.item.status = 'completed';
    }
    return s + this.#frame('response.output_item.done', { output_index: o.at, item: this.#shown(o.item) });
  }

  #seal(o: Extract<Open, { kind: 'reasoning' }>): void {
    const sealed = sealReasoning({ text: o.text || undefined, signature: o.signature, redacted: o.redacted });
    if (sealed !== undefined) o.item.encrypted_content = sealed;
    o.item.status = 'completed';
  }

  #shown(item: OutputItem): OutputItem {
    return clientOutput([item], this.info.includeEncrypted)[0];
  }

  #reasoning(): { s: string; o: Extract<Open, { kind: 'reasoning' }> } {
    if (this.#current?.kind === 'reasoning') return { s: '', o: this.#current };
    let s = this.#close();
    const item = reasoningItem(undefined, undefined, undefined) as ReasoningItem;
    item.status = 'in_progress';
    const o: Extract<Open, { kind: 'reasoning' }> = { kind: 'reasoning', item, at: this.#open(item), text: '', part: false };
    this.#current = o;
    this.#lastReasoning = o;
    s += this.#added(o);
    return { s, o };
  }

  #message(): { s: string; o: Extract<Open, { kind: 'message' }> } {
    if (this.#current?.kind === 'message') return { s: '', o: this.#current };
    let s = this.#close();
    const item: MessageItem = { id: newItemId('msg'), type: 'message', role: 'assistant', status: 'in_progress', content: [] };
    const o: Extract<Open, { kind: 'message' }> = { kind: 'message', item, at: this.#open(item) };
    this.#current = o;
    s += this.#added(o);
    return { s, o };
  }

  events(evs: readonly StreamEvent[]): string {
    let s = this.#start();
    for (const ev of evs) {
      switch (ev.type) {
        case 'reasoning': {
          if (ev.choice !== 0 || ev.text.length === 0) break;
          const r = this.#reasoning();
          s += r.s;
          const ids = { item_id: r.o.item.id, output_index: r.o.at, summary_index: 0 };
          if (!r.o.part) {
            r.o.part = true;
            s += this.#frame('response.reasoning_summary_part.added', { ...ids, part: { type: 'summary_text', text: '' } });
          }
          r.o.text += ev.text;
          s += this.#frame('response.reasoning_summary_text.delta', { ...ids, delta: ev.text });
          break;
        }
        case 'reasoning_signature':
        case 'reasoning_redacted': {
          if (ev.choice !== 0) break;
          // A signature closes the reasoning it follows, even when text has begun since.
          let target = this.#current?.kind === 'reasoning' ? this.#current : this.#lastReasoning;
          if (!target) {
            const r = this.#reasoning();
            s += r.s;
            target = r.o;
          }
          if (ev.type === 'reasoning_signature') target.signature = ev.signature;
          else (target.redacted ??= []).push(ev.data);
          if (target !== this.#current) this.#seal(target);
          break;
        }
        case 'text':
        case 'refusal': {
          if (ev.choice !== 0 || ev.text.length === 0) break;
          const m = this.#message();
          s += m.s;
          const ids = { item_id: m.o.item.id, output_index: m.o.at };
          const slot = ev.type === 'text' ? 'text' : 'refusal';
          let part = m.o[slot];
          if (!part) {
            part = { index: (m.o.text ? 1 : 0) + (m.o.refusal ? 1 : 0), text: '' };
            m.o[slot] = part;
            const shape = ev.type === 'text' ? { type: 'output_text', text: '', annotations: [], logprobs: [] } : { type: 'refusal', refusal: '' };
            s += this.#frame('response.content_part.added', { ...ids, content_index: part.index, part: shape });
          }
          part.text += ev.text;
          s +=
            ev.type === 'text'
              ? this.#frame('response.output_text.delta', { ...ids, content_index: part.index, delta: ev.text, logprobs: [] })
              : this.#frame('response.refusal.delta', { ...ids, content_index: part.index, delta: ev.text });
          break;
        }
        case 'tool_start': {
          if (ev.choice !== 0) break;
          s += this.#close();
          const origin = this.info.tools.get(ev.name);
          const item: FunctionCallItem | CustomToolCallItem =
            origin?.kind === 'custom'
              ? { id: newItemId('ctc'), type: 'custom_tool_call', status: 'in_progress', call_id: ev.id, name: origin.name, input: '' }
              : {
                  id: newItemId('fc'),
                  type: 'function_call',
                  status: 'in_progress',
                  call_id: ev.id,
                  name: origin?.name ?? ev.name,
                  arguments: '',
                  ...(origin?.namespace ? { namespace: origin.namespace } : {}),
                };
          const o: Extract<Open, { kind: 'tool' }> = { kind: 'tool', item, at: this.#open(item), args: '', toolIndex: ev.index };
          this.#tools.set(ev.index, o);
          this.#current = o;
          s += this.#added(o);
          break;
        }
        case 'tool_args': {
          if (ev.choice !== 0) break;
          const o = this.#tools.get(ev.index);
          if (!o) break;
          o.args += ev.args;
          if (o !== this.#current) {
            // Arguments of a call already closed: keep them for the final object.
            if (o.item.type === 'function_call') o.item.arguments = o.args;
            else o.item.input = customInput(o.args);
          } else if (o.item.type === 'function_call' && ev.args.length > 0) {
            s += this.#frame('response.function_call_arguments.delta', { item_id: o.item.id, output_index: o.at, delta: ev.args });
          }
          break;
        }
        case 'finish':
          if (ev.choice === 0) this.#finish = ev.reason;
          break;
        default:
          break;
      }
    }
    return s;
  }

  end(totals: AnswerTotals): string {
    let s = this.#start() + this.#close();
    const full = finalResponse(this.info, this.answer.model, this.answer.created, this.#output, this.#finish, totals);
    this.onDone(full);
    const shown = { ...full, output: clientOutput(full.output, this.info.includeEncrypted) };
    s += this.#frame(full.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: shown });
    return s;
  }

  error(err: GatewayError): string {
    let s = this.#start();
    s += this.#frame('error', { code: err.code, message: err.message, param: err.param });
    const failed = responseSkeleton(this.info, this.answer.model, this.answer.created, 'failed');
    failed.error = { code: err.code, message: err.message };
    failed.output = clientOutput(this.#output, this.info.includeEncrypted);
    s += this.#frame('response.failed', { response: failed });
    return s;
  }
}

/**
 * Puts Tollgate's response id where the upstream wrote its own, by text so the rest of the bytes
 * stay as they came (item ids differ from the response id, so the first match is the response's).
 * Undefined when the upstream spelt it another way (the caller then re-serialises).
 */
export function withResponseId(text: string, theirs: string, ours: string): string | undefined {
  if (theirs === ours) return text;
  const needle = `"id":${JSON.stringify(theirs)}`;
  const at = text.indexOf(needle);
  return at === -1 ? undefined : `${text.slice(0, at)}"id":${JSON.stringify(ours)}${text.slice(at + needle.length)}`;
}

/**
 * Native lane: the upstream's own frames are relayed and already close the stream. The frames
 * carrying the response object get Tollgate's id (unless `responseId` is undefined: a
 * continuation only the upstream holds stays the upstream's); the final object goes to
 * `onDone`. An error after the start becomes `error` then `response.failed`, numbered after the
 * upstream's last event.
 */
export class NativeResponsesStreamEncoder implements StreamEncoder {
  /** upstream events relayed so far: their sequence numbers run from 0 */
  #relayed = 0;
  #last: Json | undefined;
  #final: Json | undefined;

  constructor(
    private readonly responseId: string | undefined,
    private readonly onDone: (final: Readonly<Json>, costMicros: number) => void,
  ) {}

  relay(piece: StreamPiece): string {
    this.#relayed++;
    const frame = piece.frame ?? '';
    const ev = piece.nativeEvent;
    if (ev === undefined) return frame;
    const response = ev.response as Json;
    this.#last = response;
    if (piece.done) this.#final = response;
    const theirs = response.id;
    if (this.responseId === undefined || typeof theirs !== 'string') return frame;
    const ours = this.responseId;
    return withResponseId(frame, theirs, ours) ?? `event: ${String(ev.type)}\ndata: ${JSON.stringify({ ...ev, response: { ...response, id: ours } })}\n\n`;
  }

  events(): string {
    return '';
  }

  end(totals: AnswerTotals): string {
    if (this.#final && this.responseId !== undefined) this.onDone(this.#final, totals.costMicros);
    return '';
  }

  error(err: GatewayError): string {
    let seq = this.#relayed;
    const frame = (type: string, body: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...body })}\n\n`;
    let s = frame('error', { code: err.code, message: err.message, param: err.param });
    if (this.#last) {
      const id = this.responseId ?? this.#last.id;
      s += frame('response.failed', { response: { ...this.#last, id, status: 'failed', error: { code: err.code, message: err.message } } });
    }
    return s;
  }
}
