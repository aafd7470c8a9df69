// The per-request objects the engine hands to the attempt executor and the stream relay for a
// chat-shaped request: its attempt hooks (ChatAttempts) and its relay options (ChatRelay), one
// object each with the callbacks on the prototype instead of a closure per callback.
import type { ChannelRuntime, ModelRuntime } from '../routing/channels.js';
import type { AttemptHooks } from '../routing/attempt-executor.js';
import type { Slot } from '../routing/in-flight.js';
import type { ParsedRequest, StreamEncoder, Surface } from '../surfaces/types.js';
import type { RequestContext } from './context.js';
import type { Engine, JsonAnswer, Settlement } from './engine.js';
import type { GatewayError } from './errors.js';
import type { RequestSignal } from './request-signal.js';
import type { RelayOptions, StreamEnd, StreamStart } from './stream-relay.js';
import { approximatePromptTokens, countPromptTokens } from './tokens.js';
import type { ChatRequest } from './types.js';

/** A request on its way through the engine: the surface it came in on and what that surface parsed. */
export interface Served {
  surface: Surface;
  parsed: ParsedRequest;
}

/**
 * The relay's view of one chat stream (RelayOptions): one object whose callbacks are on the
 * prototype, instead of a closure per callback per stream.
 */
export class ChatRelay implements RelayOptions {
  // Counted at most once a stream: its checkpoints ask for it again and again.
  private promptTokens: number | undefined;
  private promptApproximation: number | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly ctx: RequestContext,
    private readonly canonical: ChatRequest,
    private readonly served: { model: ModelRuntime; channel: ChannelRuntime },
    readonly encoder: StreamEncoder,
    readonly relayUsageFrames: boolean,
    readonly signal: RequestSignal,
  ) {}

  countPrompt(): number {
    this.promptTokens ??= countPromptTokens(this.canonical.messages, this.canonical.tools ?? this.canonical.functions);
    return this.promptTokens;
  }

  approximatePrompt(): number {
    this.promptApproximation ??= approximatePromptTokens(this.canonical.messages, this.canonical.tools ?? this.canonical.functions);
    return this.promptApproximation;
  }

  finish(s: StreamEnd): number {
    if (s.status === 200) this.ctx.streamCompleted = true;
    return this.engine.settle(this.ctx, this.settlement(s));
  }

  checkpoint(s: StreamEnd): void {
    this.engine.checkpointStream(this.ctx, this.settlement(s));
  }

  private settlement(s: StreamEnd): Settlement {
    return { status: s.status, errorCode: s.errorCode, servedModel: this.served.model, channel: this.served.channel, usage: s.usage, estimated: s.estimated, stream: true };
  }

  onBrokenAfterCommit(): void {
    this.served.channel.breaker.record(false, 0);
  }
}

/** What one attempt of a chat request gives: a whole answer, or a stream opened up to its first content. */
export type ChatAnswer = JsonAnswer | { kind: 'stream'; start: StreamStart; native: boolean };

/**
 * The attempt hooks of one chat request: one object whose callbacks are on the prototype,
 * instead of a closure per hook per request.
 */
export class ChatAttempts implements AttemptHooks<ChatAnswer> {
  readonly onAttemptEnd: AttemptHooks<unknown>['onAttemptEnd'];
  /** Only channels with a native lane, when the request needs one. */
  readonly eligible: ((channel: ChannelRuntime) => boolean) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly ctx: RequestContext,
    private readonly served: Served,
  ) {
    this.onAttemptEnd = engine.traceAttempt(ctx);
    this.eligible = served.parsed.requiresNative ? (channel) => engine.nativeLane(channel, served) !== undefined : undefined;
  }

  beforeAttempt(model: ModelRuntime): void | Promise<void> {
    return this.engine.ensureReservation(this.ctx, model, this.served.parsed.facts);
  }

  run(channel: ChannelRuntime, model: ModelRuntime, signal: RequestSignal, slot: Slot): Promise<ChatAnswer> {
    return this.engine.chatAttempt(this.ctx, this.served, channel, model, signal, slot);
  }

  onAttemptOk(channel: ChannelRuntime, model: ModelRuntime): void {
    this.engine.chatAttemptOk(channel, model);
  }

  onAttemptError(channel: ChannelRuntime, err: GatewayError): void {
    this.engine.chatAttemptFailed(this.ctx, channel, err);
  }
}
