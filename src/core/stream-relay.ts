// Streaming: open the upstream stream and hold it until the first content arrives
// (first-token commit, so early failures can still be retried), then relay frames as they
// come, with no timers and no re-serialisation, and bill what was delivered.
import type { AdapterContext, StreamPiece, StreamTranslator, UpstreamRequest } from '../providers/types.js';
import type { ChannelRuntime } from '../routing/channels.js';
import { readBody, type UpstreamResponse } from '../routing/transport.js';
import { GatewayError, toGatewayError } from './errors.js';
import { countTextTokens } from './tokens.js';
import type { Usage } from './types.js';

export interface StreamStart {
  res: UpstreamResponse;
  iterator: AsyncIterator<Uint8Array>;
  translator: StreamTranslator;
  /** pieces read before commit, in order */
  buffered: StreamPiece[];
}

const MAX_ERROR_BODY = 1024 * 1024;

/** Reads until the first content piece (or a clean end). Any failure before that throws, so the attempt loop can retry. */
export async function openStream(channel: ChannelRuntime, actx: AdapterContext, up: UpstreamRequest, signal: AbortSignal): Promise<StreamStart> {
  const res = await channel.transport.send(up, signal);
  if (res.status < 200 || res.status >= 300) {
    const text = await readBody(res, MAX_ERROR_BODY, channel.provider.id);
    throw channel.adapter.mapError(res.status, text, res.headers);
  }
  const translator = channel.adapter.streamTranslator(actx);
  const iterator = res.body[Symbol.asyncIterator]();
  const buffered: StreamPiece[] = [];
  try {
    for (;;) {
      const step = await iterator.next();
      const pieces = step.done ? translator.end() : translator.push(step.value);
      let committed = step.done === true;
      for (const p of pieces) {
        if (p.error) throw p.error.retryable ? p.error : new GatewayError(p.error.code, p.error.message, { retryable: true, status: p.error.status });
        buffered.push(p);
        if (p.content || p.finishReason || p.done) committed = true;
      }
      if (committed) return { res, iterator, translator, buffered };
    }
  } catch (err) {
    res.discard();
    throw err;
  }
}

export interface RelayOptions {
  includeUsage: boolean;
  signal: AbortSignal;
  /** Tollgate's own count of the prompt, used only when the upstream reported no usage. */
  countPrompt: () => number;
  finish(s: { status: number; errorCode: string | null; promptTokens: number; completionTokens: number; estimated: boolean }): void;
  onBrokenAfterCommit(): void;
}

export function errorFrame(err: GatewayError): string {
  return `data: ${JSON.stringify({ error: { message: err.message, type: err.type, code: err.code, param: err.param } })}\n\n`;
}

export async function* relayStream(start: StreamStart, o: RelayOptions): AsyncGenerator<string> {
  let usage: Usage | undefined;
  let text = '';
  let done = false;
  let failure: GatewayError | undefined;
  let pieces: StreamPiece[] = start.buffered;
  let ended = false;
  try {
    for (;;) {
      let out = '';
      for (let i = 0; i < pieces.length; i++) {
        const p = pieces[i];
        if (p.error) {
          failure = p.error;
          break;
        }
        if (p.usage) usage = p.usage;
        if (p.text) text += p.text;
        if (p.json !== undefined && (o.includeUsage || !p.usageOnly)) out += `data: ${p.json}\n\n`;
        if (p.done) done = true;
      }
      if (failure) {
        if (out) yield out;
        break;
      }
      if (ended) {
        if (done) out += 'data: [DONE]\n\n';
        if (out) yield out;
        break;
      }
      if (out) yield out;
      const step = await start.iterator.next();
      if (step.done) {
        ended = true;
        pieces = start.translator.end();
      } else pieces = start.translator.push(step.value);
    }
  } catch (err) {
    // An abort whose reason is a GatewayError comes from the gateway itself (shutdown): report it.
    const reason = o.signal.aborted ? o.signal.reason : undefined;
    if (!o.signal.aborted) failure = toGatewayError(err);
    else if (reason instanceof GatewayError) failure = reason;
  } finally {
    if (!ended) start.res.discard();
    const clientGone = o.signal.aborted && !(o.signal.reason instanceof GatewayError);
    if (failure && !o.signal.aborted) o.onBrokenAfterCommit();
    const estimated = usage === undefined;
    const promptTokens = usage?.prompt_tokens ?? o.countPrompt();
    const completionTokens = usage?.completion_tokens ?? countTextTokens(text);
    o.finish({
      status: clientGone ? 499 : failure ? failure.status : 200,
      errorCode: clientGone ? 'client_closed' : failure ? failure.code : null,
      promptTokens,
      completionTokens,
      estimated,
    });
  }
  // Reached only when the consumer is still reading: report a mid-stream failure.
  if (failure) yield errorFrame(failure);
}
