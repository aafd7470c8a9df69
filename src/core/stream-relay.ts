// Streaming: open the upstream stream and hold it until the first content arrives
// (first-token commit, so early failures can still be retried), then relay it as it comes:
// native frames as they are, typed events through the surface's encoder. No timers. The
// request is settled (billed) before the closing frames are written.
import type { AnswerTotals, StreamEncoder } from '../surfaces/types.js';
import type { AdapterContext, StreamPiece, StreamTranslator, UpstreamRequest } from '../providers/types.js';
import type { ChannelRuntime } from '../routing/channels.js';
import type { Slot } from '../routing/in-flight.js';
import { readBody, type UpstreamResponse } from '../routing/transport.js';
import { type TokenUsage, tokenUsageOf } from './canonical.js';
import { frameWithCost } from './answer-cost.js';
import { GatewayError, toGatewayError } from './errors.js';
import { approximateTextTokens, countTextTokens } from './tokens.js';
import type { Usage } from './types.js';
import type { RequestSignal } from './request-signal.js';

export interface StreamStart {
  res: UpstreamResponse;
  iterator: AsyncIterator<Uint8Array>;
  translator: StreamTranslator;
  /** pieces read before commit, in order */
  buffered: StreamPiece[];
  /** the provider's in-flight slot, released when the relay ends */
  slot?: Slot;
}

const MAX_ERROR_BODY = 1024 * 1024;

/** Reads until the first content piece (or a clean end). Any failure before that throws, so the attempt loop can retry. */
export async function openStream(
  channel: ChannelRuntime,
  actx: AdapterContext,
  up: UpstreamRequest,
  signal: RequestSignal,
  makeTranslator: (ctx: AdapterContext) => StreamTranslator,
): Promise<StreamStart> {
  const res = await channel.transport.send(up, signal);
  if (res.status < 200 || res.status >= 300) {
    const text = await readBody(res, MAX_ERROR_BODY, channel.provider.id);
    throw channel.adapter.mapError(res.status, text, res.headers);
  }
  const translator = makeTranslator(actx);
  const iterator = res.body[Symbol.asyncIterator]();
  const buffered: StreamPiece[] = [];
  try {
    for (;;) {
      const step = await iterator.next();
      const pieces = step.done ? translator.end() : translator.push(step.value);
      let committed = step.done === true;
      for (const p of pieces) {
        // Failing before the first token: the channel did not deliver, so another attempt may.
        if (p.error) throw p.error.retryable && p.error.blame ? p.error : new GatewayError(p.error.code, p.error.message, { retryable: true, status: p.error.status, blame: p.error.blame ?? 'channel', upstreamStatus: p.error.upstreamStatus });
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

/** How a stream ended, for settlement. */
export interface StreamEnd {
  status: number;
  errorCode: string | null;
  usage: TokenUsage;
  estimated: boolean;
}

export interface RelayOptions {
  encoder: StreamEncoder;
  /** relay native frames that carry only usage */
  relayUsageFrames: boolean;
  signal: RequestSignal;
  /** Tollgate's own count of the prompt, used only when the upstream reported no usage. */
  countPrompt: () => number;
  /** The prompt's cheap approximation (no tokenizer), for checkpoints. */
  approximatePrompt: () => number;
  /** Settles the request (queues its usage row and charge) and returns the cost in micro-USD. */
  finish(s: StreamEnd): number;
  /** Records what was delivered so far, durable locally, in case the process dies before finish. */
  checkpoint?(s: StreamEnd): void;
  onBrokenAfterCommit(): void;
}

function totalsOf(usage: Usage | undefined, text: string, o: RelayOptions): { usage: TokenUsage; estimated: boolean } {
  if (usage) return { usage: tokenUsageOf(usage), estimated: false };
  return { usage: { prompt: o.countPrompt(), completion: countTextTokens(text), cacheRead: 0, cacheWrite: 0, reasoning: 0 }, estimated: true };
}

/** Content pieces between two checkpoints of an open stream (a spool line each). */
const CHECKPOINT_EVERY = 64;

export async function* relayStream(start: StreamStart, o: RelayOptions): AsyncGenerator<string> {
  let usage: Usage | undefined;
  let text = '';
  // Tokens of text[0, counted) are known: each checkpoint counts only what arrived since the last.
  let counted = 0;
  let countedTokens = 0;
  let sinceCheckpoint = CHECKPOINT_EVERY;
  // A checkpoint is written once the event loop has handled the I/O at hand (setImmediate): a
  // stream whose rest has already arrived, as a short answer's usually has, ends and writes its
  // final row first, and needs no checkpoint at all.
  let scheduled: NodeJS.Immediate | undefined;
  const checkpointSoon = () => {
    sinceCheckpoint = 0;
    if (!o.checkpoint || scheduled) return;
    scheduled = setImmediate(() => {
      scheduled = undefined;
      checkpoint();
    });
  };
  /** The final row supersedes any checkpoint not yet written. */
  const cancelCheckpoint = () => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
  };
  const checkpoint = () => {
    if (!o.checkpoint) return;
    if (usage) {
      o.checkpoint({ status: 200, errorCode: 'interrupted', usage: tokenUsageOf(usage), estimated: false });
      return;
    }
    // Approximated, not tokenised: a checkpoint is billed only if the process dies mid-stream,
    // and the tokenizer (tens of MB, and milliseconds for an agent's long prompt) would otherwise
    // run on the event loop for every stream whose upstream reports usage at the end anyway.
    countedTokens += approximateTextTokens(text.slice(counted));
    counted = text.length;
    o.checkpoint({ status: 200, errorCode: 'interrupted', usage: { prompt: o.approximatePrompt(), completion: countedTokens, cacheRead: 0, cacheWrite: 0, reasoning: 0 }, estimated: true });
  };
  let done = false;
  let failure: GatewayError | undefined;
  let pieces: StreamPiece[] = start.buffered;
  let ended = false;
  let settled = false;
  // The upstream's closing usage frame (native lane) waits, with what follows it, for the
  // settlement: it goes out with the request's cost in its usage object.
  let closing: string | undefined;
  let afterClosing = '';
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
        if (p.content) sinceCheckpoint++;
        if (p.frame !== undefined && (o.relayUsageFrames || !p.usageOnly)) {
          const frame = o.encoder.relay ? o.encoder.relay(p) : p.frame;
          if (closing !== undefined) afterClosing += frame;
          else if (p.usage && (p.usageOnly || p.finishReason || p.done)) closing = frame;
          else out += frame;
        }
        if (p.events !== undefined) {
          if (closing !== undefined) afterClosing += o.encoder.events(p.events);
          else out += o.encoder.events(p.events);
        }
        if (p.done) done = true;
      }
      if (failure) {
        if (closing !== undefined) out += closing + afterClosing;
        if (out) yield out;
        break;
      }
      if (ended) {
        if (done) {
          // Billed before the closing frames: the charge is queued before the response completes.
          const t = totalsOf(usage, text, o);
          settled = true;
          cancelCheckpoint();
          const costMicros = o.finish({ status: 200, errorCode: null, usage: t.usage, estimated: t.estimated });
          const totals: AnswerTotals = { usage: t.usage, estimated: t.estimated, costMicros };
          if (closing !== undefined) out += frameWithCost(closing, costMicros) + afterClosing;
          out += o.encoder.end(totals);
        } else if (closing !== undefined) out += closing + afterClosing;
        if (out) yield out;
        break;
      }
      // The frames go out first: the checkpoint's spool write is not on the way to the client.
      if (out) yield out;
      if (sinceCheckpoint >= CHECKPOINT_EVERY) checkpointSoon();
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
    cancelCheckpoint();
    if (!ended) start.res.discard();
    start.slot?.release();
    if (!settled) {
      const clientGone = o.signal.aborted && !(o.signal.reason instanceof GatewayError);
      if (failure && !o.signal.aborted) o.onBrokenAfterCommit();
      const t = totalsOf(usage, text, o);
      o.finish({
        status: clientGone ? 499 : failure ? failure.status : 200,
        errorCode: clientGone ? 'client_closed' : failure ? failure.code : null,
        usage: t.usage,
        estimated: t.estimated,
      });
    }
  }
  // Reached only when the consumer is still reading: report a mid-stream failure.
  if (failure) yield o.encoder.error(failure);
}
