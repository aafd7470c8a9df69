// Streaming: open the upstream stream and hold it until the first content arrives
// (first-token commit, so early failures can still be retried), then relay it as it comes:
// native frames as they are, typed events through the surface's encoder. No timers. The
// request is settled (billed) before the closing frames are written.
import type { AnswerTotals, StreamEncoder } from '../surfaces/types.js';
import type { AdapterContext, StreamPiece, StreamTranslator, UpstreamRequest } from '../providers/types.js';
import type { ChannelRuntime } from '../routing/channels.js';
import type { Slot } from '../routing/in-flight.js';
import { type BodySink, type PushBody, pushBody, readBody, type UpstreamResponse } from '../routing/transport.js';
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

/**
 * One relayed stream's state and rules, shared by its two drivers: relayStream() pulls the
 * upstream body and yields frames (any consumer can iterate it), and RelayFrames.pushTo() has
 * the upstream push each chunk straight through to the client's writer, with no promise held
 * between chunks (what a long stream waits in is then nothing but its sockets).
 */
class RelayState {
  private usage: Usage | undefined;
  // The answer's text: what the checkpoints counted, as flat strings, then what came since. A
  // checkpoint counts only the latter; slicing one string built by += would make V8 copy all of
  // it each time (quadratic in a long answer), and keeping the counted part as flat strings
  // keeps a long stream's text compact.
  private readonly countedText: string[] = [];
  private uncounted = '';
  private countedTokens = 0;
  private sinceCheckpoint = CHECKPOINT_EVERY;
  private scheduled: NodeJS.Immediate | undefined;
  private done = false;
  failure: GatewayError | undefined;
  /** the upstream body has ended (set before its last pieces are taken) */
  ended = false;
  private settled = false;
  /** the stream is over: no frame follows but the error event */
  stopped = false;
  private closed = false;
  // The upstream's closing usage frame (native lane) waits, with what follows it, for the
  // settlement: it goes out with the request's cost in its usage object.
  private closing: string | undefined;
  private afterClosing = '';

  constructor(
    readonly start: StreamStart,
    readonly o: RelayOptions,
    /** run once when the relay ends (after settlement), however it ends */
    private readonly onClosed: (() => void) | undefined,
  ) {}

  /** The frames `pieces` make; the last pieces (ended) settle the request first. Sets `stopped` when the stream is over. */
  step(pieces: StreamPiece[]): string {
    const o = this.o;
    let out = '';
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (p.error) {
        this.failure = p.error;
        break;
      }
      if (p.usage) this.usage = p.usage;
      if (p.text) this.uncounted += p.text;
      if (p.content) this.sinceCheckpoint++;
      if (p.frame !== undefined && (o.relayUsageFrames || !p.usageOnly)) {
        const frame = o.encoder.relay ? o.encoder.relay(p) : p.frame;
        if (this.closing !== undefined) this.afterClosing += frame;
        else if (p.usage && (p.usageOnly || p.finishReason || p.done)) this.closing = frame;
        else out += frame;
      }
      if (p.events !== undefined) {
        if (this.closing !== undefined) this.afterClosing += o.encoder.events(p.events);
        else out += o.encoder.events(p.events);
      }
      if (p.done) this.done = true;
    }
    if (this.failure) {
      this.stopped = true;
      return this.closing !== undefined ? out + this.closing + this.afterClosing : out;
    }
    if (!this.ended) return out;
    this.stopped = true;
    if (this.done) {
      // Billed before the closing frames: the charge is queued before the response completes.
      const t = this.totals();
      this.settled = true;
      this.cancelCheckpoint();
      const costMicros = o.finish({ status: 200, errorCode: null, usage: t.usage, estimated: t.estimated });
      const totals: AnswerTotals = { usage: t.usage, estimated: t.estimated, costMicros };
      if (this.closing !== undefined) out += frameWithCost(this.closing, costMicros) + this.afterClosing;
      return out + o.encoder.end(totals);
    }
    return this.closing !== undefined ? out + this.closing + this.afterClosing : out;
  }

  /** After the frames went out (the checkpoint's spool write is not on the way to the client). */
  wrote(): void {
    if (this.sinceCheckpoint < CHECKPOINT_EVERY) return;
    // A checkpoint is written once the event loop has handled the I/O at hand (setImmediate): a
    // stream whose rest has already arrived, as a short answer's usually has, ends and writes its
    // final row first, and needs no checkpoint at all.
    this.sinceCheckpoint = 0;
    if (!this.o.checkpoint || this.scheduled) return;
    this.scheduled = setImmediate(this.checkpoint);
  }

  /** The final row supersedes any checkpoint not yet written. */
  private cancelCheckpoint(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  private readonly checkpoint = (): void => {
    this.scheduled = undefined;
    const o = this.o;
    if (!o.checkpoint) return;
    if (this.usage) {
      o.checkpoint({ status: 200, errorCode: 'interrupted', usage: tokenUsageOf(this.usage), estimated: false });
      return;
    }
    // Approximated, not tokenised: a checkpoint is billed only if the process dies mid-stream,
    // and the tokenizer (tens of MB, and milliseconds for an agent's long prompt) would otherwise
    // run on the event loop for every stream whose upstream reports usage at the end anyway.
    const fresh = this.uncounted;
    // Reading its bytes flattens it: what is kept is one string per checkpoint.
    this.countedTokens += approximateTextTokens(fresh);
    this.countedText.push(fresh);
    this.uncounted = '';
    o.checkpoint({ status: 200, errorCode: 'interrupted', usage: { prompt: o.approximatePrompt(), completion: this.countedTokens, cacheRead: 0, cacheWrite: 0, reasoning: 0 }, estimated: true });
  };

  private totals(): { usage: TokenUsage; estimated: boolean } {
    const text = this.usage || this.countedText.length === 0 ? this.uncounted : this.countedText.join('') + this.uncounted;
    return totalsOf(this.usage, text, this.o);
  }

  /** Reading the upstream or relaying failed with `err`. */
  caught(err: unknown): void {
    const o = this.o;
    // An abort whose reason is a GatewayError comes from the gateway itself (shutdown): report it.
    const reason = o.signal.aborted ? o.signal.reason : undefined;
    if (!o.signal.aborted) this.failure = toGatewayError(err);
    else if (reason instanceof GatewayError) this.failure = reason;
  }

  /** The relay ends, however it ends: the upstream is let go and the request settled if it was not. Once only. */
  close(): void {
    this.stopped = true;
    if (this.closed) return;
    this.closed = true;
    this.cancelCheckpoint();
    if (!this.ended) this.start.res.discard();
    this.start.slot?.release();
    try {
      if (!this.settled) this.settle();
    } finally {
      this.onClosed?.();
    }
  }

  /** Settles a stream that did not end with its last frames: failed, cut, or left by its client. */
  private settle(): void {
    const o = this.o;
    const clientGone = o.signal.aborted && !(o.signal.reason instanceof GatewayError);
    const failure = this.failure;
    if (failure && !o.signal.aborted) o.onBrokenAfterCommit();
    const t = this.totals();
    o.finish({
      status: clientGone ? 499 : failure ? failure.status : 200,
      errorCode: clientGone ? 'client_closed' : failure ? failure.code : null,
      usage: t.usage,
      estimated: t.estimated,
    });
  }
}

/** Relays a committed stream by pulling the upstream body: frames as they come, for any consumer. */
export async function* relayStream(start: StreamStart, o: RelayOptions, onClosed?: () => void): AsyncGenerator<string> {
  const r = new RelayState(start, o, onClosed);
  let pieces = start.buffered;
  try {
    for (;;) {
      const out = r.step(pieces);
      if (out) yield out;
      if (r.stopped) break;
      r.wrote();
      const step = await start.iterator.next();
      if (step.done) {
        r.ended = true;
        pieces = start.translator.end();
      } else pieces = start.translator.push(step.value);
    }
  } catch (err) {
    r.caught(err);
  } finally {
    r.close();
  }
  // Reached only when the consumer is still reading: report a mid-stream failure.
  if (r.failure) yield o.encoder.error(r.failure);
}

/** Where a pushed stream's frames go (the client's SSE writer). */
export interface FrameSink {
  /** Writes a frame; false when the client is not keeping up (then the upstream pauses until resume()). */
  write(frame: string): boolean;
  /** The stream is over: no frame follows. */
  end(): void;
}

/** A pushed stream, as its writer drives it. */
export interface PushedStream {
  /** The client caught up: the upstream may send again. */
  resume(): void;
  /** The client is gone or the writer stopped: the upstream call ends and the request is settled. */
  cancel(): void;
}

/**
 * One committed stream's frames: an async iterable (relayStream) for any consumer, and, where
 * the upstream body can push (pushBody), pushTo() for the client's writer itself: each upstream
 * chunk goes through the translator and the encoder into the socket in the callback that
 * brought it.
 */
export class RelayFrames implements AsyncIterable<string> {
  /** One relay per stream: iterated or pushed, once. */
  private taken = false;
  private onClosed: (() => void) | undefined;

  constructor(
    private readonly start: StreamStart,
    private readonly o: RelayOptions,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<string> {
    this.take();
    return relayStream(this.start, this.o, this.onClosed);
  }

  /**
   * Runs `fn` once when the relay ends, after its settlement, however it ends (a concurrency
   * slot's release): the frames keep their push path instead of being wrapped. One per stream.
   */
  finally(fn: () => void): void {
    if (this.onClosed || this.taken) throw new Error('a stream takes one closing hook, before it is relayed');
    this.onClosed = fn;
  }

  /** Pushes the frames into `sink`; undefined (nothing started) when the upstream body cannot push. */
  pushTo(sink: FrameSink): PushedStream | undefined {
    const body = pushBody(this.start.iterator);
    if (!body) return undefined;
    this.take();
    const relay = new PushRelay(new RelayState(this.start, this.o, this.onClosed), body, sink);
    relay.begin();
    return relay;
  }

  private take(): void {
    if (this.taken) throw new Error('a stream is relayed once');
    this.taken = true;
  }
}

/** The driver of a pushed stream: the upstream body's sink, and the writer's handle. */
class PushRelay implements BodySink, PushedStream {
  private finished = false;

  constructor(
    private readonly r: RelayState,
    private readonly body: PushBody,
    private readonly sink: FrameSink,
  ) {}

  begin(): void {
    this.feed(this.r.start.buffered);
    if (!this.r.stopped) this.body.subscribe(this);
  }

  data(chunk: Uint8Array): void {
    if (this.r.stopped) return;
    let pieces: StreamPiece[];
    try {
      pieces = this.r.start.translator.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.feed(pieces);
  }

  end(): void {
    if (this.r.stopped) return;
    this.r.ended = true;
    let pieces: StreamPiece[];
    try {
      pieces = this.r.start.translator.end();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.feed(pieces);
  }

  error(err: unknown): void {
    if (this.r.stopped) return;
    this.fail(err);
  }

  resume(): void {
    if (!this.r.stopped) this.body.resume();
  }

  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.r.close();
    this.sink.end();
  }

  private feed(pieces: StreamPiece[]): void {
    const r = this.r;
    let ok = true;
    try {
      const out = r.step(pieces);
      if (out) ok = this.sink.write(out);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (r.stopped) {
      this.finish();
      return;
    }
    r.wrote();
    if (!ok) this.body.pause();
  }

  private fail(err: unknown): void {
    this.r.caught(err);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const r = this.r;
    r.close();
    // The client is still there (cancel() was not called): report a mid-stream failure.
    if (r.failure) this.sink.write(r.o.encoder.error(r.failure));
    this.sink.end();
  }
}
