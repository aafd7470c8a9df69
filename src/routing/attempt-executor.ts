// The attempt executor: models in fallback order, channels by priority/weight, retries with
// exponential backoff and jitter, an attempt cap and a retry budget (SPEC §5). It alone
// records circuit-breaker outcomes: success when an attempt's run resolves, failure only
// when the error is the channel's (see GatewayError.blame), never for a request's own outcome.
// Each attempt holds a slot of its provider's in-flight cap (routing/in-flight.ts) from before
// it is sent until it ends; a stream's slot is handed to the relay and freed when the stream ends.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { GatewayError, toGatewayError } from '../core/errors.js';
import type { ChannelRuntime, ChannelTable, ModelRuntime } from './channels.js';
import type { Slot } from './in-flight.js';
import type { RequestSignal } from '../core/request-signal.js';

/** Retries may use at most `ratio` of the requests seen recently (a leaky token bucket). */
export class RetryBudget {
  private tokens: number;
  constructor(
    private readonly ratio: number,
    private readonly cap = 50,
  ) {
    this.tokens = Math.min(10, cap);
  }
  onRequest(): void {
    this.tokens = Math.min(this.cap, this.tokens + this.ratio);
  }
  tryWithdraw(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface AttemptHooks<T> {
  /** Before each attempt: e.g. make sure the reservation covers this model. Throws to stop. */
  beforeAttempt(model: ModelRuntime): Promise<void> | void;
  /**
   * Sends and reads one attempt; resolving means the channel delivered (a success for its breaker).
   * The slot is released when run settles, unless run sets `slot.handedOver` (a stream whose
   * relay goes on after the attempt) and releases it itself.
   */
  run(channel: ChannelRuntime, model: ModelRuntime, signal: RequestSignal, slot: Slot): Promise<T>;
  onAttemptOk?(channel: ChannelRuntime, model: ModelRuntime): void;
  onAttemptError?(channel: ChannelRuntime, err: GatewayError): void;
  /** Every attempt that reached the upstream, when it ended (tracing): served, or the error. */
  onAttemptEnd?(channel: ChannelRuntime, model: ModelRuntime, startedMs: number, endedMs: number, err?: GatewayError): void;
  /** When set, only channels it accepts are tried (the request needs something only they offer). */
  eligible?(channel: ChannelRuntime): boolean;
}

export interface AttemptOutcome<T> {
  value: T;
  model: ModelRuntime;
  channel: ChannelRuntime;
  attempts: number;
}

export class AttemptsExhausted extends Error {
  constructor(
    readonly error: GatewayError,
    readonly attempts: number,
  ) {
    super(error.message);
  }
}

export function backoffMs(attempt: number, cfg: Config['routing'], retryAfterS: number | undefined, random: () => number): number {
  const exp = Math.min(cfg.retry_max_ms, cfg.retry_base_ms * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  if (retryAfterS !== undefined) return Math.min(cfg.retry_max_ms, Math.max(jittered, retryAfterS * 1000));
  return jittered;
}

/** Adds the model's untried channels on a full provider to `tried`; returns how many it added. */
function skipFull(model: ModelRuntime, full: ReadonlySet<string>, tried: Set<string>): number {
  let added = 0;
  for (const c of model.channels) {
    if (full.has(c.provider.id) && !tried.has(c.id)) {
      tried.add(c.id);
      added++;
    }
  }
  return added;
}

export async function runAttempts<T>(
  table: ChannelTable,
  candidates: ModelRuntime[],
  cfg: Config['routing'],
  budget: RetryBudget,
  signal: RequestSignal,
  hooks: AttemptHooks<T>,
  random: () => number = Math.random,
): Promise<AttemptOutcome<T>> {
  let attempts = 0;
  let lastError: GatewayError | undefined;
  // Every failed attempt a 429 from the upstream: the answer is a 429 too, with the shortest wait asked for.
  let failed = 0;
  let rateLimited = 0;
  let retryAfterS: number | undefined;
  // Providers found at their in-flight cap (after the wait) during this request; made when one is.
  let full: Set<string> | undefined;
  budget.onRequest();
  for (let ci = 0; ci < candidates.length; ci++) {
    const model = candidates[ci];
    // Each channel once, then the same one again, before moving on to a fallback model (SPEC §5).
    const modelCap = ci < candidates.length - 1 ? attempts + model.channels.length + 1 : cfg.max_attempts;
    if (model.config.maintenance) {
      lastError ??= new GatewayError('model_unavailable', `The model "${model.config.id}" is in maintenance. Try again later or use another model.`);
      continue;
    }
    const tried = new Set<string>();
    // Channels on a full provider join `tried` unattempted: picked last, and no cause for a backoff.
    let skipped = full === undefined ? 0 : skipFull(model, full, tried);
    while (attempts < cfg.max_attempts && attempts < modelCap) {
      const channel = table.pick(model, tried, Date.now(), hooks.eligible);
      if (!channel || full?.has(channel.provider.id)) break;
      // Retrying this model spends the retry budget and backs off; moving on to a fallback model does neither.
      if (tried.size > skipped) {
        // Out of retry budget: no more retries of this model, but fallbacks may still serve.
        if (!budget.tryWithdraw()) break;
        const wait = backoffMs(attempts, cfg, lastError?.retryAfterS, random);
        if (wait > 0) await sleep(wait, undefined, { signal: signal as AbortSignal }); // Node reads only aborted, reason and the listeners
      }
      const before = hooks.beforeAttempt(model);
      if (before) await before;
      // Claims the half-open probe slot when the breaker is recovering.
      if (!channel.breaker.allow()) {
        tried.add(channel.id);
        continue;
      }
      tried.add(channel.id);
      // A slot of the provider's in-flight cap: at once, or after a bounded wait, else 503 overloaded.
      let slot: Slot;
      try {
        slot = channel.gate.tryAcquire() ?? (await channel.gate.acquire(signal));
      } catch (err) {
        channel.breaker.releaseProbe();
        if (signal.aborted) throw err;
        // Full is not broken: the breaker is untouched, and the provider is not waited on again for this request.
        lastError = toGatewayError(err);
        tried.delete(channel.id);
        (full ??= new Set()).add(channel.provider.id);
        skipped += skipFull(model, full, tried);
        continue;
      }
      attempts++;
      const started = Date.now();
      try {
        const value = await hooks.run(channel, model, signal, slot);
        channel.breaker.record(true, Date.now() - started);
        hooks.onAttemptOk?.(channel, model);
        hooks.onAttemptEnd?.(channel, model, started, Date.now());
        return { value, model, channel, attempts };
      } catch (err) {
        if (signal.aborted) {
          channel.breaker.releaseProbe();
          throw err;
        }
        const gerr = toGatewayError(err);
        hooks.onAttemptEnd?.(channel, model, started, Date.now(), gerr);
        if (gerr.blame === 'credentials') {
          // The operator's key for this provider is refused: no use retrying it, here or for anyone.
          channel.breaker.forceOpen();
        } else if (gerr.blame === 'channel') channel.breaker.record(false, Date.now() - started);
        else channel.breaker.releaseProbe();
        if (!gerr.retryable) throw new AttemptsExhausted(gerr, attempts);
        hooks.onAttemptError?.(channel, gerr);
        lastError = gerr;
        failed++;
        if (gerr.upstreamStatus === 429) {
          rateLimited++;
          if (gerr.retryAfterS !== undefined) retryAfterS = retryAfterS === undefined ? gerr.retryAfterS : Math.min(retryAfterS, gerr.retryAfterS);
        }
      } finally {
        if (!slot.handedOver) slot.release();
      }
    }
    if (attempts >= cfg.max_attempts) break;
  }
  if (failed > 0 && rateLimited === failed) {
    throw new AttemptsExhausted(
      new GatewayError(
        'upstream_rate_limited',
        `Every upstream that could serve "${candidates[0]?.config.id}" is rate limiting the gateway right now (HTTP 429). Retry after the time in Retry-After; nothing was charged.`,
        { retryAfterS: retryAfterS ?? 1, upstreamStatus: 429 },
      ),
      attempts,
    );
  }
  throw new AttemptsExhausted(
    lastError ?? new GatewayError('model_unavailable', `No healthy upstream is available for "${candidates[0]?.config.id}" or its fallbacks. Retry shortly.`),
    attempts,
  );
}
